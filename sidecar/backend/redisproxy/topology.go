package redisproxy

import (
	"bytes"
	"strconv"
)

// localFunc returns the local listener's port for a node's announced
// host:port; ok is false when the node gets none.
type localFunc func(host string, port int64) (int, bool)

// rewriteRedirect rewrites a MOVED or ASK error line (with its CRLF) to
// name the node's local listener; any other line is returned as it is,
// with kind "". connHost is the host an empty host in it stands for.
func rewriteRedirect(line []byte, connHost string, local localFunc) (out []byte, kind string) {
	var prefix []byte
	switch {
	case bytes.HasPrefix(line, []byte("-MOVED ")):
		prefix, kind = line[:7], rewriteMoved
	case bytes.HasPrefix(line, []byte("-ASK ")):
		prefix, kind = line[:5], rewriteAsk
	default:
		return line, ""
	}
	if !bytes.HasSuffix(line, []byte("\r\n")) {
		return line, ""
	}
	rest := line[len(prefix) : len(line)-2]
	sp := bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return line, ""
	}
	slot, endpoint := rest[:sp], rest[sp+1:]
	host, port, ok := splitEndpoint(endpoint, connHost)
	if !ok {
		return line, ""
	}
	lp, ok := local(host, port)
	if !ok {
		return line, ""
	}
	out = make([]byte, 0, len(line)+8)
	out = append(out, prefix...)
	out = append(out, slot...)
	out = append(out, ' ')
	out = append(out, localHost...)
	out = append(out, ':')
	out = strconv.AppendInt(out, int64(lp), 10)
	return append(out, '\r', '\n'), kind
}

// splitEndpoint splits host:port (the last colon: an IPv6 address is not
// bracketed in Redis's replies); an empty host is connHost.
func splitEndpoint(ep []byte, connHost string) (string, int64, bool) {
	i := bytes.LastIndexByte(ep, ':')
	if i < 0 {
		return "", 0, false
	}
	port, ok := parseInt(ep[i+1:])
	if !ok || port <= 0 || port > 65535 {
		return "", 0, false
	}
	host := string(ep[:i])
	if host == "" {
		host = connHost
	}
	if host == "?" || host == "" {
		return "", 0, false
	}
	return host, port, true
}

// rval is one decoded value of a topology reply: where it is in the
// reply, and what it holds.
type rval struct {
	typ        byte
	start, end int    // the value's bytes in the reply
	s          []byte // a string's payload
	n          int64  // an integer
	kids       []rval // an aggregate's elements (a map's keys and values in turn)
}

// parseValue decodes the value at b[i:] (no streamed types, no
// attributes: a topology reply has neither).
func parseValue(b []byte, i, depth int) (v rval, next int, ok bool) {
	if depth > 8 {
		return v, 0, false
	}
	e := bytes.Index(b[i:], []byte("\r\n"))
	if e < 1 {
		return v, 0, false
	}
	v.typ, v.start = b[i], i
	body := b[i+1 : i+e]
	next = i + e + 2
	switch v.typ {
	case '+':
		v.s = body
	case ':':
		if v.n, ok = parseInt(body); !ok {
			return v, 0, false
		}
	case '$', '=':
		n, ok := parseInt(body)
		if !ok || n < 0 || int64(len(b)-next) < n+2 {
			return v, 0, false
		}
		v.s = b[next : next+int(n)]
		next += int(n) + 2
		if b[next-2] != '\r' || b[next-1] != '\n' {
			return v, 0, false
		}
	case '*', '%', '~':
		n, ok := parseInt(body)
		if !ok || n < 0 || n > int64(len(b)) {
			return v, 0, false
		}
		if v.typ == '%' {
			n *= 2
		}
		v.kids = make([]rval, 0, n)
		for ; n > 0; n-- {
			k, nx, ok := parseValue(b, next, depth+1)
			if !ok {
				return v, 0, false
			}
			v.kids = append(v.kids, k)
			next = nx
		}
	default:
		return v, 0, false
	}
	v.end = next
	return v, next, true
}

func (v rval) isString() bool { return v.typ == '$' || v.typ == '+' }

// isMap reports whether v is a map: RESP3's, or RESP2's flat array of
// keys and values.
func (v rval) isMap() bool {
	return v.typ == '%' || (v.typ == '*' && len(v.kids)%2 == 0)
}

// get returns the value of a map's key.
func (v rval) get(key string) (rval, bool) {
	for i := 0; i+1 < len(v.kids); i += 2 {
		if k := v.kids[i]; k.isString() && string(k.s) == key {
			return v.kids[i+1], true
		}
	}
	return rval{}, false
}

// patch replaces one value's bytes.
type patch struct {
	start, end int
	with       []byte
}

func bulk(s string) []byte {
	return []byte("$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n")
}

func integer(n int) []byte { return []byte(":" + strconv.Itoa(n) + "\r\n") }

// apply returns b with the patches (in order, not overlapping) applied.
func apply(b []byte, ps []patch) []byte {
	out := make([]byte, 0, len(b)+16*len(ps))
	at := 0
	for _, p := range ps {
		out = append(out, b[at:p.start]...)
		out = append(out, p.with...)
		at = p.end
	}
	return append(out, b[at:]...)
}

// rewriteTopology rewrites the reply of CLUSTER SLOTS, SHARDS or NODES so
// that it names the nodes' local listeners; kind says which it was, ""
// when the reply is none of them (an error, another shape: returned as
// it is). connHost is the host an empty host stands for.
func rewriteTopology(b []byte, connHost string, local localFunc) (out []byte, kind string) {
	v, next, ok := parseValue(b, 0, 0)
	if !ok || next != len(b) {
		return b, ""
	}
	var ps []patch
	switch {
	case v.typ == '$' || v.typ == '=':
		ps, ok = nodesPatches(v, connHost, local)
		kind = rewriteNodes
	case v.typ == '*' && len(v.kids) > 0 && v.kids[0].typ == '*' && len(v.kids[0].kids) > 0 && v.kids[0].kids[0].typ == ':':
		ps, ok = slotsPatches(v, connHost, local)
		kind = rewriteSlots
	case v.typ == '*':
		ps, ok = shardsPatches(v, connHost, local)
		kind = rewriteShards
	default:
		ok = false
	}
	if !ok {
		return b, ""
	}
	return apply(b, ps), kind
}

// slotsPatches: CLUSTER SLOTS is an array of [start, end, node…], each
// node [host, port, id, metadata…].
func slotsPatches(v rval, connHost string, local localFunc) ([]patch, bool) {
	var ps []patch
	for _, r := range v.kids {
		if r.typ != '*' || len(r.kids) < 3 || r.kids[0].typ != ':' || r.kids[1].typ != ':' {
			return nil, false
		}
		for _, n := range r.kids[2:] {
			if n.typ != '*' || len(n.kids) < 2 || !n.kids[0].isString() || n.kids[1].typ != ':' {
				return nil, false
			}
			host := string(n.kids[0].s)
			if host == "" {
				host = connHost
			}
			if host == "?" {
				continue // unknown endpoint: nothing to point at
			}
			lp, ok := local(host, n.kids[1].n)
			if !ok {
				continue
			}
			ps = append(ps,
				patch{n.kids[0].start, n.kids[0].end, bulk(localHost)},
				patch{n.kids[1].start, n.kids[1].end, integer(lp)})
		}
	}
	return ps, true
}

// shardsPatches: CLUSTER SHARDS is an array of maps with "slots" and
// "nodes", each node a map with "ip", "endpoint", "port"…
func shardsPatches(v rval, connHost string, local localFunc) ([]patch, bool) {
	var ps []patch
	for _, sh := range v.kids {
		if !sh.isMap() {
			return nil, false
		}
		nodes, ok := sh.get("nodes")
		if _, slots := sh.get("slots"); !ok || !slots || (nodes.typ != '*' && nodes.typ != '~') {
			return nil, false
		}
		for _, n := range nodes.kids {
			if !n.isMap() {
				return nil, false
			}
			port, ok := n.get("port")
			if !ok || port.typ != ':' {
				continue // a TLS-only node: not proxied
			}
			host := ""
			for _, k := range []string{"endpoint", "ip"} {
				if h, ok := n.get(k); ok && h.isString() && len(h.s) > 0 && string(h.s) != "?" {
					host = string(h.s)
					break
				}
			}
			if host == "" {
				host = connHost
			}
			lp, ok := local(host, port.n)
			if !ok {
				continue
			}
			// Patches in the order of the values in the reply.
			for i := 0; i+1 < len(n.kids); i += 2 {
				k, val := n.kids[i], n.kids[i+1]
				if !k.isString() {
					continue
				}
				switch string(k.s) {
				case "ip", "endpoint":
					if val.isString() {
						ps = append(ps, patch{val.start, val.end, bulk(localHost)})
					}
				case "port":
					ps = append(ps, patch{val.start, val.end, integer(lp)})
				}
			}
		}
	}
	return ps, true
}

// nodesPatches: CLUSTER NODES is a string of lines
// "<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch>
// <link> <slot>…" (RESP3: a verbatim string "txt:…").
func nodesPatches(v rval, connHost string, local localFunc) ([]patch, bool) {
	text := v.s
	var head []byte
	if v.typ == '=' {
		if len(text) < 4 || text[3] != ':' {
			return nil, false
		}
		head, text = text[:4], text[4:]
	}
	var out []byte
	changed := false
	for len(text) > 0 {
		nl := bytes.IndexByte(text, '\n')
		if nl < 0 {
			return nil, false
		}
		line := text[:nl]
		text = text[nl+1:]
		f := bytes.SplitN(line, []byte(" "), 3)
		if len(f) < 3 || len(f[0]) != 40 || !isHex(f[0]) {
			return nil, false
		}
		addr := f[1]
		at := bytes.IndexByte(addr, '@')
		if at < 0 {
			return nil, false
		}
		out = append(out, f[0]...)
		out = append(out, ' ')
		host, port, ok := splitEndpoint(addr[:at], connHost)
		lp := 0
		if ok {
			lp, ok = local(host, port)
		}
		if ok {
			out = append(out, localHost...)
			out = append(out, ':')
			out = strconv.AppendInt(out, int64(lp), 10)
			out = append(out, addr[at:]...)
			changed = true
		} else {
			out = append(out, addr...)
		}
		out = append(out, ' ')
		out = append(out, f[2]...)
		out = append(out, '\n')
	}
	if !changed {
		return nil, true
	}
	with := make([]byte, 0, len(head)+len(out)+16)
	with = append(with, v.typ)
	with = strconv.AppendInt(with, int64(len(head)+len(out)), 10)
	with = append(with, '\r', '\n')
	with = append(with, head...)
	with = append(with, out...)
	with = append(with, '\r', '\n')
	return []patch{{v.start, v.end, with}}, true
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
