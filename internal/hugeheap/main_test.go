package hugeheap

import (
	"testing"

	"github.com/hopscope/hopscope/internal/testkit"
)

// TestMain fails the package's run if its tests leave goroutines behind.
func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }
