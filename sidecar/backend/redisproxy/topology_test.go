package redisproxy

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/iotest"
)

// mapper is a localFunc giving node i the port 40000+i, and remembering
// the nodes it was asked about; a full mapper (max reached) maps nothing.
type mapper struct {
	max   int
	ports map[string]int
	order []string
}

func newMapper(max int) *mapper { return &mapper{max: max, ports: map[string]int{}} }

func (m *mapper) local(host string, port int64) (int, bool) {
	t := net.JoinHostPort(host, strconv.FormatInt(port, 10))
	if p, ok := m.ports[t]; ok {
		return p, true
	}
	if len(m.ports) >= m.max {
		return 0, false
	}
	m.ports[t] = 40000 + len(m.ports)
	m.order = append(m.order, t)
	return m.ports[t], true
}

// TestRewriteRecorded rewrites the replies redis-server 7.0.15 (Debian)
// sent a three-master cluster (testdata/cluster/, recorded by
// TestClusterGoRedis -update): every node's address is replaced by its
// listener's, nothing else changes, and the result is one RESP value.
func TestRewriteRecorded(t *testing.T) {
	for _, tc := range []struct {
		file  string
		kind  string
		nodes int    // the nodes the reply names
		gone  string // how a node's original port would still show, %d its port
	}{
		{"slots.resp2", rewriteSlots, 3, ":%d\r\n"},
		{"slots.resp3", rewriteSlots, 3, ":%d\r\n"},
		{"shards.resp2", rewriteShards, 3, ":%d\r\n"},
		{"shards.resp3", rewriteShards, 3, ":%d\r\n"},
		{"nodes.resp2", rewriteNodes, 3, "127.0.0.1:%d@"},
		{"nodes.resp3", rewriteNodes, 3, "127.0.0.1:%d@"},
		{"moved.resp2", rewriteMoved, 1, "127.0.0.1:%d\r\n"},
		{"ask.resp2", rewriteAsk, 1, "127.0.0.1:%d\r\n"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in, err := os.ReadFile(filepath.Join("testdata/cluster", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			m := newMapper(64)
			var out []byte
			var kind string
			if in[0] == '-' {
				out, kind = rewriteRedirect(in, "127.0.0.1", m.local)
			} else {
				out, kind = rewriteTopology(in, "127.0.0.1", m.local)
			}
			if kind != tc.kind {
				t.Fatalf("kind %q, want %q", kind, tc.kind)
			}
			if len(m.order) != tc.nodes {
				t.Fatalf("nodes %v, want %d", m.order, tc.nodes)
			}
			if _, next, ok := parseValue(out, 0, 0); in[0] != '-' && (!ok || next != len(out)) {
				t.Fatalf("the rewritten reply is no RESP value:\n%q", out)
			}
			for _, target := range m.order {
				_, p, _ := net.SplitHostPort(target)
				port, _ := strconv.Atoi(p)
				if bytes.Contains(out, []byte(fmt.Sprintf(tc.gone, port))) {
					t.Errorf("%s is still in the reply:\n%q", target, out)
				}
				if !bytes.Contains(in, []byte(fmt.Sprintf(tc.gone, port))) {
					t.Errorf("%s is not in the recorded reply: the test checks nothing", target)
				}
				if local := fmt.Sprintf(tc.gone, m.ports[target]); !bytes.Contains(out, []byte(local)) {
					t.Errorf("%s's listener (%q) is not in the reply:\n%q", target, local, out)
				}
			}
			// A mapper that maps nothing leaves the reply as it was.
			none := newMapper(0)
			if in[0] == '-' {
				out, _ = rewriteRedirect(in, "127.0.0.1", none.local)
			} else {
				out, _ = rewriteTopology(in, "127.0.0.1", none.local)
			}
			if !bytes.Equal(out, in) {
				t.Errorf("with no listener the reply changed:\n%q\nwas\n%q", out, in)
			}
		})
	}
}

// TestRewriteLeavesOthers: what is no topology reply or redirection, or
// cannot be followed, passes unchanged.
func TestRewriteLeavesOthers(t *testing.T) {
	for _, tc := range []struct {
		name, in string
	}{
		{"error", "-ERR This instance has cluster support disabled\r\n"},
		{"moved without endpoint", "-MOVED 3999\r\n"},
		{"moved bad port", "-MOVED 3999 127.0.0.1:99999\r\n"},
		{"moved unknown endpoint", "-MOVED 3999 ?:6379\r\n"},
		{"plain string", "$5\r\nhello\r\n"},
		{"nodes line without id", "$24\r\nnot a node line at all\r\n\r\n"},
		{"integer array", "*2\r\n:1\r\n:2\r\n"},
		{"slots with a bad node", "*1\r\n*3\r\n:0\r\n:5\r\n:7\r\n"},
		{"shards without nodes", "*1\r\n*2\r\n$5\r\nslots\r\n*0\r\n"},
		{"cut", "*1\r\n*3\r\n:0\r\n:5\r\n"},
		{"trailing bytes", "$5\r\nhello\r\n+OK\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMapper(64)
			out, kind := rewriteRedirect([]byte(tc.in), "127.0.0.1", m.local)
			if tc.in[0] != '-' {
				out, kind = rewriteTopology([]byte(tc.in), "127.0.0.1", m.local)
			}
			if kind != "" || string(out) != tc.in || len(m.order) != 0 {
				t.Errorf("rewritten as %q (%q, nodes %v)", out, kind, m.order)
			}
		})
	}
}

// TestRewriterStream: the rewriter relays a stream of replies, rewriting
// only the reply at a topology command's place and the redirections, in
// reads of any size; what it cannot follow it relays unchanged.
func TestRewriterStream(t *testing.T) {
	slots, err := os.ReadFile("testdata/cluster/slots.resp2")
	if err != nil {
		t.Fatal(err)
	}
	moved, err := os.ReadFile("testdata/cluster/moved.resp2")
	if err != nil {
		t.Fatal(err)
	}
	big := "$70000\r\n" + string(bytes.Repeat([]byte("x"), 70000)) + "\r\n"
	for _, tc := range []struct {
		name      string
		stream    string
		topo      []uint64 // places of topology commands
		rewritten []int    // the parts (split at |) rewritten
	}{
		{"slots at its place", "+OK\r\n|" + string(slots) + "|:1\r\n", []uint64{2}, []int{1}},
		{"slots at another place", "+OK\r\n|" + string(slots) + "|:1\r\n", []uint64{1}, nil},
		{"moved anywhere", string(moved) + "|+OK\r\n|" + string(moved), nil, []int{0, 2}},
		{"push before slots", ">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n|" + string(slots), []uint64{1}, []int{1}},
		{"long reply at the place", big + "|" + string(moved), []uint64{1}, []int{1}},
		{"streamed", "$?\r\n;3\r\nabc\r\n;0\r\n|*?\r\n:1\r\n.\r\n|" + string(moved), nil, []int{2}},
		{"violation: the rest unchanged", "+OK\r\n|" + "?garbage\r\n" + "|" + string(moved), nil, nil},
	} {
		for _, size := range []int{0, 1, 7} {
			t.Run(fmt.Sprintf("%s/reads of %d", tc.name, size), func(t *testing.T) {
				parts := bytes.Split([]byte(tc.stream), []byte("|"))
				m := newMapper(64)
				var want []byte
				for i, p := range parts {
					if contains(tc.rewritten, i) {
						if p[0] == '-' {
							p, _ = rewriteRedirect(p, "127.0.0.1", m.local)
						} else {
							p, _ = rewriteTopology(p, "127.0.0.1", m.local)
						}
					}
					want = append(want, p...)
				}
				q := &topoQueue{}
				for _, s := range tc.topo {
					q.add(s)
				}
				var src io.Reader = bytes.NewReader(bytes.Join(parts, nil))
				if size > 0 {
					src = &chunkReader{r: src, n: size}
				}
				pr, pw := io.Pipe()
				rw := &rewriter{b: newFuzzRig(t), local: newMapper(64).local, host: "127.0.0.1", topo: q}
				go rw.run(src, pw)
				got, err := io.ReadAll(pr)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("relayed\n%.300q\nwant\n%.300q", got, want)
				}
			})
		}
	}
}

func contains(xs []int, x int) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// FuzzRewrite: whatever the server sends, the rewriter never panics and,
// when it has no listener to point at, relays every byte unchanged; a
// reply it rewrites stays one RESP value.
func FuzzRewrite(f *testing.F) {
	for _, name := range []string{"slots.resp2", "shards.resp3", "nodes.resp3", "moved.resp2"} {
		b, err := os.ReadFile(filepath.Join("testdata/cluster", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, place uint8) {
		m := newMapper(2)
		if out, kind := rewriteTopology(data, "127.0.0.1", m.local); kind != "" {
			if _, next, ok := parseValue(out, 0, 0); !ok || next != len(out) {
				t.Fatalf("rewritten %q into no RESP value %q", data, out)
			}
		} else if !bytes.Equal(out, data) {
			t.Fatalf("not rewritten, yet changed: %q → %q", data, out)
		}
		rewriteRedirect(data, "", m.local)

		q := &topoQueue{}
		q.add(uint64(place))
		pr, pw := io.Pipe()
		rw := &rewriter{b: newFuzzRig(t), local: newMapper(0).local, host: "127.0.0.1", topo: q}
		go rw.run(iotest.HalfReader(bytes.NewReader(data)), pw)
		got, _ := io.ReadAll(pr)
		if !bytes.Equal(got, data) {
			t.Fatalf("relayed %q as %q", data, got)
		}
	})
}
