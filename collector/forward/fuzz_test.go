package forward

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tinylib/msgp/msgp"
)

var writeCorpus = flag.Bool("write-corpus", false, "rewrite testdata/fuzz/FuzzDecode from fuzzSeeds")

// fuzzSeeds are the seeds of FuzzDecode: every mode, both time encodings,
// and junk. They are also committed under testdata/fuzz/FuzzDecode.
func fuzzSeeds(tb testing.TB) map[string][]byte {
	stream := concat(entry(t0, false, "msg", "a"), entry(t1, true, "msg", "b", "n", int64(-3)))
	v2 := concat(msgp.AppendArrayHeader(nil, 2), msgp.AppendArrayHeader(nil, 2),
		appendEventTime(nil, t0), appendRecord(nil, "stream", "stderr"), appendRecord(nil, "log", "x"))
	intTime := concat(msgp.AppendArrayHeader(nil, 3), msgp.AppendString(nil, "app"),
		msgp.AppendInt64(nil, t1.Unix()), appendRecord(nil, "status", int64(200), "ok", true))
	deep := msgp.AppendArrayHeader(nil, 3)
	deep = msgp.AppendString(deep, "d")
	deep = appendEventTime(deep, t0)
	deep = msgp.AppendMapHeader(deep, 1)
	deep = msgp.AppendString(deep, "k")
	for i := 0; i < 40; i++ {
		deep = msgp.AppendArrayHeader(deep, 1)
	}
	deep = msgp.AppendNil(deep)
	return map[string][]byte{
		"message-eventtime":     messageMode("app.access", t0, "", "trace_id", "4bf92f3577b34da6a3ce929d0e0e4736", "status", int64(200)),
		"message-eventtime-ack": messageMode("app", t0, "Y2h1bmsx", "k", "v"),
		"message-inttime":       intTime,
		"forward":               forwardMode("app", "c1", entry(t0, false, "msg", "a"), entry(t1, true, "msg", "b")),
		"forward-metadata":      forwardMode("kube", "", v2),
		"packed-bin":            packedMode("app", stream, false),
		"packed-str":            packedMode("app", stream, true, "chunk", "c2"),
		"compressed-gzip":       packedMode("app", gzipBytes(tb, stream), false, "compressed", "gzip", "chunk", "c3"),
		"compressed-gzip-multi": packedMode("app", concat(gzipBytes(tb, stream), gzipBytes(tb, stream)), false, "compressed", "gzip"),
		"two-requests":          concat(messageMode("a", t0, "", "k", "v"), msgp.AppendNil(nil), forwardMode("b", "", entry(t1, true, "k", "v"))),
		"heartbeat":             msgp.AppendNil(nil),
		"junk-http":             []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"junk-json":             []byte(`["tag",1700000000,{"k":"v"}]`),
		"junk-invalid-byte":     {0x93, 0xa1, 'a', 0xc1, 0x80},
		"junk-truncated":        messageMode("app", t0, "", "k", "value")[:12],
		"junk-huge-str":         {0x93, 0xa1, 't', 0xd7, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0x81, 0xa1, 'k', 0xdb, 0xff, 0xff, 0xff, 0xff},
		"junk-huge-array":       {0x92, 0xa1, 't', 0xdd, 0xff, 0xff, 0xff, 0xff},
		"junk-deep":             deep,
		"junk-bad-gzip":         packedMode("app", []byte("\x1f\x8b\x08\x00garbage"), false, "compressed", "gzip"),
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range fuzzSeeds(f) {
		f.Add(seed)
	}
	lim := Limits{MaxEntryBytes: 1 << 16, MaxDecompressedBytes: 1 << 16, MaxEvents: 1000, MaxValues: 10000, MaxDepth: 16}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := reader(data)
		for i := 0; i < 8; i++ {
			events, _, err := lim.Decode(r)
			if err != nil {
				if err.Error() == "" {
					t.Fatal("empty error message")
				}
				return
			}
			if len(events) > lim.MaxEvents {
				t.Fatalf("%d events, limit %d", len(events), lim.MaxEvents)
			}
			for j, ev := range events {
				if ev.Record == nil {
					t.Fatalf("event %d has a nil record", j)
				}
				if ev.Tag != events[0].Tag {
					t.Fatalf("event %d tag %q, first %q", j, ev.Tag, events[0].Tag)
				}
			}
		}
	})
}

// TestWriteFuzzCorpus rewrites the committed corpus with -write-corpus.
func TestWriteFuzzCorpus(t *testing.T) {
	if !*writeCorpus {
		t.Skip("run with -write-corpus to rewrite testdata/fuzz/FuzzDecode")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecode")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range fuzzSeeds(t) {
		body := "go test fuzz v1\n[]byte(" + strconv.Quote(string(data)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
