package beacon

import "testing"

func BenchmarkParse(b *testing.B) {
	for _, bm := range []struct {
		name string
		body []byte
	}{
		{"rum.js", []byte(rumJSBeacon)},
		{"chromium-toJSON", readFixture(b, "chromium-https-tojson.json")},
	} {
		b.Run(bm.name, func(b *testing.B) {
			lim := DefaultLimits()
			b.SetBytes(int64(len(bm.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse(bm.body, lim); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
