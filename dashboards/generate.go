package dashboards

// Rewrite the committed JSON files (dashboards/generated and
// charts/hopscope/dashboards) from the code.
//go:generate go run ./cmd/gen
