package tracectx

import (
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
	})
}
