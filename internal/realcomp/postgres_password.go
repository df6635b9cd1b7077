package realcomp

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
)

// PostgresPassword runs a throwaway PostgreSQL under dir whose superuser
// postgres has password and whose TCP connections authenticate with
// scram-sha-256 (the socket under dir stays trust). serverArgs are more
// options of the postgres server ("-c ssl=on", …; files they name may lie
// under dir, which is handed to the postgres user). It returns the URL
// with the password and sslmode=disable.
func PostgresPassword(dir, password string, serverArgs ...string) (dbURL string, stop func(), err error) {
	pwfile := filepath.Join(dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(password+"\n"), 0o600); err != nil {
		return "", nil, fmt.Errorf("writing the password file: %w", err)
	}
	port, stop, err := startPostgres(dir, []string{"--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwfile}, serverArgs)
	_ = os.Remove(pwfile)
	if err != nil {
		return "", nil, err
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword("postgres", password), Host: fmt.Sprintf("127.0.0.1:%d", port),
		Path: "/postgres", RawQuery: "sslmode=disable"}
	return u.String(), stop, nil
}

// PostgresHBA runs a throwaway PostgreSQL under dir that authenticates as
// hba says (pg_hba.conf lines, written to dir/pg_hba.conf and named by
// hba_file: one user with scram-sha-256, the others trust, say). initdb
// trusts everyone and the superuser postgres has no password, so hba must
// let postgres in (over TCP from 127.0.0.1) for the caller to create its
// roles. serverArgs are more server options ("-c password_encryption=…").
// It returns postgres's URL with sslmode=disable.
func PostgresHBA(dir, hba string, serverArgs ...string) (dbURL string, stop func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	hbaFile := filepath.Join(dir, "pg_hba.conf")
	if err := os.WriteFile(hbaFile, []byte(hba), 0o600); err != nil {
		return "", nil, fmt.Errorf("writing pg_hba.conf: %w", err)
	}
	port, stop, err := startPostgres(dir, []string{"--auth=trust"}, append([]string{"-c hba_file=" + hbaFile}, serverArgs...))
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), stop, nil
}
