//go:build e2e

package e2e

import (
	"testing"

	"github.com/hopscope/hopscope/internal/testkit"
)

// TestMain fails the end-to-end run if its tests leave goroutines behind:
// a client, a watcher or a log reader of a real component not stopped.
func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }
