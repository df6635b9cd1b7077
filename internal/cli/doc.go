// Package cli is the process plumbing every hopscope command shares —
// `hopscope <subcommand>` and the slim `hopscope-sidecar` alike: loading a
// configuration from flags, HOPSCOPE_* variables and a YAML file with
// errors that name the flag, the exit codes, signal handling (a first
// SIGTERM drains, a second stops at once), the JSON diagnostic logger,
// library output on stderr turned into JSON lines, and the process
// metrics registry. It holds no component, so a binary that imports it
// links only what it runs.
package cli
