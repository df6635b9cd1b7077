package backend

import (
	"testing"

	"github.com/hopscope/hopscope/internal/contract"
	"github.com/hopscope/hopscope/internal/contract/contracttest"
)

// TestRecorderRegistersTheContract checks that the backend proxies'
// Recorder registers exactly the contract's backend metrics, with their
// types.
func TestRecorderRegistersTheContract(t *testing.T) {
	rec := &contracttest.Recorder{}
	if _, err := NewRecorder(Options{Registerer: rec}); err != nil {
		t.Fatal(err)
	}
	if err := contracttest.Compare(rec, contract.MetricsOf(contract.PartBackend)); err != nil {
		t.Error(err)
	}
}
