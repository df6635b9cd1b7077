//go:build !cluster

package main

import (
	"testing"

	"github.com/hopscope/hopscope/internal/testkit"
)

// TestMain fails the run of the untagged tests if they leave goroutines
// behind (with -tags cluster, cluster_test.go's TestMain runs instead).
func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }
