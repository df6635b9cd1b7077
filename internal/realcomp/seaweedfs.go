package realcomp

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/hopscope/hopscope/internal/modroot"
)

// S3Server is a running S3-compatible server.
type S3Server struct {
	// Endpoint is its http://127.0.0.1:PORT URL; address buckets in the
	// path (path style).
	Endpoint string
	// AccessKey and SecretKey are the credentials of its one identity,
	// allowed everything.
	AccessKey, SecretKey string
	// Region is the region it signs for (any works).
	Region string
}

// SeaweedBin finds SeaweedFS's weed binary: $HOPSCOPE_WEED_BIN, else
// tools/bin/weed, built with `tools/build seaweedfs` (minutes the first
// time) when missing.
func SeaweedBin(ctx context.Context) (string, error) {
	if p := os.Getenv("HOPSCOPE_WEED_BIN"); p != "" {
		return p, nil
	}
	root, err := modroot.FromWorkingDir()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "tools", "bin", "weed")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "tools", "build"), "seaweedfs")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building SeaweedFS with tools/build seaweedfs (set HOPSCOPE_WEED_BIN to skip): %w\n%s", err, out)
	}
	return bin, nil
}

// SeaweedS3 runs `weed server` — master, volume server, filer and S3
// gateway in one process — under dir with every port on 127.0.0.1, its
// telemetry off, its local sockets under dir (but for the gRPC sockets
// weed puts in /tmp, which stop removes), and one S3 identity (an
// s3.config identities file), and
// waits until its S3 port accepts connections. The S3 gateway may refuse
// writes for a moment more, until the volume server has joined the
// master: write with a retry.
func SeaweedS3(bin, dir string) (S3Server, func(), error) {
	srv := S3Server{AccessKey: "hopscope-test", SecretKey: "hopscope-test-secret", Region: "us-east-1"}
	ident := map[string]any{"identities": []map[string]any{{
		"name":        "hopscope",
		"credentials": []map[string]string{{"accessKey": srv.AccessKey, "secretKey": srv.SecretKey}},
		"actions":     []string{"Admin", "Read", "List", "Tagging", "Write"},
	}}}
	b, err := json.Marshal(ident)
	if err != nil {
		return S3Server{}, nil, err
	}
	s3cfg := filepath.Join(dir, "s3-identities.json")
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		return S3Server{}, nil, err
	}
	if err := os.WriteFile(s3cfg, b, 0o600); err != nil {
		return S3Server{}, nil, err
	}
	// Eight ports: each server's HTTP and gRPC port (weed's default gRPC
	// port is HTTP+10000, which may be taken).
	names := []string{"master.port", "master.port.grpc", "volume.port", "volume.port.grpc",
		"filer.port", "filer.port.grpc", "s3.port", "s3.port.grpc"}
	args := []string{"server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir=" + data,
		"-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.max=4",
		"-filer", "-s3", "-s3.port.iceberg=0", "-s3.config=" + s3cfg,
		"-filer.localSocket=" + filepath.Join(dir, "filer.sock"), "-s3.localSocket=" + filepath.Join(dir, "s3.sock")}
	ports := map[string]int{}
	for _, n := range names {
		p, err := FreePort()
		if err != nil {
			return S3Server{}, nil, err
		}
		ports[n] = p
		args = append(args, "-"+n+"="+strconv.Itoa(p))
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	log, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		return S3Server{}, nil, err
	}
	cmd.Stdout, cmd.Stderr = log, log
	p, err := Start("seaweedfs", cmd)
	if err != nil {
		log.Close()
		return S3Server{}, nil, err
	}
	stop := func() {
		// weed server takes ~25 s to end on SIGTERM (measured here); its
		// data is thrown away, so it is killed.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		p.Stop()
		log.Close()
		// weed server puts each server's local gRPC socket in /tmp,
		// whatever the flags say (weed/command/server.go), and leaves them.
		for _, n := range []string{"master", "volume", "filer", "s3"} {
			_ = os.Remove(fmt.Sprintf("/tmp/seaweedfs-%s-grpc-%d.sock", n, ports[n+".port.grpc"]))
		}
	}
	addr := "127.0.0.1:" + strconv.Itoa(ports["s3.port"])
	if err := WaitTCP("seaweedfs S3", addr, 60*time.Second); err != nil {
		stop()
		out, _ := os.ReadFile(log.Name())
		return S3Server{}, nil, fmt.Errorf("%w\n%s", err, out)
	}
	srv.Endpoint = "http://" + addr
	return srv, stop, nil
}
