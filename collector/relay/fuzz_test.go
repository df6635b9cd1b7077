package relay

import (
	"testing"
	"time"
)

// FuzzDecode: any bytes a sender posts to /v1/logs decode without panic;
// what decodes encodes and decodes again to the same records.
func FuzzDecode(f *testing.F) {
	items := recordedRecords(f)
	for i := range items {
		b, err := Encode(items[i:i+1], time.Unix(0, 0))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, bad, firstErr, err := Decode(body)
		if err != nil {
			return
		}
		if bad > 0 && firstErr == nil {
			t.Fatalf("%d bad without a reason", bad)
		}
		again, err := Encode(got, time.Unix(0, 0))
		if err != nil {
			t.Fatalf("re-encoding decoded records: %v", err)
		}
		back, bad2, _, err := Decode(again)
		if err != nil || bad2 != 0 || len(back) != len(got) {
			t.Fatalf("re-decoding: %v, %d bad, %d of %d", err, bad2, len(back), len(got))
		}
	})
}
