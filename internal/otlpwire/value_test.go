package otlpwire

import "testing"

// TestValueText: AppendText, HasText and Is agree with String for every
// type, without making a string of the value.
func TestValueText(t *testing.T) {
	for _, v := range []Value{
		{Type: TypeString, Str: []byte("GET")},
		{Type: TypeString},
		{Type: TypeInt, Int: -42},
		{Type: TypeInt},
		{Type: TypeBool, Bool: true},
		{Type: TypeDouble, Double: 1.5},
		{},
	} {
		s := v.String()
		if got := string(v.AppendText([]byte("x"))); got != "x"+s {
			t.Errorf("%+v: AppendText = %q, want %q", v, got, "x"+s)
		}
		if v.HasText() != (s != "") {
			t.Errorf("%+v: HasText = %v, String %q", v, v.HasText(), s)
		}
		if !v.Is(s) || v.Is(s+"?") {
			t.Errorf("%+v: Is(%q) false or Is(%q) true", v, s, s+"?")
		}
	}
	v := Value{Type: TypeInt, Int: 200}
	if n := testing.AllocsPerRun(100, func() { _ = v.Is("200") || v.HasText() }); n != 0 && !raceEnabled {
		t.Errorf("Is and HasText allocate %.0f times", n)
	}
}
