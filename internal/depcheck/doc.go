// Package depcheck holds the test that keeps hopscope's packages layered
// (docs/design.md, "The parts"): the collector and correlate do not
// depend on the sidecar, correlate does not depend on the collector, the
// packages under internal/ depend on none of the parts (collector,
// sidecar, injector, dashboards, rules, cmd), and internal/contract on no
// package of the module at all. The rules are listed in depcheck_test.go;
// the package has no code of its own.
package depcheck
