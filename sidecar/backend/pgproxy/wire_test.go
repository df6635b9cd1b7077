package pgproxy

import (
	"encoding/binary"
	"testing"

	"github.com/hopscope/hopscope/sidecar/backend"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// Builders of protocol messages, as a client or server writes them.

func msg(typ byte, body ...[]byte) []byte {
	n := 4
	for _, b := range body {
		n += len(b)
	}
	out := []byte{typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(out[1:], uint32(n))
	for _, b := range body {
		out = append(out, b...)
	}
	return out
}

func cstr(s string) []byte { return append([]byte(s), 0) }

func i16(v int) []byte { return binary.BigEndian.AppendUint16(nil, uint16(v)) }

func i32(v int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(v)) }

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func startupMsg(user, db string) []byte {
	body := cat(i32(196608), cstr("user"), cstr(user), cstr("database"), cstr(db), []byte{0})
	return cat(i32(4+len(body)), body)
}

func queryMsg(sql string) []byte { return msg('Q', cstr(sql)) }

func parseMsg(name, sql string) []byte { return msg('P', cstr(name), cstr(sql), i16(0)) }

func bindMsg(portal, stmt string, params ...string) []byte {
	b := cat(cstr(portal), cstr(stmt), i16(0), i16(len(params)))
	for _, p := range params {
		b = cat(b, i32(len(p)), []byte(p))
	}
	return msg('B', b, i16(0))
}

func describeMsg(kind byte, name string) []byte { return msg('D', []byte{kind}, cstr(name)) }
func executeMsg(portal string) []byte           { return msg('E', cstr(portal), i32(0)) }
func closeMsg(kind byte, name string) []byte    { return msg('C', []byte{kind}, cstr(name)) }
func syncMsg() []byte                           { return msg('S') }
func copyData(s string) []byte                  { return msg('d', []byte(s)) }
func copyDone() []byte                          { return msg('c') }

func readyMsg() []byte              { return msg('Z', []byte{'I'}) }
func completeMsg(tag string) []byte { return msg('C', cstr(tag)) }

func errorMsg(severity, code, text string) []byte {
	return msg('E', []byte{'S'}, cstr(severity), []byte{'V'}, cstr(severity), []byte{'C'}, cstr(code), []byte{'M'}, cstr(text), []byte{0})
}

func rowMsg(values ...string) []byte {
	b := i16(len(values))
	for _, v := range values {
		b = cat(b, i32(len(v)), []byte(v))
	}
	return msg('D', b)
}

// serverHello is the server's side of a trust startup.
func serverHello() []byte {
	return cat(msg('R', i32(0)), msg('S', cstr("server_version"), cstr("15.0")), msg('K', i32(42), i32(7)), readyMsg())
}

// step is one exchange of a conversation: what the client sends, then
// what the server answers.
type step struct{ client, server []byte }

// conversation covers the protocol's flows; wantCalls is what the decoder
// must make of it.
var conversation = []step{
	{startupMsg("postgres", "shop"), cat(msg('R', i32(10), cstr("SCRAM-SHA-256"), []byte{0}))},
	{msg('p', cstr("SCRAM-SHA-256"), i32(32), []byte("n,,n=,r=secret-client-nonce-xxxx")), msg('R', i32(11), []byte("r=secret-nonce,s=salt,i=4096"))},
	{msg('p', []byte("c=biws,r=secret-nonce,p=proof")), cat(msg('R', i32(12), []byte("v=verifier")), serverHello())},
	{queryMsg("SELECT 1"), cat(msg('T', i16(0)), rowMsg("1"), completeMsg("SELECT 1"), readyMsg())},
	{cat(parseMsg("s1", "INSERT INTO t VALUES ($1, 'x')"), describeMsg('S', "s1"), syncMsg()), cat(msg('1'), msg('t', i16(1), i32(23)), msg('n'), readyMsg())},
	{cat(bindMsg("", "s1", "secret-param"), executeMsg(""), syncMsg(), bindMsg("", "s1", "secret-2"), executeMsg(""), syncMsg()),
		cat(msg('2'), completeMsg("INSERT 0 1"), readyMsg(), msg('2'), completeMsg("INSERT 0 1"), readyMsg())},
	{queryMsg("SELECT 1/0"), cat(errorMsg("ERROR", "22012", "division by zero"), readyMsg())},
	{cat(parseMsg("", "UPDATE t SET a = $1"), bindMsg("", "", "v"), executeMsg(""), syncMsg()), cat(msg('1'), msg('2'), errorMsg("FATAL", "57P01", "terminating"), readyMsg())},
	{queryMsg("COPY t FROM STDIN"), msg('G', []byte{0}, i16(0))},
	{cat(copyData("1\tsecret\n"), copyData("2\tsecret\n"), copyDone()), cat(completeMsg("COPY 2"), readyMsg())},
	{cat(parseMsg("", "COPY t FROM STDIN"), bindMsg("", ""), executeMsg(""), syncMsg()), cat(msg('1'), msg('2'), msg('G', []byte{0}, i16(0)))},
	{cat(copyData("3\tx\n"), copyDone(), syncMsg()), cat(completeMsg("COPY 1"), readyMsg())},
	{queryMsg("COPY t TO STDOUT"), cat(msg('H', []byte{0}, i16(0)), copyData("1\tx\n"), msg('c'), completeMsg("COPY 1"), readyMsg())},
	{msg('F', i32(1598), i16(0), i16(0), i16(0)), cat(msg('V', i32(-1)), readyMsg())},
	{queryMsg(""), cat(msg('I'), readyMsg())},
	{cat(closeMsg('S', "s1"), syncMsg()), cat(msg('3'), readyMsg())},
	{cat(bindMsg("", "s1", "gone"), executeMsg(""), syncMsg()), cat(errorMsg("ERROR", "26000", "prepared statement does not exist"), readyMsg())},
	{cat(msg('H'), queryMsg("WITH a AS (SELECT 1) DELETE FROM t")),
		cat(msg('N', []byte{'S'}, cstr("NOTICE"), []byte{0}), msg('A', i32(1), cstr("ch"), cstr("payload")), completeMsg("DELETE 0"), readyMsg())},
	{msg('X'), nil},
}

var wantCalls = []call{
	{"SELECT", "SELECT ?", ""},
	{"INSERT", "INSERT INTO t VALUES ($1, ?)", ""},
	{"INSERT", "INSERT INTO t VALUES ($1, ?)", ""},
	{"INSERT", "INSERT INTO t VALUES ($1, ?)", ""},
	{"SELECT", "SELECT ?/?", "22012"},
	{"UPDATE", "UPDATE t SET a = $1", "57P01"},
	{"COPY", "COPY t FROM STDIN", ""},
	{"COPY", "COPY t FROM STDIN", ""},
	{"COPY", "COPY t TO STDOUT", ""},
	{"OTHER", "", ""}, // FunctionCall
	{"OTHER", "", ""}, // empty query
	{"OTHER", "", ""}, // Close
	{"OTHER", "", "26000"},
	{"DELETE", "WITH a AS (SELECT ?) DELETE FROM t", ""},
}

// testSession is a session recording into its own recorder.
type testSession struct {
	*session
	b     *backend.Backend
	spans *tracetest.SpanRecorder
	reg   *prometheus.Registry
}

func newTestSession(t testing.TB) testSession {
	spans := tracetest.NewSpanRecorder()
	reg := prometheus.NewRegistry()
	rec, err := backend.NewRecorder(backend.Options{
		Tracer:     sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)).Tracer("test"),
		Tracker:    backend.NewTracker(),
		Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	b := rec.Backend(backend.Config{Name: "db", Kind: backend.KindPostgres, Listen: "127.0.0.1:15432", Target: "127.0.0.1:5432"})
	s := newSession(b)
	s.count()
	return testSession{session: s, b: b, spans: spans, reg: reg}
}

// feed gives the session each step's bytes cut by split.
func (ts testSession) feed(steps []step, split func([]byte) [][]byte) {
	for _, st := range steps {
		for _, p := range split(st.client) {
			ts.clientBytes(p)
		}
		for _, p := range split(st.server) {
			ts.serverBytes(p)
			ts.finish(p)
		}
	}
}
