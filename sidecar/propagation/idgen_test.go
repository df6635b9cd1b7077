package propagation

import (
	"context"
	"encoding/binary"
	"testing"
	"time"
)

func TestNewTraceIDIsAValidXRayRoot(t *testing.T) {
	before := time.Now().Unix()
	tid, sid := IDGenerator{}.NewIDs(context.Background())
	after := time.Now().Unix()
	if !tid.IsValid() || !sid.IsValid() {
		t.Fatal("invalid ids")
	}
	sec := int64(binary.BigEndian.Uint32(tid[:4]))
	if sec < before || sec > after {
		t.Fatalf("trace id time part %d not within [%d,%d]", sec, before, after)
	}
	other, _ := IDGenerator{}.NewIDs(context.Background())
	if other == tid {
		t.Fatal("two new trace ids are equal")
	}
}
