package redisproxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// gotCommand is a decoded command as the tests compare it.
type gotCommand struct {
	Op        string
	Nargs     int
	ReplyOff  bool
	BadQuotes bool
}

// decodeCommands decodes every command of r; end is "eof" or "protocol"
// or the error.
func decodeCommands(r io.Reader, size int) (cmds []gotCommand, end string) {
	d := cmdDecoder{br: bufio.NewReaderSize(r, size)}
	for {
		c, ok, err := d.next()
		if err != nil {
			switch {
			case errors.Is(err, errProtocol):
				return cmds, "protocol"
			case err == io.EOF:
				return cmds, "eof"
			}
			return cmds, err.Error()
		}
		if ok {
			cmds = append(cmds, gotCommand{opNames[c.op], int(c.nargs), c.replyOff, c.badQuotes})
		}
	}
}

func TestCommandDecoder(t *testing.T) {
	big := strings.Repeat("v", 40000)
	for _, tc := range []struct {
		name string
		in   string
		want []gotCommand
		end  string
	}{
		{"multibulk", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n*3\r\n$3\r\nset\r\n$1\r\nk\r\n$1\r\nv\r\n", []gotCommand{{"GET", 1, false, false}, {"SET", 2, false, false}}, "eof"},
		{"mixed case", "*1\r\n$4\r\nPiNg\r\n", []gotCommand{{"PING", 0, false, false}}, "eof"},
		{"unknown name", "*2\r\n$6\r\nFT.ADD\r\n$1\r\nx\r\n", []gotCommand{{"OTHER", 1, false, false}}, "eof"},
		{"name longer than any command", "*1\r\n$30\r\nGEORADIUSBYMEMBER_ROXXXXXXXXXX\r\n", []gotCommand{{"OTHER", 0, false, false}}, "eof"},
		{"empty name", "*1\r\n$0\r\n\r\n", []gotCommand{{"OTHER", 0, false, false}}, "eof"},
		{"container keeps first word", "*3\r\n$6\r\nconfig\r\n$3\r\nget\r\n$4\r\nsave\r\n*2\r\n$6\r\nXGROUP\r\n$4\r\nHELP\r\n", []gotCommand{{"CONFIG", 2, false, false}, {"XGROUP", 1, false, false}}, "eof"},
		{"big argument", "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$40000\r\n" + big + "\r\n*1\r\n$4\r\nPING\r\n", []gotCommand{{"SET", 2, false, false}, {"PING", 0, false, false}}, "eof"},
		{"client reply off", "*3\r\n$6\r\nCLIENT\r\n$5\r\nreply\r\n$3\r\noff\r\n", []gotCommand{{"CLIENT", 2, true, false}}, "eof"},
		{"client reply skip", "*3\r\n$6\r\nclient\r\n$5\r\nREPLY\r\n$4\r\nSKIP\r\n", []gotCommand{{"CLIENT", 2, true, false}}, "eof"},
		{"client reply on", "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$2\r\nON\r\n", []gotCommand{{"CLIENT", 2, false, false}}, "eof"},
		{"client reply offx", "*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$9\r\nOFFXXXXXX\r\n", []gotCommand{{"CLIENT", 2, false, false}}, "eof"},
		{"client list", "*2\r\n$6\r\nCLIENT\r\n$4\r\nLIST\r\n", []gotCommand{{"CLIENT", 1, false, false}}, "eof"},
		{"auth arguments are not kept", "*3\r\n$4\r\nAUTH\r\n$4\r\nuser\r\n$6\r\nsecret\r\n", []gotCommand{{"AUTH", 2, false, false}}, "eof"},
		{"empty multibulk is no command", "*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n", []gotCommand{{"PING", 0, false, false}}, "eof"},
		{"inline", "PING\r\nset k v\r\n", []gotCommand{{"PING", 0, false, false}, {"SET", 2, false, false}}, "eof"},
		{"inline LF only", "get k\n", []gotCommand{{"GET", 1, false, false}}, "eof"},
		{"inline empty lines", "\r\n   \r\n\n\t\r\nPING\r\n", []gotCommand{{"PING", 0, false, false}}, "eof"},
		{"inline quotes", "SET \"a b\" 'c d' e\"f g\"\r\n", []gotCommand{{"SET", 3, false, false}}, "eof"},
		{"inline text after a closing quote", "SET \"a b\"c\r\n", []gotCommand{{"SET", 1, false, true}}, "eof"},
		{"inline quoted name", "\"get\" k\r\n", []gotCommand{{"GET", 1, false, false}}, "eof"},
		{"inline escapes", "SET \"a\\\"b\\x41\" 'it\\'s'\r\n", []gotCommand{{"SET", 2, false, false}}, "eof"},
		{"inline unbalanced", "SET \"a b\r\nPING\r\n", []gotCommand{{"SET", 1, false, true}, {"PING", 0, false, false}}, "eof"},
		{"inline quote must end the argument", "SET \"a\"b\r\n", []gotCommand{{"SET", 1, false, true}}, "eof"},
		{"inline NUL", "GET\x00 k l\r\n", nil, "protocol"},
		{"inline NUL after bad quotes", "SET \"a\"b\x00\r\n", nil, "protocol"},
		{"inline CR inside quotes", "SET \"a\rb\" c\r\n", []gotCommand{{"SET", 2, false, false}}, "eof"},
		{"inline CR before LF ends quotes", "SET \"a\r\n", []gotCommand{{"SET", 1, false, true}}, "eof"},
		{"inline client reply off", "client reply off\r\n", []gotCommand{{"CLIENT", 2, true, false}}, "eof"},
		{"inline subscribe", "SUBSCRIBE a b c\r\n", []gotCommand{{"SUBSCRIBE", 3, false, false}}, "eof"},
		{"inline longer than the buffer", "SUBSCRIBE " + strings.Repeat("ch ", 20000) + "\r\nPING\r\n", []gotCommand{{"SUBSCRIBE", 20000, false, false}, {"PING", 0, false, false}}, "eof"},
		{"bad count", "*x\r\n", nil, "protocol"},
		{"plus count", "*+1\r\n", nil, "protocol"},
		{"leading zero", "*01\r\n", nil, "protocol"},
		{"not a bulk", "*1\r\n:1\r\n", nil, "protocol"},
		{"negative bulk", "*1\r\n$-1\r\n", nil, "protocol"},
		{"LF without CR", "*1\n$4\r\nPING\r\n", nil, "protocol"},
		{"cut", "*2\r\n$3\r\nGET\r\n$1\r\n", nil, "unexpected EOF"},
		{"inline cut", "PING", nil, "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, end := decodeCommands(strings.NewReader(tc.in), 1024)
			if !reflect.DeepEqual(got, tc.want) || end != tc.end {
				t.Errorf("got %v, %s; want %v, %s", got, end, tc.want, tc.end)
			}
		})
	}
}

// pipeline is a stream of every kind of command.
var pipeline = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n" +
	"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n" +
	"PING\r\n" +
	"*0\r\n" +
	"*1\r\n$5\r\nMULTI\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*1\r\n$4\r\nEXEC\r\n" +
	"  hset h \"f 1\" 'v'  \r\n" +
	"*3\r\n$5\r\nBLPOP\r\n$1\r\nl\r\n$1\r\n0\r\n" +
	"*4\r\n$9\r\nSUBSCRIBE\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n" +
	"*3\r\n$6\r\nCLIENT\r\n$5\r\nREPLY\r\n$3\r\nOFF\r\n"

// splitReader returns its data in two reads, split at k.
type splitReader struct {
	data []byte
	k    int
}

func (s *splitReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := len(s.data)
	if s.k > 0 {
		n = s.k
		s.k = 0
	}
	n = copy(p, s.data[:min(n, len(s.data))])
	s.data = s.data[n:]
	return n, nil
}

func TestCommandsSplitAtEveryByte(t *testing.T) {
	want, end := decodeCommands(strings.NewReader(pipeline), 4096)
	if end != "eof" || len(want) != 10 {
		t.Fatalf("whole pipeline: %v %s", want, end)
	}
	for k := 1; k < len(pipeline); k++ {
		got, end := decodeCommands(&splitReader{data: []byte(pipeline), k: k}, 4096)
		if !reflect.DeepEqual(got, want) || end != "eof" {
			t.Fatalf("split at %d: %v %s, want %v", k, got, end, want)
		}
	}
	// One byte per read, and the smallest buffer bufio allows.
	got, end := decodeCommands(iotest.OneByteReader(strings.NewReader(pipeline)), 16)
	if !reflect.DeepEqual(got, want) || end != "eof" {
		t.Fatalf("one byte at a time: %v %s, want %v", got, end, want)
	}
}

// gotReply is a decoded reply as the tests compare it.
type gotReply struct {
	Typ   string
	Err   string
	Kind  uint8
	Count int64
}

func (r gotReply) String() string {
	return fmt.Sprintf("{%s %q kind=%d count=%d}", r.Typ, r.Err, r.Kind, r.Count)
}

func decodeReplies(r io.Reader, size int) (replies []gotReply, end string) {
	d := replyDecoder{br: bufio.NewReaderSize(r, size)}
	for {
		rep, err := d.next()
		if err != nil {
			switch {
			case errors.Is(err, errProtocol):
				return replies, "protocol"
			case err == io.EOF:
				return replies, "eof"
			}
			return replies, err.Error()
		}
		c := int64(-1)
		if rep.hasCount {
			c = rep.count
		}
		replies = append(replies, gotReply{string(rep.typ), rep.err, rep.kind, c})
	}
}

func TestReplyDecoder(t *testing.T) {
	long := strings.Repeat("x", 3000)
	for _, tc := range []struct {
		name string
		in   string
		want []gotReply
		end  string
	}{
		{"simple string", "+OK\r\n+\r\n", []gotReply{{"+", "", 0, -1}, {"+", "", 0, -1}}, "eof"},
		{"errors", "-ERR unknown command\r\n-WRONGTYPE Operation against a key\r\n-NOAUTH Authentication required.\r\n-MOVED 3999 127.0.0.1:6381\r\n-weird thing\r\n-\r\n",
			[]gotReply{{"-", "ERR", 0, -1}, {"-", "WRONGTYPE", 0, -1}, {"-", "NOAUTH", 0, -1}, {"-", "MOVED", 0, -1}, {"-", "OTHER", 0, -1}, {"-", "OTHER", 0, -1}}, "eof"},
		{"integer", ":1000\r\n:-1\r\n", []gotReply{{":", "", 0, -1}, {":", "", 0, -1}}, "eof"},
		{"bulk strings", "$5\r\nhello\r\n$0\r\n\r\n$-1\r\n$" + fmt.Sprint(len(long)) + "\r\n" + long + "\r\n",
			[]gotReply{{"$", "", 0, -1}, {"$", "", 0, -1}, {"$", "", 0, -1}, {"$", "", 0, -1}}, "eof"},
		{"binary bulk with CRLF inside", "$4\r\n\r\n\r\n\r\n", []gotReply{{"$", "", 0, -1}}, "eof"},
		{"arrays", "*2\r\n$3\r\nfoo\r\n:1\r\n*0\r\n*-1\r\n*2\r\n*1\r\n+a\r\n*0\r\n",
			[]gotReply{{"*", "", 0, -1}, {"*", "", 0, -1}, {"*", "", 0, -1}, {"*", "", 0, -1}}, "eof"},
		{"EXEC with an error inside", "*2\r\n+OK\r\n-WRONGTYPE x\r\n", []gotReply{{"*", "", 0, -1}}, "eof"},
		{"RESP3 scalars", "_\r\n#t\r\n#f\r\n,1.23\r\n,inf\r\n(3492890328409238509324850943850943825024385\r\n",
			[]gotReply{{"_", "", 0, -1}, {"#", "", 0, -1}, {"#", "", 0, -1}, {",", "", 0, -1}, {",", "", 0, -1}, {"(", "", 0, -1}}, "eof"},
		{"blob error", "!21\r\nSYNTAX invalid syntax\r\n", []gotReply{{"!", "OTHER", 0, -1}}, "eof"},
		{"blob error known", "!9\r\nERR x\r\nyz\r\n", []gotReply{{"!", "ERR", 0, -1}}, "eof"},
		{"verbatim", "=15\r\ntxt:Some string\r\n", []gotReply{{"=", "", 0, -1}}, "eof"},
		{"map and set", "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n~3\r\n+a\r\n+b\r\n+c\r\n%0\r\n",
			[]gotReply{{"%", "", 0, -1}, {"~", "", 0, -1}, {"%", "", 0, -1}}, "eof"},
		{"attribute before a value", "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n",
			[]gotReply{{"*", "", 0, -1}}, "eof"},
		{"attribute inside an array", "*3\r\n$7\r\nmessage\r\n|1\r\n+ttl\r\n:3600\r\n:7\r\n:9\r\n", []gotReply{{"*", "", pushMessage, 9}}, "eof"},
		{"empty attribute", "|0\r\n+OK\r\n", []gotReply{{"+", "", 0, -1}}, "eof"},
		{"push", ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n", []gotReply{{">", "", pushMessage, -1}}, "eof"},
		{"push confirmation", ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n", []gotReply{{">", "", kindSubscribe, 1}}, "eof"},
		{"push invalidate", ">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nkey\r\n", []gotReply{{">", "", pushNone, -1}}, "eof"},
		{"RESP2 confirmations", "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n*4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npx\r\n$1\r\nm\r\n",
			[]gotReply{{"*", "", kindUnsubscribe, 0}, {"*", "", kindPSubscribe, 3}, {"*", "", pushMessage, -1}}, "eof"},
		{"RESP2 pong in subscriber mode", "*2\r\n$4\r\npong\r\n$0\r\n\r\n", []gotReply{{"*", "", pushNone, -1}}, "eof"},
		{"nested kinds are not classified", "*1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n", []gotReply{{"*", "", pushNone, -1}}, "eof"},
		{"streamed string", "$?\r\n;4\r\nHell\r\n;5\r\no wor\r\n;1\r\nd\r\n;0\r\n+OK\r\n", []gotReply{{"$", "", 0, -1}, {"+", "", 0, -1}}, "eof"},
		{"streamed aggregates", "*?\r\n:1\r\n*?\r\n+a\r\n.\r\n%?\r\n+k\r\n+v\r\n.\r\n.\r\n~?\r\n.\r\n",
			[]gotReply{{"*", "", 0, -1}, {"~", "", 0, -1}}, "eof"},
		{"long simple string", "+" + strings.Repeat("s", 5000) + "\r\n:1\r\n", []gotReply{{"+", "", 0, -1}, {":", "", 0, -1}}, "eof"},
		{"long error", "-NOSCRIPT " + strings.Repeat("e", 5000) + "\r\n", []gotReply{{"-", "NOSCRIPT", 0, -1}}, "eof"},
		{"unknown type", "?\r\n", nil, "protocol"},
		{"inline text", "hello\r\n", nil, "protocol"},
		{"bulk without CRLF", "$3\r\nfooXX", nil, "protocol"},
		{"bad length", "$abc\r\n", nil, "protocol"},
		{"length below -1", "*-2\r\n", nil, "protocol"},
		{"end marker at top", ".\r\n", nil, "protocol"},
		{"end marker in a counted array", "*2\r\n:1\r\n.\r\n", nil, "protocol"},
		{"chunk outside a streamed string", ";3\r\nabc\r\n", nil, "protocol"},
		{"streamed attribute", "|?\r\n", nil, "protocol"},
		{"LF without CR", "+OK\n", nil, "protocol"},
		{"long line without CR", "+" + strings.Repeat("s", 5000) + "\n", nil, "protocol"},
		{"too deep", strings.Repeat("*1\r\n", maxDepth+1) + ":1\r\n", nil, "protocol"},
		{"cut", "*2\r\n:1\r\n", []gotReply(nil), "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, end := decodeReplies(strings.NewReader(tc.in), 1024)
			if !reflect.DeepEqual(got, tc.want) || end != tc.end {
				t.Errorf("got %v, %s; want %v, %s", got, end, tc.want, tc.end)
			}
		})
	}
}

// replyStream has every RESP type.
var replyStream = "+OK\r\n-ERR e\r\n:1\r\n$3\r\nfoo\r\n$-1\r\n*2\r\n$1\r\na\r\n*-1\r\n" +
	"%1\r\n+k\r\n~2\r\n:1\r\n:2\r\n_\r\n#t\r\n,3.14\r\n(12345678901234567890\r\n" +
	"!10\r\nERR a\r\nb c\r\n=7\r\ntxt:abc\r\n|1\r\n+a\r\n+b\r\n+after-attr\r\n" +
	">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n$?\r\n;2\r\nab\r\n;0\r\n*?\r\n:1\r\n.\r\n" +
	"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nhi\r\n"

func TestRepliesSplitAtEveryByte(t *testing.T) {
	want, end := decodeReplies(strings.NewReader(replyStream), 4096)
	if end != "eof" || len(want) != 18 {
		t.Fatalf("whole stream: %d %v %s", len(want), want, end)
	}
	for k := 1; k < len(replyStream); k++ {
		got, end := decodeReplies(&splitReader{data: []byte(replyStream), k: k}, 4096)
		if !reflect.DeepEqual(got, want) || end != "eof" {
			t.Fatalf("split at %d: %v %s, want %v", k, got, end, want)
		}
	}
	got, end := decodeReplies(iotest.OneByteReader(strings.NewReader(replyStream)), 16)
	if !reflect.DeepEqual(got, want) || end != "eof" {
		t.Fatalf("one byte at a time: %v %s, want %v", got, end, want)
	}
}

func TestParseInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"7", 7, true}, {"-1", -1, true}, {"9223372036854775807", 1<<63 - 1, true},
		{"-9223372036854775808", -1 << 63, true}, {"9223372036854775808", 0, false},
		{"99999999999999999999", 0, false}, {"", 0, false}, {"-", 0, false}, {"-0", 0, false},
		{"01", 0, false}, {"+1", 0, false}, {"1a", 0, false}, {" 1", 0, false},
	} {
		got, ok := parseInt([]byte(tc.in))
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLookupsDoNotAllocate(t *testing.T) {
	name := []byte("georadiusbymember_ro")
	var buf [maxNameLen]byte
	allocs := testing.AllocsPerRun(100, func() {
		if opNames[lookupOp(upperInto(buf[:], name))] != "GEORADIUSBYMEMBER_RO" {
			t.Fatal("lookup")
		}
		if errorType([]byte("WRONGTYPE Operation")) != "WRONGTYPE" {
			t.Fatal("error type")
		}
		if pushKind([]byte("punsubscribe")) != kindPUnsubscribe {
			t.Fatal("push kind")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per lookup", allocs)
	}
	if !bytes.Equal(upperInto(buf[:3], []byte("aZ-x")), []byte("AZ-")) {
		t.Error("upperInto cuts to dst")
	}
}
