package redisproxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hopscope/hopscope/internal/realcomp"
	"github.com/hopscope/hopscope/internal/testkit"
	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/hopscope/hopscope/sidecar/backend/backendtest"
	"github.com/redis/go-redis/v9"
)

// clusterNode is one redis-server of a test cluster.
type clusterNode struct {
	addr string
	bus  int // the cluster bus port
	id   string
	c    *redis.Client // direct, for the test's own commands
}

// startCluster starts three redis-server masters in cluster mode on
// loopback, each with its own nodes.conf in a temp dir, gives each a third
// of the slots, joins them and waits until every node sees the cluster ok
// with all three nodes.
func startCluster(t *testing.T) []*clusterNode {
	t.Helper()
	bin, err := realcomp.Lookup("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var nodes []*clusterNode
	for i := range 3 {
		dir := t.TempDir()
		port, err := realcomp.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		bus, err := realcomp.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		p, err := realcomp.Start(fmt.Sprintf("redis-cluster-%d", i), exec.Command(bin,
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
			"--cluster-enabled", "yes", "--cluster-config-file", filepath.Join(dir, "nodes.conf"),
			"--cluster-port", strconv.Itoa(bus), "--cluster-node-timeout", "5000", "--dir", dir))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(p.Stop)
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		if err := realcomp.WaitTCP("redis", addr, 10*time.Second); err != nil {
			t.Fatalf("%v: %s", err, p.Output())
		}
		c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 2})
		t.Cleanup(func() { c.Close() })
		id, err := c.ClusterMyID(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, &clusterNode{addr: addr, bus: bus, id: id, c: c})
	}
	for i, n := range nodes {
		lo, hi := i*16384/3, (i+1)*16384/3-1
		if err := n.c.ClusterAddSlotsRange(ctx, lo, hi).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range nodes[1:] {
		host, port, _ := net.SplitHostPort(n.addr)
		// The bus port is no port+10000: MEET names it.
		if err := nodes[0].c.Do(ctx, "CLUSTER", "MEET", host, port, n.bus).Err(); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, "cluster_state:ok with 3 nodes on every node", 30*time.Second, func() bool {
		for _, n := range nodes {
			info, err := n.c.ClusterInfo(ctx).Result()
			if err != nil || !strings.Contains(info, "cluster_state:ok") || !strings.Contains(info, "cluster_known_nodes:3") {
				return false
			}
			slots, err := n.c.ClusterSlots(ctx).Result()
			if err != nil || len(slots) != 3 {
				return false
			}
		}
		return true
	})
	return nodes
}

// owner returns the node serving slot.
func owner(nodes []*clusterNode, slot int) *clusterNode {
	return nodes[min(slot*3/16384, 2)]
}

// wireCounter counts the commands a client sent on the wire, by name, as
// go-redis's per-node clients send them (redirections and ASKING
// included; connection setup is not sent through hooks).
type wireCounter struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (w *wireCounter) add(cmds ...redis.Cmder) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range cmds {
		name := strings.ToUpper(c.Name())
		if name == "CLUSTER" {
			name = "CLUSTER " + strings.ToUpper(fmt.Sprint(c.Args()[1]))
		}
		w.n[name]++
	}
}

func (w *wireCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (w *wireCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { w.add(cmd); return next(ctx, cmd) }
}
func (w *wireCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { w.add(cmds...); return next(ctx, cmds) }
}

// clusterScenario runs the same commands through a cluster client: keys
// over every slot, multi-key commands per slot, a pipeline, then the
// resharding of one slot: while it migrates (ASK), and once moved
// (MOVED). It returns a transcript of the results.
func clusterScenario(t *testing.T, c *redis.ClusterClient, nodes []*clusterNode, who string, reshard func(step string)) []string {
	ctx := context.Background()
	var out []string
	add := func(what string, v any, err error) { out = append(out, fmt.Sprintf("%s: %v %v", what, v, err)) }
	k := func(s string) string { return who + ":" + s }

	// 64 hash tags: keys on many slots of all three nodes.
	for i := range 64 {
		tag := fmt.Sprintf("{t%d}", i)
		for _, f := range []string{"a", "b", "c"} {
			if err := c.Set(ctx, k(tag+f), tag+f+"-v", 0).Err(); err != nil {
				add("set "+tag+f, "", err)
			}
		}
		vs, err := c.MGet(ctx, k(tag+"a"), k(tag+"b"), k(tag+"c"), k(tag+"missing")).Result()
		add("mget "+tag, vs, err)
	}
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := range 64 {
			p.Incr(ctx, k(fmt.Sprintf("{t%d}n", i)))
		}
		return nil
	})
	var sum int64
	for _, cmd := range cmds {
		sum += cmd.(*redis.IntCmd).Val()
	}
	add("pipeline", sum, err)
	v, err := c.Get(ctx, k("{m}key")).Result()
	add("get before", v, err)
	add("set before", c.Set(ctx, k("{m}key"), "m-v", 0).Val(), nil)

	reshard("migrating")
	v, err = c.Get(ctx, k("{m}key")).Result() // on the target now: ASK
	add("get migrating", v, err)
	add("set migrating", c.Set(ctx, k("{m}new"), "n-v", 0).Val(), nil) // absent on the source: ASK
	v, err = c.Get(ctx, k("{m}new")).Result()
	add("get new migrating", v, err)

	reshard("moved")
	v, err = c.Get(ctx, k("{m}key")).Result() // the stale map says the source: MOVED
	add("get moved", v, err)
	vs, err := c.MGet(ctx, k("{m}key"), k("{m}new")).Result()
	add("mget moved", vs, err)
	return out
}

// TestClusterGoRedis: go-redis's cluster client through a cluster backend
// of the proxy, against three redis-server masters in cluster mode, gets
// the same results as directly, through a resharding that answers ASK and
// then MOVED; it dials nothing but the proxy's listeners, and every
// command it sent on the wire is a call of the proxy.
func TestClusterGoRedis(t *testing.T) {
	nodes := startCluster(t)
	ctx := context.Background()
	mslot := keySlot("{m}")
	src := owner(nodes, mslot)
	dst := nodes[0]
	if dst == src {
		dst = nodes[1]
	}
	dstHost, dstPort, _ := net.SplitHostPort(dst.addr)

	// reshard moves slot mslot from src to dst: "migrating" migrates the
	// keys of both runs with the slot MIGRATING/IMPORTING, "moved" gives
	// the slot to dst on every node. Between the runs it is reverted.
	reshard := func(step string) {
		t.Helper()
		switch step {
		case "migrating":
			must(t, dst.c.Do(ctx, "CLUSTER", "SETSLOT", mslot, "IMPORTING", src.id).Err())
			must(t, src.c.Do(ctx, "CLUSTER", "SETSLOT", mslot, "MIGRATING", dst.id).Err())
			keys, err := src.c.ClusterGetKeysInSlot(ctx, mslot, 100).Result()
			must(t, err)
			if len(keys) == 0 {
				t.Fatal("no key in the slot to migrate")
			}
			args := []any{"MIGRATE", dstHost, dstPort, "", 0, 5000, "KEYS"}
			for _, k := range keys {
				args = append(args, k)
			}
			must(t, src.c.Do(ctx, args...).Err())
		case "moved":
			for _, n := range []*clusterNode{dst, src} {
				must(t, n.c.Do(ctx, "CLUSTER", "SETSLOT", mslot, "NODE", dst.id).Err())
			}
			settle(t, nodes, mslot, dst)
		}
	}
	// revert gives the slot back to src, with its keys.
	revert := func() {
		t.Helper()
		must(t, src.c.Do(ctx, "CLUSTER", "SETSLOT", mslot, "IMPORTING", dst.id).Err())
		must(t, dst.c.Do(ctx, "CLUSTER", "SETSLOT", mslot, "MIGRATING", src.id).Err())
		keys, err := dst.c.ClusterGetKeysInSlot(ctx, mslot, 100).Result()
		must(t, err)
		if len(keys) > 0 {
			h, p, _ := net.SplitHostPort(src.addr)
			args := []any{"MIGRATE", h, p, "", 0, 5000, "KEYS"}
			for _, k := range keys {
				args = append(args, k)
			}
			must(t, dst.c.Do(ctx, args...).Err())
		}
		for _, n := range []*clusterNode{src, dst} {
			must(t, n.c.Do(ctx, "CLUSTER", "SETSLOT", mslot, "NODE", src.id).Err())
		}
		settle(t, nodes, mslot, src)
	}

	opts := func(seed string, dial func(ctx context.Context, network, addr string) (net.Conn, error)) *redis.ClusterOptions {
		return &redis.ClusterOptions{Addrs: []string{seed}, Dialer: dial, MaxRedirects: 8, MaxRetries: -1, PoolSize: 4}
	}
	if testkit.Update() {
		recordTopology(t, nodes, mslot, src, dst)
	}
	direct := redis.NewClusterClient(opts(nodes[1].addr, nil))
	defer direct.Close()
	want := clusterScenario(t, direct, nodes, "x", reshard)
	revert()
	for _, n := range nodes {
		must(t, n.c.FlushAll(ctx).Err())
	}

	r := newRig(t, nodes[1].addr)
	r.b.Config.Cluster = &backend.RedisClusterPolicy{MaxNodes: 3}
	h, err := New(r.b)
	if err != nil {
		t.Fatal(err)
	}
	p := h.(*Proxy)
	t.Cleanup(func() { p.Close() }) // after the seed listener's shutdown
	cfg := r.b.Config
	cfg.Listen = "127.0.0.1:0"
	seed := backendtest.Serve(t, backend.NewServer(cfg, h, nil))

	var mu sync.Mutex
	var dialed []string
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, addr)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	proxied := redis.NewClusterClient(opts(seed, dial))
	wire := &wireCounter{n: map[string]uint64{}}
	proxied.OnNewNode(func(c *redis.Client) { c.AddHook(wire) })
	got := clusterScenario(t, proxied, nodes, "x", reshard)
	proxied.Close()

	if !slices.Equal(got, want) {
		t.Errorf("through the proxy:\n%s\ndirectly:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Only the proxy's listeners were dialed.
	listeners := map[string]bool{seed: true}
	for _, l := range p.ClusterNodes() {
		listeners[l] = true
	}
	if len(p.ClusterNodes()) != 3 {
		t.Errorf("node listeners %v, want one per node", p.ClusterNodes())
	}
	mu.Lock()
	for _, a := range dialed {
		if !listeners[a] {
			t.Errorf("the client dialed %s, not a listener of the proxy (%v)", a, listeners)
		}
	}
	mu.Unlock()

	// Redirections were rewritten: the client was told of ASK and MOVED
	// through the proxy.
	for _, kind := range []string{rewriteSlots, rewriteAsk, rewriteMoved} {
		if v := r.value("hopscope_backend_redis_cluster_rewrites_total", map[string]string{"kind": kind}); v < 1 {
			t.Errorf("rewrites of kind %s: %v, want at least 1", kind, v)
		}
	}

	// Every command sent on the wire is a call of the proxy.
	wire.mu.Lock()
	sent := maps(wire.n)
	wire.mu.Unlock()
	ops := map[string]string{"GET": "GET", "SET": "SET", "MGET": "MGET", "INCR": "INCR", "ASKING": "ASKING", "CLUSTER SLOTS": "CLUSTER"}
	for name, op := range ops {
		if sent[name] == 0 {
			t.Errorf("the client sent no %s: the scenario does not test it (%v)", name, sent)
		}
		testkit.Eventually(t, fmt.Sprintf("%d %s calls", sent[name], op), 10*time.Second, func() bool {
			return r.observations()[op+"/ok"]+r.observations()[op+"/error"] == sent[name]
		}, func() string { return fmt.Sprintf("sent %v, observed %v", sent, r.observations()) })
	}
	var counts []string
	for _, kind := range []string{rewriteSlots, rewriteShards, rewriteNodes, rewriteAsk, rewriteMoved, rewriteUnmapped} {
		counts = append(counts, fmt.Sprintf("%s=%v", kind, r.value("hopscope_backend_redis_cluster_rewrites_total", map[string]string{"kind": kind})))
	}
	t.Logf("rewrites: %s; sent on the wire: %v; listeners: %v", strings.Join(counts, " "), sent, p.ClusterNodes())
	if r.decodeErrors() != 0 {
		t.Errorf("decode errors: %v", r.decodeErrors())
	}
}

// settle makes owner the slot's owner for good (its config epoch the
// highest, so gossip cannot give the slot back) and waits until every
// node redirects the slot to it and it serves the slot.
func settle(t *testing.T, nodes []*clusterNode, slot int, owner *clusterNode) {
	t.Helper()
	ctx := context.Background()
	must(t, owner.c.Do(ctx, "CLUSTER", "BUMPEPOCH").Err())
	moved := fmt.Sprintf("MOVED %d %s", slot, owner.addr)
	testkit.Eventually(t, "every node sends slot "+strconv.Itoa(slot)+" to "+owner.addr, 20*time.Second, func() bool {
		for _, n := range nodes {
			err := n.c.Get(ctx, "probe{m}").Err()
			if n == owner && err != redis.Nil || n != owner && (err == nil || err.Error() != moved) {
				return false
			}
		}
		return true
	})
}

func maps(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// keySlot is Redis Cluster's slot of a key (CRC16 of the hash tag).
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

// recordTopology writes the raw replies of CLUSTER SLOTS, SHARDS and NODES
// in RESP2 and RESP3, and a MOVED and an ASK error, as this redis-server
// sends them, to testdata/cluster/ (run with -update): topology_test.go
// rewrites them.
func recordTopology(t *testing.T, nodes []*clusterNode, slot int, src, dst *clusterNode) {
	t.Helper()
	ctx := context.Background()
	raw := func(addr string, cmds ...string) [][]byte {
		conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
		must(t, err)
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		var out [][]byte
		for _, c := range cmds {
			fmt.Fprintf(conn, "%s\r\n", c)
			var b bytes.Buffer
			must(t, copyValue(br, &b, 0))
			out = append(out, b.Bytes())
		}
		return out
	}
	write := func(name string, b []byte) {
		must(t, os.MkdirAll("testdata/cluster", 0o755))
		must(t, os.WriteFile(filepath.Join("testdata/cluster", name), b, 0o644))
	}
	for _, proto := range []string{"2", "3"} {
		r := raw(nodes[0].addr, "HELLO "+proto, "CLUSTER SLOTS", "CLUSTER SHARDS", "CLUSTER NODES")
		write("slots.resp"+proto, r[1])
		write("shards.resp"+proto, r[2])
		write("nodes.resp"+proto, r[3])
	}
	key := fmt.Sprintf("{m}probe-%d", slot)
	write("moved.resp2", raw(dst.addr, "GET "+key)[0])
	must(t, src.c.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", dst.id).Err())
	write("ask.resp2", raw(src.addr, "GET "+key)[0])
	must(t, src.c.Do(ctx, "CLUSTER", "SETSLOT", slot, "STABLE").Err())
}
