package pgproxy

import (
	"encoding/binary"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/hopscope/hopscope/sidecar/backend"
)

// Bounds of the per-connection memory of statements.
const (
	// maxStatements bounds the named prepared statements remembered per
	// connection (pgx caches 512); past it an arbitrary one is forgotten.
	maxStatements = 1024
	// maxInterned bounds the normalised texts shared per connection so a
	// repeated statement costs no allocation.
	maxInterned = 256
	// bindCapture is enough of a Bind for its portal and statement names
	// and its first parameter values, which are read for attribution only
	// (backend.Hint: compared in memory, never kept past the call's start).
	bindCapture = 512
)

// statement is what a prepared statement's Parse said.
type statement struct {
	kind    string
	text    string
	summary string
}

// interned is a normalised text shared by a statement's occurrences on a
// connection, with its summary.
type interned struct {
	text    string
	summary string
}

// startupCapture is how much of the startup packet is read, for its
// database (and user) parameters: the client's other parameters
// (application_name, options) come after them as libpq and pgx send it.
const startupCapture = 1024

// frontend decodes what the client sends: it opens a call at a Query, at
// a FunctionCall and at the first message of an extended-protocol batch,
// and queues it at the Query (FunctionCall) or at the batch's Sync.
type frontend struct {
	s   *session
	f   framer
	now time.Time // when the bytes being decoded arrived (set lazily)

	// The extended-protocol batch being sent (until its Sync).
	open     bool
	start    time.Time
	named    bool
	kind     string
	text     string
	summary  string
	explicit trace.SpanContext

	msgStart   time.Time // a Query's or FunctionCall's first byte
	absorbSync bool      // the next Sync ends a batch already in flight

	stmts  map[string]statement
	intern map[string]interned
	norm   []byte

	// namespace is the connection's database (db.namespace), from its
	// startup packet; connectAt when the connect call started.
	namespace string
	connectAt time.Time

	// hint is what the batch's first Bind carried, and its statement, for
	// the call's attribution.
	hint backend.Hint
}

func (fe *frontend) clock() time.Time {
	if fe.now.IsZero() {
		fe.now = time.Now()
	}
	return fe.now
}

func (fe *frontend) begin(typ byte, length int) (int, bool, bool) {
	switch typ {
	case 0: // the startup packet: user, database, options are not read
		// The startup is a call of its own, ended by the first
		// ReadyForQuery (or the ErrorResponse that refuses it).
		start := fe.clock()
		if !fe.s.connectStart.IsZero() {
			start = fe.s.connectStart // the TLS negotiation with the server included
		}
		// Its call is queued at the packet's end, with the database.
		fe.connectAt = start
		return startupCapture, false, true
	case 'Q':
		fe.msgStart = fe.clock()
		return textCapture, true, true
	case 'F':
		fe.msgStart = fe.clock()
		return 0, false, true
	case 'P':
		fe.openBatch()
		return textCapture, true, true
	case 'B':
		fe.openBatch()
		return bindCapture, false, true
	case 'C':
		fe.openBatch()
		return bindCapture, false, true
	case 'D', 'E':
		fe.openBatch()
		return 0, false, true
	case 'S':
		fe.openBatch()
		return 0, false, true
	case 'H', 'X', 'd', 'c', 'f', 'p':
		// Flush, Terminate, copy data and the authentication exchange
		// ('p': password, SASL, GSS) pass unread.
		return 0, false, true
	}
	return 0, false, false
}

func (fe *frontend) openBatch() {
	if !fe.open {
		fe.open = true
		fe.start = fe.clock()
		fe.hint.Reset()
		fe.named = false
		fe.kind, fe.text, fe.summary = KindOther, "", ""
		fe.explicit = trace.SpanContext{}
	}
}

func (fe *frontend) end(m *message) bool {
	switch m.typ {
	case 0:
		fe.namespace = startupDatabase(m.body)
		return fe.s.push(pending{call: fe.s.b.Begin(fe.connectAt, trace.SpanContext{}), kind: KindConnect, simple: true,
			namespace: fe.namespace})
	case 'Q':
		sql, _, ok := cstring(m.body)
		if !ok {
			sql = m.body
		}
		kind, text, summary := fe.analyse(sql)
		explicit := fe.traceContext(sql, m)
		// A Query ends the unnamed prepared statement.
		delete(fe.stmts, "")
		if fe.open {
			// A Query after unsynced extended messages completes them.
			fe.name(kind, text, summary, explicit)
			return fe.queueBatch()
		}
		return fe.queue(fe.msgStart, kind, text, summary, explicit, true)
	case 'F':
		if fe.open {
			return fe.queueBatch()
		}
		return fe.queue(fe.msgStart, KindOther, "", "", trace.SpanContext{}, true)
	case 'P':
		name, rest, ok := cstring(m.body)
		if !ok {
			return true // a name longer than the capture: not followed
		}
		sql, _, ok := cstring(rest)
		if !ok {
			sql = rest
		}
		kind, text, summary := fe.analyse(sql)
		fe.remember(name, statement{kind: kind, text: text, summary: summary})
		fe.name(kind, text, summary, fe.traceContext(sql, m))
	case 'B':
		if fe.hint.Values() == 0 {
			bindValues(&fe.hint, m.body)
		}
		if fe.named {
			return true
		}
		_, rest, ok := cstring(m.body)
		if !ok {
			return true
		}
		name, _, ok := cstring(rest)
		if !ok {
			return true
		}
		if st, ok := fe.stmts[string(name)]; ok {
			fe.name(st.kind, st.text, st.summary, trace.SpanContext{})
		}
	case 'C':
		if len(m.body) > 0 && m.body[0] == 'S' {
			if name, _, ok := cstring(m.body[1:]); ok {
				delete(fe.stmts, string(name))
			}
		}
	case 'S':
		if fe.absorbSync {
			fe.absorbSync = false
			fe.open = false
			return true
		}
		return fe.queueBatch()
	case 'c', 'f':
		if fe.s.copyEnded() {
			fe.absorbSync = true
		}
	}
	return true
}

// name names the open batch by its first statement.
func (fe *frontend) name(kind, text, summary string, explicit trace.SpanContext) {
	if !fe.named {
		fe.named = true
		fe.kind, fe.text, fe.summary, fe.explicit = kind, text, summary, explicit
	}
}

// queueBatch queues the open batch at its Sync.
func (fe *frontend) queueBatch() bool {
	fe.open = false
	return fe.queue(fe.start, fe.kind, fe.text, fe.summary, fe.explicit, false)
}

func (fe *frontend) queue(start time.Time, kind, text, summary string, explicit trace.SpanContext, simple bool) bool {
	if simple {
		fe.hint.Reset() // a simple query's literals are not read
	}
	if text != "" {
		fe.hint.SetShape(text)
	} else {
		fe.hint.SetShape(kind)
	}
	call := fe.s.b.BeginHint(start, explicit, &fe.hint)
	return fe.s.push(pending{call: call, kind: kind, text: text, summary: summary, namespace: fe.namespace, simple: simple})
}

// analyse names and normalises a statement and summarises it
// (db.query.summary: "" for OTHER); the text and summary are shared with
// the statement's earlier occurrences on this connection.
func (fe *frontend) analyse(sql []byte) (kind, text, summary string) {
	kind = StatementKind(sql)
	if kind != KindOther {
		summary = kind
	}
	fe.norm = NormalizeSession(fe.norm[:0], sql, !fe.s.nonStandard.Load())
	if len(fe.norm) == 0 {
		return kind, "", summary
	}
	if t, ok := fe.intern[string(fe.norm)]; ok {
		return kind, t.text, t.summary
	}
	text = string(fe.norm)
	if summary != "" {
		summary = QuerySummary(fe.norm, kind)
	}
	if fe.intern == nil {
		fe.intern = make(map[string]interned)
	} else if len(fe.intern) >= maxInterned {
		clear(fe.intern)
	}
	fe.intern[text] = interned{text: text, summary: summary}
	return kind, text, summary
}

// startupDatabase is the database a startup packet (protocol 3.x: its
// version, then name and value C strings up to an empty name) connects
// to: its database parameter, else its user, as PostgreSQL defaults it;
// "" when neither is within the capture. The name is copied: once per
// connection.
func startupDatabase(body []byte) string {
	if len(body) < 4 || binary.BigEndian.Uint16(body) != 3 {
		return ""
	}
	rest := body[4:]
	var user []byte
	for {
		name, r, ok := cstring(rest)
		if !ok {
			return "" // cut within the capture: the database may follow
		}
		if len(name) == 0 {
			break
		}
		value, r2, ok := cstring(r)
		if !ok {
			return ""
		}
		switch string(name) {
		case "database":
			if len(value) > 0 {
				return string(value)
			}
		case "user":
			user = value
		}
		rest = r2
	}
	return string(user)
}

// traceContext is the sqlcommenter trace context of a statement: in its
// captured start or, for a longer one, its end.
func (fe *frontend) traceContext(sql []byte, m *message) trace.SpanContext {
	if sc := CommentTraceContext(sql); sc.IsValid() {
		return sc
	}
	if m.truncated && len(m.tail) > 0 {
		return CommentTraceContext(m.tail)
	}
	return trace.SpanContext{}
}

// remember keeps a prepared statement's name and kind; the unnamed one
// too, until the next Parse or Query replaces it.
func (fe *frontend) remember(name []byte, st statement) {
	if fe.stmts == nil {
		fe.stmts = make(map[string]statement)
	}
	if _, ok := fe.stmts[string(name)]; ok {
		fe.stmts[string(name)] = st
		return
	}
	if len(fe.stmts) >= maxStatements {
		for k := range fe.stmts {
			delete(fe.stmts, k)
			break
		}
	}
	fe.stmts[string(name)] = st
}

// bindValues adds the first parameter values of a Bind body (as far as it
// was captured) to h: text values as they are, binary 2-, 4- and 8-byte
// values as the integers they would be (an int2, int4 or int8; another
// type gives a number no request carries). A malformed body adds what came
// before the fault.
func bindValues(h *backend.Hint, body []byte) {
	_, rest, ok := cstring(body) // portal
	if !ok {
		return
	}
	if _, rest, ok = cstring(rest); !ok { // statement
		return
	}
	if len(rest) < 2 {
		return
	}
	nf := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if nf > len(rest)/2 {
		return
	}
	formats := rest[:2*nf]
	rest = rest[2*nf:]
	if len(rest) < 2 {
		return
	}
	np := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	for i := 0; i < np && h.Values() < backend.MaxHintValues; i++ {
		if len(rest) < 4 {
			return
		}
		n := int32(binary.BigEndian.Uint32(rest))
		rest = rest[4:]
		if n < 0 {
			continue // NULL
		}
		if int(n) > len(rest) {
			return // cut by the capture
		}
		v := rest[:n]
		rest = rest[n:]
		binaryFmt := false
		switch {
		case nf == 1:
			binaryFmt = binary.BigEndian.Uint16(formats) == 1
		case nf > 1 && i < nf:
			binaryFmt = binary.BigEndian.Uint16(formats[2*i:]) == 1
		}
		if !binaryFmt {
			h.AddValue(v)
			continue
		}
		switch len(v) {
		case 2:
			h.AddInt(int64(int16(binary.BigEndian.Uint16(v))))
		case 4:
			h.AddInt(int64(int32(binary.BigEndian.Uint32(v))))
		case 8:
			h.AddInt(int64(binary.BigEndian.Uint64(v)))
		}
	}
}
