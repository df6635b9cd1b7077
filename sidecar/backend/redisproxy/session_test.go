package redisproxy

import (
	"bytes"
	"io"
	"reflect"
	"strings"
	"testing"
)

// replay runs a connection's command stream, then its reply stream,
// through a session, and checks both were relayed unchanged. It returns
// whether the connection was counted as relayed at the end.
func replay(t *testing.T, r *rig, cmds, replies string) (relayed bool) {
	t.Helper()
	s := newSession(r.b)
	var cout, rout bytes.Buffer
	s.runCommands(&cout, strings.NewReader(cmds))
	s.runReplies(&rout, strings.NewReader(replies))
	relayed = r.gauge("relayed") == 1 && r.gauge("decoded") == 0
	s.close()
	if cout.String() != cmds {
		t.Errorf("commands relayed as %q, want %q", cout.String(), cmds)
	}
	if rout.String() != replies {
		t.Errorf("replies relayed as %q, want %q", rout.String(), replies)
	}
	return relayed
}

func TestSessionMatchesReplies(t *testing.T) {
	for _, tc := range []struct {
		name      string
		cmds      string
		replies   string
		want      []call
		failed    float64 // decode errors
		relayed   bool    // the connection ended relayed
		forbidden string  // must appear in no span or metric
	}{
		{
			name:    "pipeline",
			cmds:    "SET k v\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\nINCR k\r\nLPUSH k x\r\n",
			replies: "+OK\r\n$1\r\nv\r\n-ERR value is not an integer or out of range\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
			want:    []call{{"SET", ""}, {"GET", ""}, {"INCR", "ERR"}, {"LPUSH", "WRONGTYPE"}},
		},
		{
			name:    "empty lines and *0 are no commands",
			cmds:    "\r\n*0\r\nPING\r\n",
			replies: "+PONG\r\n",
			want:    []call{{"PING", ""}},
		},
		{
			name:    "transaction",
			cmds:    "MULTI\r\nINCR a\r\nBOGUS x\r\nEXEC\r\nMULTI\r\nSET a 1\r\nLPUSH a x\r\nEXEC\r\nMULTI\r\nDISCARD\r\n",
			replies: "+OK\r\n+QUEUED\r\n-ERR unknown command 'BOGUS'\r\n-EXECABORT Transaction discarded because of previous errors.\r\n+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n-WRONGTYPE x\r\n+OK\r\n+OK\r\n",
			want:    []call{{"MULTI", ""}, {"INCR", ""}, {"OTHER", "ERR"}, {"EXEC", "EXECABORT"}, {"MULTI", ""}, {"SET", ""}, {"LPUSH", ""}, {"EXEC", ""}, {"MULTI", ""}, {"DISCARD", ""}},
		},
		{
			name: "RESP2 subscriber mode",
			cmds: "SUBSCRIBE a b\r\nPSUBSCRIBE p*\r\nPING\r\nGET k\r\nUNSUBSCRIBE\r\nPUNSUBSCRIBE\r\nGET k\r\n",
			replies: "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n" +
				"*3\r\n$7\r\nmessage\r\n$1\r\nb\r\n$2\r\nhi\r\n*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n*4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npx\r\n$1\r\nm\r\n" +
				"*2\r\n$4\r\npong\r\n$0\r\n\r\n-ERR Can't execute 'get'\r\n" +
				"*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:2\r\n*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n" +
				"*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n$-1\r\n",
			want: []call{{"SUBSCRIBE", ""}, {"PSUBSCRIBE", ""}, {"PING", ""}, {"GET", "ERR"}, {"UNSUBSCRIBE", ""}, {"PUNSUBSCRIBE", ""}, {"GET", ""}},
		},
		{
			name:    "RESP2 unsubscribe from nothing",
			cmds:    "UNSUBSCRIBE\r\nGET k\r\n",
			replies: "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n$-1\r\n",
			want:    []call{{"UNSUBSCRIBE", ""}, {"GET", ""}},
		},
		{
			name:    "RESP2 shard channels",
			cmds:    "SSUBSCRIBE s t\r\nSUNSUBSCRIBE\r\nPING\r\n",
			replies: "*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n*3\r\n$10\r\nssubscribe\r\n$1\r\nt\r\n:2\r\n*3\r\n$8\r\nsmessage\r\n$1\r\ns\r\n$1\r\nm\r\n*3\r\n$12\r\nsunsubscribe\r\n$1\r\ns\r\n:1\r\n*3\r\n$12\r\nsunsubscribe\r\n$1\r\nt\r\n:0\r\n+PONG\r\n",
			want:    []call{{"SSUBSCRIBE", ""}, {"SUNSUBSCRIBE", ""}, {"PING", ""}},
		},
		{
			name:    "RESP2 arrays that look like pub/sub when not subscribed",
			cmds:    "LRANGE l 0 -1\r\nLRANGE m 0 -1\r\n",
			replies: "*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nx\r\n$1\r\ny\r\n",
			want:    []call{{"LRANGE", ""}, {"LRANGE", ""}},
		},
		{
			name: "RESP3 pushes are out of band",
			cmds: "HELLO 3\r\nSUBSCRIBE a\r\nGET k\r\nLRANGE l 0 -1\r\nUNSUBSCRIBE a\r\n",
			replies: "%1\r\n$5\r\nproto\r\n:3\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n_\r\n" +
				">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n*3\r\n$7\r\nmessage\r\n$1\r\nx\r\n$1\r\ny\r\n>3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n",
			want: []call{{"HELLO", ""}, {"SUBSCRIBE", ""}, {"GET", ""}, {"LRANGE", ""}, {"UNSUBSCRIBE", ""}},
		},
		{
			name:    "RESP3 push inside EXEC",
			cmds:    "HELLO 3\r\nMULTI\r\nSUBSCRIBE z\r\nEXEC\r\nPING\r\n",
			replies: "%0\r\n+OK\r\n+QUEUED\r\n*1\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nz\r\n:1\r\n+PONG\r\n",
			want:    []call{{"HELLO", ""}, {"MULTI", ""}, {"SUBSCRIBE", ""}, {"EXEC", ""}, {"PING", ""}},
		},
		{
			name:    "HELLO 2 and RESET go back to RESP2",
			cmds:    "HELLO 3\r\nRESET\r\nSUBSCRIBE a\r\nPING\r\nRESET\r\nHELLO 3\r\nHELLO 2\r\nSUBSCRIBE b\r\nPING\r\n",
			replies: "%0\r\n+RESET\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n+RESET\r\n%0\r\n*0\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:1\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n",
			want:    []call{{"HELLO", ""}, {"RESET", ""}, {"SUBSCRIBE", ""}, {"PING", ""}, {"RESET", ""}, {"HELLO", ""}, {"HELLO", ""}, {"SUBSCRIBE", ""}, {"PING", ""}},
		},
		{
			name:      "AUTH is timed, its arguments never kept",
			cmds:      "AUTH s3cr3t-pw\r\n*3\r\n$4\r\nAUTH\r\n$7\r\ndefault\r\n$10\r\ns3cr3t-pw2\r\nHELLO 3 AUTH default s3cr3t-pw3\r\n",
			replies:   "-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n%0\r\n",
			want:      []call{{"AUTH", "WRONGPASS"}, {"AUTH", ""}, {"HELLO", ""}},
			forbidden: "s3cr3t",
		},
		{
			name:    "MONITOR relays the stream untimed",
			cmds:    "PING\r\nMONITOR\r\nGET x\r\n",
			replies: "+PONG\r\n+OK\r\n+1700000000.123456 [0 127.0.0.1:5555] \"get\" \"x\"\r\n$-1\r\nnot RESP at all\r\n",
			want:    []call{{"PING", ""}, {"MONITOR", ""}},
			relayed: true,
		},
		{
			name:    "CLIENT REPLY OFF stops decoding",
			cmds:    "SET a 1\r\nCLIENT REPLY OFF\r\nSET b 2\r\nCLIENT REPLY ON\r\nGET a\r\n",
			replies: "+OK\r\n+OK\r\n$1\r\n1\r\n",
			want:    []call{{"SET", ""}},
			failed:  1, relayed: true,
		},
		{
			name:    "a command protocol violation stops decoding after the replies due",
			cmds:    "GET a\r\n*1\r\n:x\r\nGET b\r\n",
			replies: "$-1\r\n-ERR Protocol error: expected '$', got ':'\r\n",
			want:    []call{{"GET", ""}},
			failed:  1, relayed: true,
		},
		{
			name:    "unbalanced quotes are answered, then relayed",
			cmds:    "GET a\r\nSET \"a\r\n",
			replies: "$-1\r\n-ERR Protocol error: unbalanced quotes in request\r\n",
			want:    []call{{"GET", ""}, {"SET", "ERR"}},
			failed:  1, relayed: true,
		},
		{
			name:    "a reply protocol violation",
			cmds:    "GET a\r\nGET b\r\n",
			replies: "$-1\r\n?weird\r\n$-1\r\n",
			want:    []call{{"GET", ""}, {"GET", "undecoded"}}, // every begun call is finished
			failed:  1, relayed: true,
		},
		{
			name:    "a reply that answers no command",
			cmds:    "GET a\r\n",
			replies: "$-1\r\n-ERR max number of clients reached\r\n",
			want:    []call{{"GET", ""}},
			failed:  1, relayed: true,
		},
		{
			name:    "the connection ends before a reply",
			cmds:    "GET a\r\nBLPOP q 0\r\n",
			replies: "$-1\r\n",
			want:    []call{{"GET", ""}, {"BLPOP", "closed"}},
		},
		{
			name:    "big values",
			cmds:    "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$70000\r\n" + strings.Repeat("v", 70000) + "\r\nGET k\r\n",
			replies: "+OK\r\n$70000\r\n" + strings.Repeat("v", 70000) + "\r\n",
			want:    []call{{"SET", ""}, {"GET", ""}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, "127.0.0.1:6379")
			if relayed := replay(t, r, tc.cmds, tc.replies); relayed != tc.relayed {
				t.Errorf("relayed at the end: %v, want %v", relayed, tc.relayed)
			}
			if got := r.calls(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("calls %v, want %v", got, tc.want)
			}
			if got := r.decodeErrors(); got != tc.failed {
				t.Errorf("decode errors %v, want %v", got, tc.failed)
			}
			// The session ended: no connection is open in either state.
			if d, rl := r.gauge("decoded"), r.gauge("relayed"); d != 0 || rl != 0 {
				t.Errorf("connections decoded=%v relayed=%v after the end", d, rl)
			}
			if tc.forbidden != "" && strings.Contains(r.everything(), tc.forbidden) {
				t.Errorf("%q appears in the telemetry:\n%s", tc.forbidden, r.everything())
			}
		})
	}
}

// TestSessionSplitAtEveryByte: however the streams are cut into reads,
// the same calls are timed.
func TestSessionSplitAtEveryByte(t *testing.T) {
	cmds := "HELLO 3\r\nSET k v\r\nMULTI\r\nINCR n\r\nEXEC\r\nSUBSCRIBE a b\r\nGET k\r\nUNSUBSCRIBE\r\nHELLO 2\r\nPSUBSCRIBE p*\r\nPING\r\nPUNSUBSCRIBE\r\nGET k\r\n"
	replies := "%1\r\n$5\r\nproto\r\n:3\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n:1\r\n" +
		">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n>3\r\n$7\r\nmessage\r\n$1\r\na\r\n$1\r\nm\r\n$1\r\nv\r\n" +
		">3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:0\r\n*2\r\n$5\r\nproto\r\n:2\r\n" +
		"*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:1\r\n*4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npx\r\n$1\r\nm\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n" +
		"*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n$1\r\nv\r\n"
	want := []call{{"HELLO", ""}, {"SET", ""}, {"MULTI", ""}, {"INCR", ""}, {"EXEC", ""}, {"SUBSCRIBE", ""}, {"GET", ""},
		{"UNSUBSCRIBE", ""}, {"HELLO", ""}, {"PSUBSCRIBE", ""}, {"PING", ""}, {"PUNSUBSCRIBE", ""}, {"GET", ""}}
	for k := 0; k < max(len(cmds), len(replies)); k++ {
		r := newRig(t, "127.0.0.1:6379")
		s := newSession(r.b)
		var cout, rout bytes.Buffer
		s.runCommands(&cout, &splitReader{data: []byte(cmds), k: k})
		s.runReplies(&rout, &splitReader{data: []byte(replies), k: k})
		s.close()
		if got := r.calls(); !reflect.DeepEqual(got, want) || r.decodeErrors() != 0 {
			t.Fatalf("split at %d: calls %v (%v decode errors), want %v", k, got, r.decodeErrors(), want)
		}
		if cout.String() != cmds || rout.String() != replies {
			t.Fatalf("split at %d: the streams changed", k)
		}
	}
}

// TestSessionBatches: with spans for pipelines (the sidecar's default),
// the commands one read completed make one span — db.operation.name
// "BATCH <op>" when they share an operation, else "BATCH", the first
// error's type, db.operation.batch.size — from the first command's start
// to the last reply, while each command is still timed on its own; a
// command alone in its read, a setup command and a (P|S)(UN)SUBSCRIBE
// keep spans of their own, and the spans end in the order of the replies.
func TestSessionBatches(t *testing.T) {
	for _, tc := range []struct {
		name       string
		cmds       []string // the app's reads
		replies    string
		want       []call
		sizes      []int64
		timed      map[string]uint64 // operation!outcome → count
		notBatched bool
	}{
		{
			name:    "one read, one operation",
			cmds:    []string{"GET a\r\nGET b\r\nGET c\r\n"},
			replies: "$1\r\n1\r\n$-1\r\n$1\r\n3\r\n",
			want:    []call{{"BATCH GET", ""}},
			sizes:   []int64{3},
			timed:   map[string]uint64{"GET!ok": 3},
		},
		{
			name:    "mixed operations, the first error",
			cmds:    []string{"SET a 1\r\nINCR s\r\nLPUSH a x\r\nGET a\r\n"},
			replies: "+OK\r\n-ERR value is not an integer\r\n-WRONGTYPE Operation against a key\r\n$1\r\n1\r\n",
			want:    []call{{"BATCH", "ERR"}},
			sizes:   []int64{4},
			timed:   map[string]uint64{"SET!ok": 1, "INCR!error": 1, "LPUSH!error": 1, "GET!ok": 1},
		},
		{
			name:    "two reads, two pipelines; a command alone",
			cmds:    []string{"GET a\r\nGET b\r\n", "SET a 1\r\nSET b 2\r\n", "PING\r\n"},
			replies: "$-1\r\n$-1\r\n+OK\r\n+OK\r\n+PONG\r\n",
			want:    []call{{"BATCH GET", ""}, {"BATCH SET", ""}, {"PING", ""}},
			sizes:   []int64{2, 2, 1},
			timed:   map[string]uint64{"GET!ok": 2, "SET!ok": 2, "PING!ok": 1},
		},
		{
			name:    "setup commands and a subscription keep their spans",
			cmds:    []string{"HELLO 3\r\nCLIENT SETNAME x\r\nGET a\r\nGET b\r\nSUBSCRIBE c\r\nUNSUBSCRIBE\r\n"},
			replies: "%1\r\n$5\r\nproto\r\n:3\r\n+OK\r\n$-1\r\n$-1\r\n>3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n>3\r\n$11\r\nunsubscribe\r\n$1\r\nc\r\n:0\r\n",
			want:    []call{{"HELLO", ""}, {"CLIENT", ""}, {"BATCH GET", ""}, {"SUBSCRIBE", ""}, {"UNSUBSCRIBE", ""}},
			sizes:   []int64{1, 1, 2, 1, 1},
			timed:   map[string]uint64{"HELLO!ok": 1, "CLIENT!ok": 1, "GET!ok": 2, "SUBSCRIBE!ok": 1, "UNSUBSCRIBE!ok": 1},
		},
		{
			name:    "the connection ends inside a pipeline",
			cmds:    []string{"GET a\r\nBLPOP q 0\r\n"},
			replies: "$-1\r\n",
			want:    []call{{"BATCH", "closed"}},
			sizes:   []int64{2},
			timed:   map[string]uint64{"GET!ok": 1, "BLPOP!error": 1},
		},
		{
			name:       "with a span for every call",
			cmds:       []string{"GET a\r\nGET b\r\n"},
			replies:    "$-1\r\n$-1\r\n",
			want:       []call{{"GET", ""}, {"GET", ""}},
			sizes:      []int64{1, 1},
			timed:      map[string]uint64{"GET!ok": 2},
			notBatched: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBatchRig(t, "127.0.0.1:6379")
			if tc.notBatched {
				r = newRig(t, "127.0.0.1:6379")
			}
			s := newSession(r.b)
			var cout, rout bytes.Buffer
			s.runCommands(&cout, &readsReader{reads: tc.cmds})
			s.runReplies(&rout, strings.NewReader(tc.replies))
			s.close()
			if got := r.calls(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("spans %v, want %v", got, tc.want)
			}
			if got := r.batchSizes(); !reflect.DeepEqual(got, tc.sizes) {
				t.Errorf("batch sizes %v, want %v", got, tc.sizes)
			}
			for k, want := range tc.timed {
				op, outcome, _ := strings.Cut(k, "!")
				if got := r.timed(op, outcome); got != want {
					t.Errorf("%s timed %d times, want %d", k, got, want)
				}
			}
			if cout.String() != strings.Join(tc.cmds, "") || rout.String() != tc.replies {
				t.Errorf("the streams changed")
			}
		})
	}
}

// readsReader returns each of reads in one Read.
type readsReader struct {
	reads []string
}

func (r *readsReader) Read(p []byte) (int, error) {
	if len(r.reads) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.reads[0])
	if n == len(r.reads[0]) {
		r.reads = r.reads[1:]
	} else {
		r.reads[0] = r.reads[0][n:]
	}
	return n, nil
}

// TestSessionBatchesSplitAtEveryByte: with pipeline spans, however the
// streams are cut into reads, every command is timed once with its
// outcome, and no span is left unended.
func TestSessionBatchesSplitAtEveryByte(t *testing.T) {
	cmds := "HELLO 3\r\nSET k v\r\nMULTI\r\nINCR n\r\nEXEC\r\nGET k\r\nGET j\r\nSUBSCRIBE a\r\nUNSUBSCRIBE\r\nPING\r\nGET k\r\n"
	replies := "%1\r\n$5\r\nproto\r\n:3\r\n+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n:1\r\n$1\r\nv\r\n$-1\r\n" +
		">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n>3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n+PONG\r\n$1\r\nv\r\n"
	want := map[string]uint64{"HELLO": 1, "SET": 1, "MULTI": 1, "INCR": 1, "EXEC": 1, "GET": 3, "SUBSCRIBE": 1, "UNSUBSCRIBE": 1, "PING": 1}
	for k := 0; k < max(len(cmds), len(replies)); k++ {
		r := newBatchRig(t, "127.0.0.1:6379")
		s := newSession(r.b)
		var cout, rout bytes.Buffer
		s.runCommands(&cout, &splitReader{data: []byte(cmds), k: k})
		s.runReplies(&rout, &splitReader{data: []byte(replies), k: k})
		s.close()
		var spanned int64
		for _, n := range r.batchSizes() {
			spanned += n
		}
		if spanned != 11 || r.decodeErrors() != 0 {
			t.Fatalf("split at %d: spans stand for %d commands (%v decode errors), want 11: %v", k, spanned, r.decodeErrors(), r.calls())
		}
		for op, n := range want {
			if got := r.timed(op, "ok"); got != n {
				t.Fatalf("split at %d: %s timed %d times, want %d", k, op, got, n)
			}
		}
		if cout.String() != cmds || rout.String() != replies {
			t.Fatalf("split at %d: the streams changed", k)
		}
	}
}
