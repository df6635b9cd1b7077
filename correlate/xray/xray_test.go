package xray

import (
	"errors"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/internal/tracectx"
)

const (
	albRoot     = "Root=1-67891233-abcdef012345678912345678"
	albSelfRoot = "Self=1-67891233-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678"
	full        = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Header
		wantHex string
		wantErr string // substring of the error; "" means no error
	}{
		{
			name:    "ALB root only",
			in:      albRoot,
			want:    Header{Root: "1-67891233-abcdef012345678912345678"},
			wantHex: "67891233abcdef012345678912345678",
		},
		{
			name:    "ALB self and root, self not validated",
			in:      albSelfRoot,
			want:    Header{Root: "1-67891233-abcdef012345678912345678", Self: "1-67891233-12456789abcdef012345678"},
			wantHex: "67891233abcdef012345678912345678",
		},
		{
			name:    "full form",
			in:      full,
			want:    Header{Root: "1-5759e988-bd862e3fe1be46a994272793", Parent: "53995c3f42cd8ad8", Sampled: "1"},
			wantHex: "5759e988bd862e3fe1be46a994272793",
		},
		{
			name:    "spaces around fields keys and values",
			in:      "  Root = 1-5759e988-bd862e3fe1be46a994272793 ;\tParent=53995c3f42cd8ad8 ; Sampled=0 ",
			want:    Header{Root: "1-5759e988-bd862e3fe1be46a994272793", Parent: "53995c3f42cd8ad8", Sampled: "0"},
			wantHex: "5759e988bd862e3fe1be46a994272793",
		},
		{
			name:    "sampled question mark, fields in any order",
			in:      "Sampled=?;Parent=53995c3f42cd8ad8;Root=1-5759e988-bd862e3fe1be46a994272793",
			want:    Header{Root: "1-5759e988-bd862e3fe1be46a994272793", Parent: "53995c3f42cd8ad8", Sampled: "?"},
			wantHex: "5759e988bd862e3fe1be46a994272793",
		},
		{
			name:    "lineage kept raw, unknown keys and empty fields ignored",
			in:      "Root=1-5759e988-bd862e3fe1be46a994272793;;Foo=bar;noequals;Lineage=a87bd80c:1|68fd508a:5;",
			want:    Header{Root: "1-5759e988-bd862e3fe1be46a994272793", Lineage: "a87bd80c:1|68fd508a:5"},
			wantHex: "5759e988bd862e3fe1be46a994272793",
		},
		{
			name:    "upper-case hex accepted, TraceIDHex lower case",
			in:      "Root=1-5759E988-BD862E3FE1BE46A994272793;Parent=53995C3F42CD8AD8",
			want:    Header{Root: "1-5759E988-BD862E3FE1BE46A994272793", Parent: "53995C3F42CD8AD8"},
			wantHex: "5759e988bd862e3fe1be46a994272793",
		},
		{
			name:    "value containing '=' kept whole",
			in:      "Root=1-5759e988-bd862e3fe1be46a994272793;Foo=a=b",
			want:    Header{Root: "1-5759e988-bd862e3fe1be46a994272793"},
			wantHex: "5759e988bd862e3fe1be46a994272793",
		},
		{name: "empty", in: "", wantErr: "X-Amzn-Trace-Id: empty header"},
		{name: "blank", in: "  \t ", wantErr: "X-Amzn-Trace-Id: empty header"},
		{name: "no root", in: "Parent=53995c3f42cd8ad8;Sampled=1", wantErr: "X-Amzn-Trace-Id: no Root field"},
		{name: "self only", in: "Self=1-67891233-12456789abcdef012345678", wantErr: "no Root field"},
		{name: "lower-case key is unknown", in: "root=1-5759e988-bd862e3fe1be46a994272793", wantErr: "no Root field"},
		{name: "root empty", in: "Root=", wantErr: "X-Amzn-Trace-Id: Root: \"\""},
		{name: "root short", in: "Root=1-5759e988-bd862e3fe1be46a99427279", wantErr: "Root:"},
		{name: "root long", in: "Root=1-5759e988-bd862e3fe1be46a9942727933", wantErr: "Root:"},
		{name: "root version 2", in: "Root=2-5759e988-bd862e3fe1be46a994272793", wantErr: `Root: "2-5759e988-bd862e3fe1be46a994272793": version is not "1"`},
		{name: "root missing dash", in: "Root=1-5759e988xbd862e3fe1be46a994272793", wantErr: "Root:"},
		{name: "root not hex", in: "Root=1-5759e988-bd862e3fe1be46a99427279g", wantErr: "Root: \"1-5759e988-bd862e3fe1be46a99427279g\": not a hex string"},
		{name: "root W3C form", in: "Root=5759e988bd862e3fe1be46a994272793", wantErr: "Root:"},
		{name: "root all zeros", in: "Root=1-00000000-000000000000000000000000", wantErr: "Root: \"1-00000000-000000000000000000000000\": trace id is all zeros"},
		{name: "parent short", in: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad", wantErr: "X-Amzn-Trace-Id: Parent:"},
		{name: "parent empty", in: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=", wantErr: "Parent:"},
		{name: "parent not hex", in: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8adz", wantErr: "Parent: \"53995c3f42cd8adz\": not a hex string"},
		{name: "parent all zeros", in: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000", wantErr: "Parent: \"0000000000000000\": id is all zeros"},
		{name: "sampled bad", in: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=yes", wantErr: "X-Amzn-Trace-Id: Sampled: \"yes\""},
		{name: "sampled empty", in: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=", wantErr: "Sampled:"},
		{name: "duplicate root", in: albRoot + ";" + albRoot, wantErr: "X-Amzn-Trace-Id: Root: field given more than once"},
		{name: "duplicate parent", in: full + ";Parent=53995c3f42cd8ad8", wantErr: "Parent: field given more than once"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want error containing %q", tt.in, got, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %q, want it to contain %q", tt.in, err, tt.wantErr)
				}
				if got != (Header{}) {
					t.Errorf("Parse(%q) returned %+v with an error, want zero Header", tt.in, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q) error = %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if h := got.TraceIDHex(); h != tt.wantHex {
				t.Errorf("TraceIDHex() = %q, want %q", h, tt.wantHex)
			}
		})
	}
}

func TestParseErrorsAreWrapped(t *testing.T) {
	_, err := Parse("Root=1-00000000-000000000000000000000000")
	if !errors.Is(err, tracectx.ErrZeroID) {
		t.Errorf("error %v does not wrap tracectx.ErrZeroID", err)
	}
	_, err = Parse("Root=1-5759e988-bd862e3fe1be46a99427279x")
	if !errors.Is(err, tracectx.ErrBadHex) {
		t.Errorf("error %v does not wrap tracectx.ErrBadHex", err)
	}
}

func TestTraceID(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		want [16]byte
		hex  string
	}{
		{
			name: "valid",
			h:    Header{Root: "1-5759e988-bd862e3fe1be46a994272793"},
			want: [16]byte{0x57, 0x59, 0xe9, 0x88, 0xbd, 0x86, 0x2e, 0x3f, 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27, 0x27, 0x93},
			hex:  "5759e988bd862e3fe1be46a994272793",
		},
		{name: "zero header", h: Header{}},
		{name: "malformed root", h: Header{Root: "1-5759e988-bd862e3fe1be46a99427279"}},
		{name: "not hex", h: Header{Root: "1-5759e988-bd862e3fe1be46a99427279q"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.TraceID(); got != tt.want {
				t.Errorf("TraceID() = %x, want %x", got, tt.want)
			}
			if got := tt.h.TraceIDHex(); got != tt.hex {
				t.Errorf("TraceIDHex() = %q, want %q", got, tt.hex)
			}
		})
	}
}

func TestParentID(t *testing.T) {
	tests := []struct {
		name   string
		parent string
		want   [8]byte
		wantOK bool
	}{
		{name: "lower case", parent: "53995c3f42cd8ad8", want: [8]byte{0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8}, wantOK: true},
		{name: "upper case", parent: "53995C3F42CD8AD8", want: [8]byte{0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8}, wantOK: true},
		{name: "absent", parent: ""},
		{name: "short", parent: "53995c3f42cd8ad"},
		{name: "not hex", parent: "53995c3f42cd8adx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Header{Parent: tt.parent}.ParentID()
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("ParentID() = (%x, %v), want (%x, %v)", got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestFormat(t *testing.T) {
	tid := [16]byte{0x57, 0x59, 0xe9, 0x88, 0xbd, 0x86, 0x2e, 0x3f, 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27, 0x27, 0x93}
	parent := [8]byte{0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8}
	tests := []struct {
		name    string
		sampled bool
		want    string
	}{
		{name: "sampled", sampled: true, want: full},
		{name: "not sampled", sampled: false, want: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Format(tid, parent, tt.sampled)
			if got != tt.want {
				t.Fatalf("Format() = %q, want %q", got, tt.want)
			}
			if len(got) != formatLen {
				t.Errorf("len = %d, want formatLen %d", len(got), formatLen)
			}
			h, err := Parse(got)
			if err != nil {
				t.Fatalf("Parse(Format()) error = %v", err)
			}
			if h.TraceID() != tid {
				t.Errorf("round trip trace id = %x, want %x", h.TraceID(), tid)
			}
		})
	}
}

func TestParseAllocs(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := Parse(full); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Parse allocates %v times on the happy path, want 0", allocs)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(full); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormat(b *testing.B) {
	tid := [16]byte{0x57, 0x59, 0xe9, 0x88, 0xbd, 0x86, 0x2e, 0x3f, 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27, 0x27, 0x93}
	parent := [8]byte{0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8}
	b.ReportAllocs()
	for b.Loop() {
		_ = Format(tid, parent, true)
	}
}
