package harness

import (
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
)

// Median is the middle value of xs, the mean of the two middle ones for an
// even count, 0 for none. xs is left as it is.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Pick is f of every element of xs, for Median and friends.
func Pick[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// FmtK writes a count or rate short: 812, 24.4k, 1.23M.
func FmtK(x float64) string {
	switch {
	case math.Abs(x) >= 1e6:
		return fmt.Sprintf("%.2fM", x/1e6)
	case math.Abs(x) >= 1e3:
		return fmt.Sprintf("%.1fk", x/1e3)
	}
	return fmt.Sprintf("%.0f", x)
}

// FmtMiB writes a size in KiB as MiB: 14.4 MiB.
func FmtMiB(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// FmtRatio writes a ratio as 1.23×, or "-" for 0 (not known).
func FmtRatio(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", x)
}

// NewTable is a tabwriter for the reports' tables: columns two spaces
// apart, right-aligned; every cell ends with a tab. Flush it at the end.
func NewTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
}

// PrintNotes writes the report's closing list of warnings, if any.
func PrintNotes(w io.Writer, notes []string) {
	if len(notes) == 0 {
		return
	}
	fmt.Fprintln(w, "\nnotes:")
	for _, n := range notes {
		fmt.Fprintf(w, "  - %s\n", n)
	}
}
