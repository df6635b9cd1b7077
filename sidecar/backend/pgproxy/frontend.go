package pgproxy

import (
	"time"

	"go.opentelemetry.io/otel/trace"
)

// Bounds of the per-connection memory of statements.
const (
	// maxStatements bounds the named prepared statements remembered per
	// connection (pgx caches 512); past it an arbitrary one is forgotten.
	maxStatements = 1024
	// maxInterned bounds the normalised texts shared per connection so a
	// repeated statement costs no allocation.
	maxInterned = 256
	// bindCapture is enough of a Bind for its portal and statement names;
	// its parameter values are never read.
	bindCapture = 512
)

// statement is what a prepared statement's Parse said.
type statement struct {
	kind string
	text string
}

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
	explicit trace.SpanContext

	msgStart   time.Time // a Query's or FunctionCall's first byte
	absorbSync bool      // the next Sync ends a batch already in flight

	stmts  map[string]statement
	intern map[string]string
	norm   []byte
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
		return 0, false, true
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
		fe.named = false
		fe.kind, fe.text = KindOther, ""
		fe.explicit = trace.SpanContext{}
	}
}

func (fe *frontend) end(m *message) bool {
	switch m.typ {
	case 'Q':
		sql, _, ok := cstring(m.body)
		if !ok {
			sql = m.body
		}
		kind, text := fe.analyse(sql)
		explicit := fe.traceContext(sql, m)
		// A Query ends the unnamed prepared statement.
		delete(fe.stmts, "")
		if fe.open {
			// A Query after unsynced extended messages completes them.
			fe.name(kind, text, explicit)
			return fe.queueBatch()
		}
		return fe.queue(fe.msgStart, kind, text, explicit, true)
	case 'F':
		if fe.open {
			return fe.queueBatch()
		}
		return fe.queue(fe.msgStart, KindOther, "", trace.SpanContext{}, true)
	case 'P':
		name, rest, ok := cstring(m.body)
		if !ok {
			return true // a name longer than the capture: not followed
		}
		sql, _, ok := cstring(rest)
		if !ok {
			sql = rest
		}
		kind, text := fe.analyse(sql)
		fe.remember(name, statement{kind: kind, text: text})
		fe.name(kind, text, fe.traceContext(sql, m))
	case 'B':
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
			fe.name(st.kind, st.text, trace.SpanContext{})
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
func (fe *frontend) name(kind, text string, explicit trace.SpanContext) {
	if !fe.named {
		fe.named = true
		fe.kind, fe.text, fe.explicit = kind, text, explicit
	}
}

// queueBatch queues the open batch at its Sync.
func (fe *frontend) queueBatch() bool {
	fe.open = false
	return fe.queue(fe.start, fe.kind, fe.text, fe.explicit, false)
}

func (fe *frontend) queue(start time.Time, kind, text string, explicit trace.SpanContext, simple bool) bool {
	call := fe.s.b.Begin(start, explicit)
	return fe.s.push(pending{call: call, kind: kind, text: text, simple: simple})
}

// analyse names and normalises a statement; the text is shared with the
// statement's earlier occurrences on this connection.
func (fe *frontend) analyse(sql []byte) (kind, text string) {
	kind = StatementKind(sql)
	fe.norm = NormalizeSession(fe.norm[:0], sql, !fe.s.nonStandard.Load())
	if len(fe.norm) == 0 {
		return kind, ""
	}
	if t, ok := fe.intern[string(fe.norm)]; ok {
		return kind, t
	}
	text = string(fe.norm)
	if fe.intern == nil {
		fe.intern = make(map[string]string)
	} else if len(fe.intern) >= maxInterned {
		clear(fe.intern)
	}
	fe.intern[text] = text
	return kind, text
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
