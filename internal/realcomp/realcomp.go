// Package realcomp starts the real components hopscope is tested and
// demonstrated with — PostgreSQL, PgBouncer, Redis, nginx configured as ingress-nginx,
// HAProxy as a load balancer, Prometheus — from the Debian packages, and
// SeaweedFS (an S3-compatible server, built from tools/seaweedfs), each
// on a free loopback port in its own process group, with everything it
// writes under one directory. Every start returns a Stop that ends the
// whole process group. The e2e suite and `hopscope demo --real` use it.
package realcomp

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Lookup finds a component's binary on PATH or where Debian puts it.
func Lookup(bin string) (string, error) {
	if p, err := exec.LookPath(bin); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/usr/lib/postgresql/15/bin"} {
		p := filepath.Join(dir, bin)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s is not installed (apt-get install it; .ci/deps does)", bin)
}

// FreePort returns a loopback port nobody listens on, which no other
// FreePort call hands out while this process runs: not this process's
// (a set), nor another's (a lock file under the temp directory, held
// until the process ends). It is chosen below the kernel's ephemeral
// range, from which the kernel picks the ports of listeners bound to
// port 0 and of outgoing connections, so none of those takes it between
// now and when it is bound. The kernel alone repeats a port it handed
// out and that is not yet bound within a hundred picks, and in-process
// servers on port 0 take such ports too: TestScaleOutRecords once gave a
// replica the gateway's port, TestPeersAnswerForEachOther one replica's
// API port to another's OTLP listener.
func FreePort() (int, error) {
	freePorts.Lock()
	defer freePorts.Unlock()
	lo, hi := freePortRange()
	dir := filepath.Join(os.TempDir(), "hopscope-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	_ = os.Chmod(dir, 0o1777) // any user's tests, as /tmp
	for range 4096 {
		port := lo + rand.IntN(hi-lo)
		if _, dup := freePorts.given[port]; dup {
			continue
		}
		lock, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
		if err != nil {
			return 0, fmt.Errorf("free port: %w", err)
		}
		if syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			lock.Close() // another process's
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			lock.Close() // in use
			continue
		}
		ln.Close()
		freePorts.given[port] = struct{}{}
		freePorts.locks = append(freePorts.locks, lock)
		return port, nil
	}
	return 0, fmt.Errorf("no free loopback port in %d..%d after 4096 tries", lo, hi-1)
}

// freePortRange is the 10,000 ports just below the kernel's ephemeral
// range (ip_local_port_range; 32768 when unreadable), and below the
// NodePorts (30000–32767) of test/cluster.
func freePortRange() (lo, hi int) {
	hi = 30000
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n < hi {
				hi = n
			}
		}
	}
	return max(hi-10000, 1024), hi
}

// freePorts holds every port FreePort returned in this process, and the
// lock files that keep them from other processes.
var freePorts = struct {
	sync.Mutex
	given map[int]struct{}
	locks []*os.File
}{given: map[int]struct{}{}}

// Process is a running component.
type Process struct {
	Name string
	cmd  *exec.Cmd
	out  *Buffer
	once sync.Once
	done chan struct{}
}

// Buffer is a goroutine-safe output buffer.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Start runs cmd in its own process group. Output goes to cmd.Stdout when
// set, else to the process's buffer (Output).
func Start(name string, cmd *exec.Cmd) (*Process, error) {
	p := &Process{Name: name, cmd: cmd, out: &Buffer{}, done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout, cmd.Stderr = p.out, p.out
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Output is what the process wrote (when not redirected).
func (p *Process) Output() string { return p.out.String() }

// Stop ends the process group: SIGTERM, then SIGKILL after 10 s.
func (p *Process) Stop() {
	p.once.Do(func() {
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
}

// WaitTCP waits until addr accepts connections.
func WaitTCP(what, addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after %s: %w", what, addr, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Postgres runs a throwaway PostgreSQL under dir and returns its URL.
// initdb and pg_ctl refuse to run as root; as root they run as the
// postgres user the Debian package creates.
func Postgres(dir string) (url string, stop func(), err error) {
	port, stop, err := startPostgres(dir, []string{"--auth=trust"}, nil)
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), stop, nil
}

// startPostgres initialises a cluster under dir with initArgs (as the
// postgres user when root) and starts it on a free loopback port, its
// socket in dir, with serverArgs as more server options.
func startPostgres(dir string, initArgs, serverArgs []string) (port int, stop func(), err error) {
	initdb, err := Lookup("initdb")
	if err != nil {
		return 0, nil, err
	}
	pgctl, err := Lookup("pg_ctl")
	if err != nil {
		return 0, nil, err
	}
	if port, err = FreePort(); err != nil {
		return 0, nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, nil, err
	}
	data := filepath.Join(dir, "data")
	asOwner := func(bin string, args ...string) *exec.Cmd {
		if os.Geteuid() == 0 {
			return exec.Command("runuser", append([]string{"-u", "postgres", "--", bin}, args...)...)
		}
		return exec.Command(bin, args...)
	}
	if os.Geteuid() == 0 {
		if b, err := exec.Command("chown", "-R", "postgres:postgres", dir).CombinedOutput(); err != nil {
			return 0, nil, fmt.Errorf("chown %s: %v: %s", dir, err, b)
		}
		if err := Traversable(filepath.Dir(dir)); err != nil {
			return 0, nil, err
		}
	}
	if b, err := asOwner(initdb, append([]string{"-D", data, "-U", "postgres", "-E", "UTF8"}, initArgs...)...).CombinedOutput(); err != nil {
		return 0, nil, fmt.Errorf("initdb: %v: %s", err, b)
	}
	opts := fmt.Sprintf("-k %s -p %d -h 127.0.0.1", dir, port)
	if len(serverArgs) > 0 {
		opts += " " + strings.Join(serverArgs, " ")
	}
	args := []string{"-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "start"}
	if b, err := asOwner(pgctl, args...).CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "log"))
		return 0, nil, fmt.Errorf("pg_ctl start: %v: %s %s", err, b, log)
	}
	return port, func() { _ = asOwner(pgctl, "-D", data, "-m", "immediate", "-w", "stop").Run() }, nil
}

// Traversable lets every user pass through dir and its parents (o+x),
// so that a server running as another user (PostgreSQL as postgres) can
// reach a directory below them. It changes only directories that lack
// the bit and keeps their other bits (the sticky bit of /tmp included).
func Traversable(dir string) error {
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("making %s traversable: %w", d, err)
		}
		if fi.Mode().Perm()&0o001 != 0 {
			continue
		}
		keep := fi.Mode() & (os.ModePerm | os.ModeSticky | os.ModeSetuid | os.ModeSetgid)
		if err := os.Chmod(d, keep|0o011); err != nil {
			return fmt.Errorf("making %s traversable: %w", d, err)
		}
	}
	return nil
}

// Redis runs a throwaway Redis and returns host:port.
func Redis() (addr string, stop func(), err error) {
	bin, err := Lookup("redis-server")
	if err != nil {
		return "", nil, err
	}
	port, err := FreePort()
	if err != nil {
		return "", nil, err
	}
	p, err := Start("redis", exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"))
	if err != nil {
		return "", nil, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	if err := WaitTCP("redis", addr, 10*time.Second); err != nil {
		p.Stop()
		return "", nil, fmt.Errorf("%w: %s", err, p.Output())
	}
	return addr, p.Stop, nil
}

// IngressLogFormat is the JSON log-format-upstream of docs/ingress-nginx.md,
// with plain nginx's $request_id where ingress-nginx has $req_id.
const IngressLogFormat = `escape=json '{"msec":"$msec","time_iso8601":"$time_iso8601","request_time":"$request_time","status":"$status","request_method":"$request_method","request_uri":"$request_uri","host":"$host","proxy_upstream_name":"default-shop-80","upstream_addr":"$upstream_addr","upstream_status":"$upstream_status","upstream_connect_time":"$upstream_connect_time","upstream_header_time":"$upstream_header_time","upstream_response_time":"$upstream_response_time","req_id":"$request_id","http_x_request_id":"$http_x_request_id","http_traceparent":"$http_traceparent","http_x_amzn_trace_id":"$http_x_amzn_trace_id"}'`

// IngressProxyDirectives are what ingress-nginx sets in the location it
// proxies from: keep-alive to the upstream, X-Request-ID, X-Request-Start
// (docs/ingress-nginx.md), the forwarded headers, a retry on connection
// errors.
const IngressProxyDirectives = `proxy_http_version 1.1;
proxy_set_header Connection "";
proxy_set_header Host $host;
proxy_set_header X-Request-ID $request_id;
proxy_set_header X-Request-Start "t=${msec}";
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Forwarded-Proto $scheme;
proxy_next_upstream error timeout;`

// Indent puts prefix before every line of s.
func Indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// NginxIngress runs nginx configured as ingress-nginx would be in front of
// upstream: the JSON access log, X-Request-ID, X-Request-Start. It returns
// its address and the access log's path.
func NginxIngress(dir, upstream string) (addr, accessLog string, stop func(), err error) {
	bin, err := Lookup("nginx")
	if err != nil {
		return "", "", nil, err
	}
	port, err := FreePort()
	if err != nil {
		return "", "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", "", nil, err
	}
	accessLog = filepath.Join(dir, "access.log")
	conf := fmt.Sprintf(`daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
  client_body_temp_path %[1]s/client_body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  log_format upstreaminfo %[2]s;
  access_log %[3]s upstreaminfo;
  upstream shop { server %[4]s; keepalive 32; }
  server {
    listen 127.0.0.1:%[5]d;
    location / {
%[6]s
      proxy_pass http://shop;
    }
  }
}
`, dir, IngressLogFormat, accessLog, upstream, port, Indent(IngressProxyDirectives, "      "))
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return "", "", nil, err
	}
	if err := os.WriteFile(accessLog, nil, 0o644); err != nil {
		return "", "", nil, err
	}
	p, err := Start("nginx", exec.Command(bin, "-p", dir, "-c", confPath))
	if err != nil {
		return "", "", nil, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	if err := WaitTCP("nginx", addr, 10*time.Second); err != nil {
		p.Stop()
		return "", "", nil, fmt.Errorf("%w: %s", err, p.Output())
	}
	return addr, accessLog, p.Stop, nil
}

// HAProxyLB runs HAProxy as the load-balancer hop in front of backend: it
// adds an X-Amzn-Trace-Id Root the way an ALB does (1-<hex epoch>-<24 hex>)
// unless one is present, captures it into its HTTP log (timers
// TR/Tw/Tc/Tr/Ta), and logs to a file in UTC.
func HAProxyLB(dir, backend string) (addr, logPath string, stop func(), err error) {
	bin, err := Lookup("haproxy")
	if err != nil {
		return "", "", nil, err
	}
	port, err := FreePort()
	if err != nil {
		return "", "", nil, err
	}
	logPath = filepath.Join(dir, "haproxy.log")
	conf := HAProxyEdgeConfig(fmt.Sprintf("127.0.0.1:%d", port), backend)
	confPath := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return "", "", nil, err
	}
	f, err := os.Create(logPath)
	if err != nil {
		return "", "", nil, err
	}
	cmd := exec.Command(bin, "-db", "-f", confPath)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	cmd.Stdout, cmd.Stderr = f, f
	p, err := Start("haproxy", cmd)
	if err != nil {
		f.Close()
		return "", "", nil, err
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	stop = func() { p.Stop(); f.Close() }
	if err := WaitTCP("haproxy", addr, 10*time.Second); err != nil {
		stop()
		log, _ := os.ReadFile(logPath)
		return "", "", nil, fmt.Errorf("%w: %s", err, log)
	}
	return addr, logPath, stop, nil
}

// HAProxyEdgeConfig is HAProxy's configuration as the load-balancer hop:
// HTTP on bind to backend, an X-Amzn-Trace-Id Root added the way an ALB
// does (1-<hex epoch>-<24 hex>) unless one is present and captured into
// its HTTP log (timers TR/Tw/Tc/Tr/Ta), logged on standard output.
func HAProxyEdgeConfig(bind, backend string) string {
	return fmt.Sprintf(`global
  log stdout format raw local0
defaults
  mode http
  log global
  option httplog
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend edge
  bind %s
  http-request set-var(txn.rnd) uuid(4),regsub(-,,g)
  http-request set-header X-Amzn-Trace-Id "Root=1-%%[date,bytes(4,4),hex,lower]-%%[var(txn.rnd),bytes(0,24)]" unless { req.hdr(X-Amzn-Trace-Id) -m found }
  http-request capture req.hdr(X-Amzn-Trace-Id) len 80
  default_backend ingress
backend ingress
  server ingress %s
`, bind, backend)
}

// Prometheus runs Prometheus scraping targets every second and returns its
// base URL once it is ready.
func Prometheus(dir string, targets ...string) (base string, stop func(), err error) {
	quoted := make([]string, len(targets))
	for i, tg := range targets {
		quoted[i] = strconv.Quote(tg)
	}
	return PrometheusConfig(dir, fmt.Sprintf("scrape_configs:\n  - job_name: hopscope\n    static_configs:\n      - targets: [%s]\n", strings.Join(quoted, ", ")))
}

// PrometheusConfig starts Prometheus with
// scrapeConfigs (YAML holding a scrape_configs: list, every target on
// loopback) after a global section that scrapes and evaluates each second.
func PrometheusConfig(dir, scrapeConfigs string) (base string, stop func(), err error) {
	bin, err := Lookup("prometheus")
	if err != nil {
		return "", nil, err
	}
	port, err := FreePort()
	if err != nil {
		return "", nil, err
	}
	conf := "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n" + scrapeConfigs
	confPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		return "", nil, err
	}
	// Exemplar storage keeps the trace ids the histograms carry.
	p, err := Start("prometheus", exec.Command(bin, "--config.file="+confPath, fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--log.level=warn", "--enable-feature=exemplar-storage"))
	if err != nil {
		return "", nil, err
	}
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if res, err := httpGet(base + "/-/ready"); err == nil && res == 200 {
			return base, p.Stop, nil
		}
		if time.Now().After(deadline) {
			p.Stop()
			return "", nil, errors.New("prometheus not ready after 60s: " + p.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
