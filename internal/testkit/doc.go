// Package testkit holds helpers shared by hopscope's tests: loopback
// servers that misbehave on purpose (a black hole that accepts and never
// reads, an address nothing listens on) and a listener whose connections
// are handled by a function and all closed when the test ends;
// Eventually, which waits for a condition instead of a sleep; Golden and
// the module's one -update flag for golden and generated files; and
// VerifyNoLeaks, the TestMain that fails a package's run when its tests
// leave goroutines behind. Only test files import it; it is not linked
// into the product.
package testkit
