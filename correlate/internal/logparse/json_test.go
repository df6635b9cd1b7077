package logparse

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

var jsonKeys = []string{"duration", "path", "code", "n"}

// reference reads the keys as encoding/json does: the reference
// JSONFields is checked against.
func reference(line string, keys []string) ([]string, bool) {
	var obj map[string]json.RawMessage
	if !json.Valid([]byte(line)) || json.Unmarshal([]byte(line), &obj) != nil || obj == nil {
		return nil, false
	}
	out := make([]string, len(keys))
	for i, k := range keys {
		raw, ok := obj[k]
		if !ok {
			continue
		}
		raw = bytes.TrimSpace(raw)
		switch raw[0] {
		case '"':
			json.Unmarshal(raw, &out[i])
		case 'n':
		case 't', 'f', '{', '[':
			return nil, false
		default:
			out[i] = string(raw)
		}
	}
	return out, true
}

func TestJSONFields(t *testing.T) {
	for _, tt := range []struct {
		line    string
		want    []string
		wantErr string
	}{
		{`{"duration":"37","path":"/a\/b\u00e9","code":200,"n":null,"x":{"y":[1,true,null,"z"]}}`, []string{"37", "/a/bé", "200", ""}, ""},
		{` {"code":-1.5e3} `, []string{"", "", "-1.5e3", ""}, ""},
		{`{"code":1,"code":"2"}`, []string{"", "", "2", ""}, ""},
		{`{"code":true,"code":"2"}`, []string{"", "", "2", ""}, ""},
		{`{"code":"2","code":[]}`, nil, `field "code"`},
		{`{"path":"\ud83d\ude00 \ud83d"}`, []string{"", "😀 \uFFFD", "", ""}, ""},
		{`{}`, []string{"", "", "", ""}, ""},
		{`null`, nil, "invalid JSON at byte 0: want an object"},
		{`[1]`, nil, "invalid JSON"},
		{`{"code":01}`, nil, "invalid JSON"},
		{`{"code":1.}`, nil, "invalid JSON"},
		{`{"code":"a` + "\x01" + `"}`, nil, "control character"},
		{`{"code":"\x"}`, nil, "invalid escape"},
		{`{"code":true}`, nil, `field "code": want a string, a number or null`},
		{`{"code":{}}`, nil, `field "code"`},
		{`{"x":tru}`, nil, "invalid JSON"},
		{`{"x":1,}`, nil, "invalid JSON"},
		{`{"x":1} {}`, nil, "text after the object"},
		{`{"x":` + strings.Repeat("[", 70) + strings.Repeat("]", 70) + `}`, nil, "nested too deeply"},
	} {
		got, err := JSONFields(tt.line, jsonKeys)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("JSONFields(%q) = %q, %v; want error %q", tt.line, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("JSONFields(%q) = %q, %v; want %q", tt.line, got, err, tt.want)
		}
	}
}

// FuzzJSONFields checks JSONFields against encoding/json: what it accepts
// is valid JSON and, in valid UTF-8, holds the values encoding/json reads;
// what encoding/json reads as an object with scalar values (nested at most
// 64 deep) it accepts.
func FuzzJSONFields(f *testing.F) {
	f.Add(`{"duration":"37","path":"/x","code":200,"n":null}`)
	f.Fuzz(func(t *testing.T, line string) {
		got, err := JSONFields(line, jsonKeys)
		want, ok := reference(line, jsonKeys)
		if err == nil {
			if !json.Valid([]byte(line)) {
				t.Fatalf("accepted invalid JSON %q", line)
			}
			if utf8.ValidString(line) && (!ok || !reflect.DeepEqual(got, want)) {
				t.Fatalf("JSONFields(%q) = %q; encoding/json reads %q (%v)", line, got, want, ok)
			}
			return
		}
		if ok && !strings.Contains(err.Error(), "nested too deeply") {
			t.Fatalf("JSONFields(%q): %v; encoding/json reads %q", line, err, want)
		}
	})
}
