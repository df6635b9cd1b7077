package testkit

import "testing"

func TestMain(m *testing.M) { VerifyNoLeaks(m) }
