package tracectx

import (
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestXRayRootTraceID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"1-5759e988-bd862e3fe1be46a994272793", "5759e988bd862e3fe1be46a994272793"},
		{"1-5759E988-BD862E3FE1BE46A994272793", "5759e988bd862e3fe1be46a994272793"},
		{"1-00000000-000000000000000000000001", "00000000000000000000000000000001"},
		{"1-00000000-000000000000000000000000", ""},
		{"2-5759e988-bd862e3fe1be46a994272793", ""},
		{"1-5759e988bd862e3fe1be46a994272793", ""},
		{"1-5759e98g-bd862e3fe1be46a994272793", ""},
		{" 1-5759e988-bd862e3fe1be46a994272793", ""},
		{"", ""},
	} {
		got, ok := XRayRootTraceID(tc.in)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%q: %q, %v; want %q", tc.in, got, ok, tc.want)
		}
	}
}

// FuzzXRayRootTraceID: an accepted Root is 1-<8 hex>-<24 hex>, not all
// zeros, and its trace id is its hex digits in lower case.
func FuzzXRayRootTraceID(f *testing.F) {
	for _, s := range []string{"1-5759e988-bd862e3fe1be46a994272793", "1-5759E988-BD862E3FE1BE46A994272793", "1-00000000-000000000000000000000000", "1-x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := XRayRootTraceID(s)
		parts := strings.Split(s, "-")
		want := len(parts) == 3 && parts[0] == "1" && len(parts[1]) == 8 && len(parts[2]) == 24 &&
			IsLowerHex(strings.ToLower(parts[1]+parts[2])) && strings.Trim(parts[1]+parts[2], "0") != ""
		if ok != want {
			t.Fatalf("%q: accepted %v, the reference says %v", s, ok, want)
		}
		if ok && id != strings.ToLower(parts[1]+parts[2]) {
			t.Fatalf("%q: trace id %q", s, id)
		}
		// The three views of one walk agree.
		if err := CheckXRayRoot(s); (err == nil) != ok {
			t.Fatalf("%q: CheckXRayRoot %v but accepted %v", s, err, ok)
		}
		if b, bok := XRayRootID(s); bok != ok || ok && hex.EncodeToString(b[:]) != id {
			t.Fatalf("%q: XRayRootID %x, %v; want %s", s, b, bok, id)
		}
	})
}

// TestCheckXRayRoot: the reason names what is wrong, through errors.Is
// where the caller may branch on it.
func TestCheckXRayRoot(t *testing.T) {
	for _, tc := range []struct {
		in      string
		is      error  // nil: no sentinel
		message string // in the error
	}{
		{"1-5759e988-bd862e3fe1be46a994272793", nil, ""},
		{"1-5759e988-bd862e3fe1be46a99427279", nil, "35 characters"},
		{"2-5759e988-bd862e3fe1be46a994272793", ErrXRayVersion, "version"},
		{"1-5759e988xbd862e3fe1be46a994272793", nil, "'-' after"},
		{"1-5759e98g-bd862e3fe1be46a994272793", ErrBadHex, "hex"},
		{"1-00000000-000000000000000000000000", ErrZeroID, "zeros"},
	} {
		err := CheckXRayRoot(tc.in)
		if tc.message == "" {
			if err != nil {
				t.Errorf("%q: %v, want valid", tc.in, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.message) || !strings.Contains(err.Error(), tc.in) {
			t.Errorf("%q: %v, want an error quoting it and saying %q", tc.in, err, tc.message)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%q: %v is not %v", tc.in, err, tc.is)
		}
	}
}

func TestCheckHexIDAndDecodeHex(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // decoded, lower case; "" when CheckHexID fails
		is   error
	}{
		{"53995c3f42cd8ad8", "53995c3f42cd8ad8", nil},
		{"53995C3F42CD8AD8", "53995c3f42cd8ad8", nil},
		{"0000000000000000", "", ErrZeroID},
		{"53995c3f42cd8ad", "", nil},
		{"53995c3f42cd8adz", "", ErrBadHex},
	} {
		err := CheckHexID(tc.in, 8)
		var b [8]byte
		ok := DecodeHex(b[:], tc.in)
		if tc.want != "" {
			if err != nil || !ok || hex.EncodeToString(b[:]) != tc.want {
				t.Errorf("%q: %v, decoded %x %v; want %s", tc.in, err, b, ok, tc.want)
			}
			continue
		}
		if err == nil || tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("%q: %v, want an error (%v)", tc.in, err, tc.is)
		}
		if tc.is == ErrZeroID != ok { // all zeros still decodes
			t.Errorf("%q: DecodeHex %v", tc.in, ok)
		}
	}
}

func TestXRayHeaderRoot(t *testing.T) {
	const root = "1-5759e988-bd862e3fe1be46a994272793"
	for _, tc := range []struct{ name, in, want string }{
		{"full header", "Root=" + root + ";Parent=53995c3f42cd8ad8;Sampled=1", root},
		{"ALB Self first", "Self=1-67891233-12456789abcdef012345678;Root=" + root, root},
		{"case kept", "Root=1-5759E988-BD862E3FE1BE46A994272793", "1-5759E988-BD862E3FE1BE46A994272793"},
		{"spaces and tabs around", " Root =\t" + root + " ;Sampled=?", root},
		{"a malformed Root before a good one", "Root=1-6789;Root=" + root, root},
		{"key is case-sensitive", "root=" + root, ""},
		{"no-break space is not white space", "Root=\u00a0" + root, ""},
		{"all-zero trace id", "Root=1-00000000-000000000000000000000000", ""},
		{"no Root", "Parent=53995c3f42cd8ad8", ""},
		{"empty", "", ""},
	} {
		if got := XRayHeaderRoot(tc.in); got != tc.want {
			t.Errorf("%s: XRayHeaderRoot(%q) = %q, want %q", tc.name, tc.in, got, tc.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { XRayHeaderRoot("Self=1-67891233-12456789abcdef012345678;Root=" + root) }); n != 0 {
		t.Errorf("XRayHeaderRoot allocates %v times", n)
	}
}

// FuzzXRayHeaderRoot: what is returned is a valid Root found as a Root
// field of the input.
func FuzzXRayHeaderRoot(f *testing.F) {
	for _, s := range []string{"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
		"Self=1-67891233-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678", "Root=1-6789;Root=x", " Root =\t1-5759e988-bd862e3fe1be46a994272793 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := XRayHeaderRoot(s)
		if r == "" {
			return
		}
		if !ValidXRayRoot(r) || !strings.Contains(s, r) {
			t.Fatalf("%q: returned %q", s, r)
		}
	})
}
