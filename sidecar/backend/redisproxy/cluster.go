package redisproxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/hopscope/hopscope/sidecar/backend"
)

// Redis Cluster (backend.Config.Cluster): a cluster client asks its seed
// node for the cluster's nodes (CLUSTER SLOTS, SHARDS or NODES) and is
// redirected with MOVED and ASK errors, then connects to the nodes named
// there. So that those connections go through the proxy too, the proxy
// gives every node it learns of a listener of its own on 127.0.0.1 (an
// ephemeral port, at most MaxNodes of them) relaying to that node, and
// replaces the node's address in those replies and errors with its
// listener's. Only the replies of a topology command (matched to it by
// their place in the connection's stream) and MOVED/ASK errors are
// rewritten; every other byte still passes unchanged, and a reply the
// rewriter cannot follow is relayed as it came, the rest of the
// connection unchanged.

// Kinds of rewrite, the label kind of hopscope_backend_redis_cluster_rewrites_total.
const (
	rewriteSlots    = "slots"    // a CLUSTER SLOTS reply
	rewriteShards   = "shards"   // a CLUSTER SHARDS reply
	rewriteNodes    = "nodes"    // a CLUSTER NODES reply
	rewriteMoved    = "moved"    // a MOVED error
	rewriteAsk      = "ask"      // an ASK error
	rewriteUnmapped = "unmapped" // a node address left as it was: MaxNodes reached
)

// maxTopologyReply bounds the topology reply held back to be rewritten;
// a longer one is relayed unchanged.
const maxTopologyReply = 4 << 20

// localHost is where the node listeners listen and what replies announce.
const localHost = "127.0.0.1"

// cluster is the node listeners of one Proxy.
type cluster struct {
	p   *Proxy
	max int

	mu     sync.Mutex
	nodes  map[string]*backend.Server // the node's announced host:port → its listener
	closed bool
}

func newCluster(p *Proxy, pol backend.RedisClusterPolicy) *cluster {
	if pol.MaxNodes == 0 {
		pol.MaxNodes = backend.DefaultRedisClusterPolicy().MaxNodes
	}
	return &cluster{p: p, max: pol.MaxNodes, nodes: map[string]*backend.Server{}}
}

// local returns the port of the listener relaying to host:port, opening
// it the first time; ok is false past MaxNodes or once closed.
func (c *cluster) local(host string, port int64) (int, bool) {
	target := net.JoinHostPort(host, strconv.FormatInt(port, 10))
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.nodes[target]; ok {
		return s.Addr().(*net.TCPAddr).Port, true
	}
	if c.closed || len(c.nodes) >= c.max {
		c.p.b.ClusterRewrite(rewriteUnmapped)
		return 0, false
	}
	cfg := c.p.b.Config
	cfg.Listen = net.JoinHostPort(localHost, "0")
	s := backend.NewServer(cfg, nodeHandler{p: c.p, target: target}, nil)
	if err := s.Start(); err != nil {
		c.p.b.ClusterRewrite(rewriteUnmapped)
		return 0, false
	}
	c.nodes[target] = s
	return s.Addr().(*net.TCPAddr).Port, true
}

// Nodes returns the node listeners: announced address → local address.
func (c *cluster) Nodes() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.nodes))
	for t, s := range c.nodes {
		out[t] = s.Addr().String()
	}
	return out
}

// close stops the node listeners and ends their connections.
func (c *cluster) close() {
	c.mu.Lock()
	c.closed = true
	nodes := c.nodes
	c.nodes = map[string]*backend.Server{}
	c.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // no grace: the sidecar's own listener had it
	for _, s := range nodes {
		s.Shutdown(ctx)
	}
}

// nodeHandler relays a node listener's connections to its node.
type nodeHandler struct {
	p      *Proxy
	target string
}

func (h nodeHandler) ServeConn(ctx context.Context, client net.Conn) {
	h.p.serve(ctx, client, h.target)
}

// topoQueue holds the places, in a connection's stream of commands, of its
// topology commands (1 is the first command answered): the command side
// adds them, the rewriter takes them as their replies come.
type topoQueue struct {
	mu   sync.Mutex
	seqs []uint64
}

func (q *topoQueue) add(seq uint64) {
	q.mu.Lock()
	q.seqs = append(q.seqs, seq)
	q.mu.Unlock()
}

// take reports whether reply number n answers a topology command,
// forgetting the places it passed.
func (q *topoQueue) take(n uint64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := 0
	for i < len(q.seqs) && q.seqs[i] < n {
		i++
	}
	hit := i < len(q.seqs) && q.seqs[i] == n
	if hit {
		i++
	}
	q.seqs = append(q.seqs[:0], q.seqs[i:]...)
	return hit
}

// rewriter relays one node's stream of replies to the session, replacing
// node addresses. It runs in its own goroutine, writing into a pipe the
// session's reply side reads.
type rewriter struct {
	b     *backend.Backend
	local localFunc
	host  string // the host of the connection's target: an empty host in a reply is it
	topo  *topoQueue
	n     uint64 // replies seen (pushes and attributes not counted)
	held  spill
}

// run relays src to dst until src ends (dst is closed with src's error)
// or dst is closed.
func (rw *rewriter) run(src io.Reader, dst *io.PipeWriter) {
	br := bufio.NewReaderSize(src, readerSize)
	bw := bufio.NewWriterSize(dst, readerSize)
	err := rw.relay(br, bw)
	// What was read is written, whatever ended the relay.
	if ferr := bw.Flush(); ferr != nil {
		err = ferr
	} else if errors.Is(err, errProtocol) {
		// Not followed: the rest goes as it comes (the session, reading
		// the same bytes, counts the decode failure).
		_, err = io.Copy(dst, br)
	}
	if err == nil {
		err = io.EOF
	}
	dst.CloseWithError(err)
}

// relay copies reply by reply, rewriting what names nodes; it returns
// errProtocol with everything read so far written to bw.
func (rw *rewriter) relay(br *bufio.Reader, bw *bufio.Writer) error {
	for {
		if br.Buffered() == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
		first, err := br.Peek(1)
		if err != nil {
			if err := bw.Flush(); err != nil {
				return err
			}
			return err
		}
		switch t := first[0]; {
		case t == '>', t == '|':
			// A push or an attribute (with the value it annotates): no
			// command's reply of its own.
			if t == '|' {
				rw.n++
			}
			if err := copyValue(br, bw, 0); err != nil {
				return err
			}
		case t == '-':
			rw.n++
			rw.topo.take(rw.n)
			if err := rw.relayError(br, bw); err != nil {
				return err
			}
		default:
			rw.n++
			if !rw.topo.take(rw.n) || (t != '*' && t != '$' && t != '=') {
				if err := copyValue(br, bw, 0); err != nil {
					return err
				}
				continue
			}
			rw.held.reset(bw)
			err := copyValue(br, &rw.held, 0)
			if err != nil || rw.held.spilled {
				rw.held.flush()
				if err != nil {
					return err
				}
				continue
			}
			out, kind := rewriteTopology(rw.held.buf, rw.host, rw.local)
			if kind != "" {
				rw.b.ClusterRewrite(kind)
			}
			if _, err := bw.Write(out); err != nil {
				return err
			}
		}
	}
}

// relayError relays an error line, rewriting MOVED and ASK.
func (rw *rewriter) relayError(br *bufio.Reader, bw *bufio.Writer) error {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		bw.Write(line) // a long error is no redirection
		return copyLine(br, bw)
	}
	if err != nil {
		bw.Write(line)
		return errProtocol
	}
	out, kind := rewriteRedirect(line, rw.host, rw.local)
	if kind != "" {
		rw.b.ClusterRewrite(kind)
	}
	_, err = bw.Write(out)
	return err
}

// spill holds a reply back up to maxTopologyReply; past it, it writes
// what it held and everything after to out.
type spill struct {
	buf     []byte
	out     io.Writer
	spilled bool
}

func (s *spill) reset(out io.Writer) { s.buf, s.out, s.spilled = s.buf[:0], out, false }

func (s *spill) Write(p []byte) (int, error) {
	if !s.spilled && len(s.buf)+len(p) <= maxTopologyReply {
		s.buf = append(s.buf, p...)
		return len(p), nil
	}
	if err := s.flush(); err != nil {
		return 0, err
	}
	s.spilled = true
	return s.out.Write(p)
}

func (s *spill) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	_, err := s.out.Write(s.buf)
	s.buf = s.buf[:0]
	return err
}

// copyLine copies the rest of a line, however long.
func copyLine(br *bufio.Reader, w io.Writer) error {
	for {
		chunk, err := br.ReadSlice('\n')
		if _, werr := w.Write(chunk); werr != nil {
			return werr
		}
		switch {
		case err == nil:
			return nil
		case err == bufio.ErrBufferFull:
		default:
			return eofIsCut(err)
		}
	}
}

func eofIsCut(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// copyValue copies one RESP2/RESP3 value (an attribute with the value it
// annotates) from br to w: errProtocol when it is no RESP, with the bytes
// read written.
func copyValue(br *bufio.Reader, w io.Writer, depth int) error {
	if depth > maxDepth {
		return errProtocol
	}
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		w.Write(line)
		switch line[0] {
		case '+', '-', ',', '(':
			return copyLine(br, w)
		}
		return errProtocol
	}
	if _, werr := w.Write(line); werr != nil {
		return werr
	}
	if err != nil {
		return eofIsCut(err)
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return errProtocol
	}
	t, body := line[0], line[1:len(line)-2]
	switch t {
	case '+', '-', ':', '_', '#', ',', '(':
		return nil
	case '$', '!', '=':
		if t == '$' && len(body) == 1 && body[0] == '?' {
			return copyChunks(br, w)
		}
		n, ok := parseInt(body)
		if !ok || n < -1 || n > maxBulk {
			return errProtocol
		}
		if n == -1 {
			return nil
		}
		return copyN(br, w, n+2)
	case '*', '~', '>', '%', '|':
		if len(body) == 1 && body[0] == '?' && t != '|' {
			for {
				p, err := br.Peek(1)
				if err != nil {
					return eofIsCut(err)
				}
				if p[0] == '.' {
					return copyLine(br, w)
				}
				if err := copyValue(br, w, depth+1); err != nil {
					return err
				}
			}
		}
		n, ok := parseInt(body)
		if !ok || n < -1 || n > maxBulk {
			return errProtocol
		}
		if t == '%' || t == '|' {
			n *= 2
		}
		for ; n > 0; n-- {
			if err := copyValue(br, w, depth+1); err != nil {
				return err
			}
		}
		if t == '|' {
			return copyValue(br, w, depth+1) // the value annotated
		}
		return nil
	}
	return errProtocol
}

// copyChunks copies a streamed string's chunks, to the empty one.
func copyChunks(br *bufio.Reader, w io.Writer) error {
	for {
		line, err := br.ReadSlice('\n')
		if _, werr := w.Write(line); werr != nil {
			return werr
		}
		if err != nil {
			if err == bufio.ErrBufferFull {
				return errProtocol
			}
			return eofIsCut(err)
		}
		if len(line) < 4 || line[0] != ';' || line[len(line)-2] != '\r' {
			return errProtocol
		}
		n, ok := parseInt(line[1 : len(line)-2])
		if !ok || n < 0 || n > maxBulk {
			return errProtocol
		}
		if n == 0 {
			return nil
		}
		if err := copyN(br, w, n+2); err != nil {
			return err
		}
	}
}

// copyN copies n bytes from what br buffers (io.CopyN would allocate a
// LimitedReader per value).
func copyN(br *bufio.Reader, w io.Writer, n int64) error {
	for n > 0 {
		if br.Buffered() == 0 {
			if _, err := br.Peek(1); err != nil {
				return eofIsCut(err)
			}
		}
		b, _ := br.Peek(int(min(int64(br.Buffered()), n)))
		if _, err := w.Write(b); err != nil {
			return err
		}
		br.Discard(len(b))
		n -= int64(len(b))
	}
	return nil
}

// Close stops the node listeners of a cluster backend.
func (p *Proxy) Close() error {
	if p.cluster != nil {
		p.cluster.close()
	}
	return nil
}

// ClusterNodes returns the node listeners of a cluster backend: the node's
// announced host:port → the listener's (nil when not a cluster backend).
func (p *Proxy) ClusterNodes() map[string]string {
	if p.cluster == nil {
		return nil
	}
	return p.cluster.Nodes()
}
