package endpoint

import "testing"

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want OTLP
		err  bool
	}{
		{"http://collector:4318", OTLP{Target: "http://collector:4318/v1/traces"}, false},
		{"http://collector:4318/", OTLP{Target: "http://collector:4318/v1/traces"}, false},
		{"https://collector:4318/custom", OTLP{TLS: true, Target: "https://collector:4318/custom"}, false},
		{"grpc://collector:4317", OTLP{GRPC: true, Target: "collector:4317"}, false},
		{"grpcs://collector:4317", OTLP{GRPC: true, TLS: true, Target: "collector:4317"}, false},
		{"tcp://collector:4317", OTLP{}, true},
		{"collector:4317", OTLP{}, true},
		{"http://", OTLP{}, true},
	} {
		got, err := Parse(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("Parse(%q) = %+v, %v", tt.in, got, err)
		}
	}
}
