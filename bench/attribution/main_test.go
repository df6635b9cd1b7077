package main

import (
	"testing"

	"github.com/hopscope/hopscope/internal/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }
