// Package peers lets one replica of a scaled-out collector answer for all
// of them: it finds the other replicas (the A records of a headless
// Service, or a fixed list) and asks each the same API question, at once
// and bounded in time. Each replica owns the traces the gateway routes to
// it (docs/scaling.md); a question about a trace, or the recent
// breakdowns, goes to every replica and the answers are merged by the
// caller.
package peers
