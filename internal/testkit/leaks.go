package testkit

import (
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// leakWait bounds how long VerifyNoLeaks waits for the tests' goroutines
// to end after the last test: long enough for servers shutting down and
// connections being closed, short enough that a real leak fails fast.
const leakWait = 5 * time.Second

// leakIgnored are the background goroutines a test binary may hold
// without a leak: started once per process by a library, never stopped,
// and not owned by any test. Keep the list short and explicit.
var leakIgnored = []goleak.Option{
	// klog (under client-go, the injector's and charts' Kubernetes
	// clients) starts its flush daemon at init.
	goleak.IgnoreAnyFunction("k8s.io/klog/v2.(*flushDaemon).run.func1"),
}

// VerifyNoLeaks runs the package's tests and, when they pass, waits up to
// 5 s for every goroutine they started to end, then fails the run
// (exit 1) listing the stacks of those still running: a server not
// stopped, a goroutine without a stop. The testing framework's, the
// runtime's and os/signal's goroutines are not counted (goleak's
// defaults), nor the library goroutines in leakIgnored; net/http's idle
// keep-alive connections of the default transport are closed first.
// Teardown functions (stopping servers shared by the package's tests) run
// after the tests, before the check. Use it as the package's TestMain:
//
//	func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }
func VerifyNoLeaks(m *testing.M, teardown ...func()) {
	code := m.Run()
	for _, f := range teardown {
		f()
	}
	if code == 0 {
		if err := findLeaks(leakWait); err != nil {
			fmt.Fprintf(os.Stderr, "testkit.VerifyNoLeaks: goroutines still running %v after the tests:\n%v\n", leakWait, err)
			code = 1
		}
	}
	os.Exit(code)
}

// findLeaks polls for leaked goroutines until there are none or wait has
// passed, and returns goleak's description of the last ones seen.
func findLeaks(wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for {
		http.DefaultTransport.(*http.Transport).CloseIdleConnections()
		err := goleak.Find(leakIgnored...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
