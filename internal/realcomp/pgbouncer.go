package realcomp

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// PgBouncerConfig is what a throwaway PgBouncer pools and how.
type PgBouncerConfig struct {
	// Server is the PostgreSQL host:port every database is pooled to.
	Server string
	// PoolMode is pool_mode: session, transaction or statement.
	PoolMode string
	// AuthType is auth_type: trust, md5, scram-sha-256, plain…
	AuthType string
	// Users are the auth_file's users and their passwords (in clear:
	// PgBouncer hashes them as AuthType asks).
	Users map[string]string
	// PoolSize is default_pool_size (0: 2).
	PoolSize int
}

// PgBouncer runs Debian's pgbouncer under dir, on a free loopback port
// (no Unix socket), as cfg says, and returns its host:port. PgBouncer
// refuses to run as root: as root it runs as the postgres user, dir
// handed to it. Its log is in the process's output (stderr).
func PgBouncer(dir string, cfg PgBouncerConfig) (addr string, stop func(), err error) {
	bin, err := Lookup("pgbouncer")
	if err != nil {
		return "", nil, err
	}
	port, err := FreePort()
	if err != nil {
		return "", nil, err
	}
	host, serverPort, ok := strings.Cut(cfg.Server, ":")
	if !ok {
		return "", nil, fmt.Errorf("pgbouncer: server %q is not host:port", cfg.Server)
	}
	if cfg.PoolSize == 0 {
		cfg.PoolSize = 2
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	var users strings.Builder
	for u, pw := range cfg.Users {
		fmt.Fprintf(&users, "%q %q\n", u, pw)
	}
	userlist := filepath.Join(dir, "userlist.txt")
	if err := os.WriteFile(userlist, []byte(users.String()), 0o600); err != nil {
		return "", nil, fmt.Errorf("writing pgbouncer's auth_file: %w", err)
	}
	conf := filepath.Join(dir, "pgbouncer.ini")
	ini := fmt.Sprintf(`[databases]
* = host=%s port=%s

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = %s
auth_file = %s
pool_mode = %s
default_pool_size = %d
max_client_conn = 100
ignore_startup_parameters = extra_float_digits
logfile =
syslog = 0
`, host, serverPort, port, cfg.AuthType, userlist, cfg.PoolMode, cfg.PoolSize)
	if err := os.WriteFile(conf, []byte(ini), 0o600); err != nil {
		return "", nil, fmt.Errorf("writing pgbouncer.ini: %w", err)
	}
	cmd := exec.Command(bin, conf)
	if os.Geteuid() == 0 {
		if b, err := exec.Command("chown", "-R", "postgres:postgres", dir).CombinedOutput(); err != nil {
			return "", nil, fmt.Errorf("chown %s: %v: %s", dir, err, b)
		}
		if err := Traversable(filepath.Dir(dir)); err != nil {
			return "", nil, err
		}
		cmd = exec.Command("runuser", "-u", "postgres", "--", bin, conf)
	}
	p, err := Start("pgbouncer", cmd)
	if err != nil {
		return "", nil, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	if err := WaitTCP("pgbouncer", addr, 10*time.Second); err != nil {
		p.Stop()
		return "", nil, fmt.Errorf("%w: %s", err, p.Output())
	}
	return addr, p.Stop, nil
}
