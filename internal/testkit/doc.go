// Package testkit holds helpers shared by hopscope's tests: loopback
// servers that misbehave on purpose (a black hole that accepts and never
// reads, an address nothing listens on) and a listener whose connections
// are handled by a function and all closed when the test ends. Only test
// files import it; it is not linked into the product.
package testkit
