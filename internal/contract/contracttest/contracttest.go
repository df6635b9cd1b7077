// Package contracttest checks that a part registers exactly the metrics
// the contract (internal/contract) lists for it: a test builds the part on
// a Recorder, a prometheus.Registerer that keeps what it is given and
// serves nothing, and compares with Compare.
package contracttest

import (
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/hopscope/hopscope/internal/contract"
)

// Recorder is a prometheus.Registerer that records the metrics registered
// on it, with their types. The zero value is ready.
type Recorder struct {
	metrics map[string]contract.Type
	labels  map[string][]string // sorted, every description's of the name
}

var _ prometheus.Registerer = (*Recorder)(nil)

var (
	fqName = regexp.MustCompile(`fqName: "([^"]+)"`)
	// descLabels matches the end of a description: its constant labels
	// (name="value" pairs) and its variable label names.
	descLabels = regexp.MustCompile(`constLabels: \{(.*)\}, variableLabels: \{([^{}]*)\}\}$`)
	constName  = regexp.MustCompile(`(?:^|,)([a-zA-Z_][a-zA-Z0-9_]*)="`)
)

// labelsOf returns the label names of d: its variable ones (c(name) for a
// constrained one) and its constant ones.
func labelsOf(d string) ([]string, error) {
	m := descLabels.FindStringSubmatch(d)
	if m == nil {
		return nil, fmt.Errorf("unreadable labels in metric description %s", d)
	}
	var out []string
	for _, v := range strings.Split(m[2], ",") {
		if v = strings.TrimSuffix(strings.TrimPrefix(v, "c("), ")"); v != "" {
			out = append(out, v)
		}
	}
	for _, c := range constName.FindAllStringSubmatch(m[1], -1) {
		out = append(out, c[1])
	}
	return out, nil
}

// Register records the metrics c describes.
func (r *Recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	var names []string
	labels := map[string][]string{}
	var bad error
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		ls, err := labelsOf(d.String())
		if m == nil || err != nil {
			bad = fmt.Errorf("unreadable metric description %s", d)
			continue
		}
		names = append(names, m[1])
		labels[m[1]] = append(labels[m[1]], ls...)
	}
	if bad != nil {
		return bad
	}
	types := typesOf(c)
	if r.metrics == nil {
		r.metrics, r.labels = map[string]contract.Type{}, map[string][]string{}
	}
	for _, n := range names {
		t := types[n]
		if t == "" {
			t = Untyped // described but collected nothing
		}
		r.metrics[n] = t
		r.labels[n] = sortedSet(append(r.labels[n], labels[n]...))
	}
	return nil
}

// MustRegister registers cs and panics on an error.
func (r *Recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister does nothing: nothing recorded is forgotten.
func (r *Recorder) Unregister(prometheus.Collector) bool { return false }

// Series returns the names of the series the registered metrics are
// exposed as (a histogram's _bucket, _sum and _count), sorted.
func (r *Recorder) Series() []string {
	var out []string
	for n, t := range r.metrics {
		out = append(out, series(n, t)...)
	}
	sort.Strings(out)
	return out
}

// Compare returns an error naming every series registered on r that want
// does not list, every series of want that was not registered and every
// metric registered with another type or other label names than want's
// (plus common, the labels the part adds to every metric), nil when they
// match.
func Compare(r *Recorder, want []contract.Metric, common ...string) error {
	got := r.Series()
	var exp []string
	for _, m := range want {
		exp = append(exp, m.Series()...)
	}
	sort.Strings(exp)
	var extra, missing []string
	for _, n := range got {
		if !slices.Contains(exp, n) {
			extra = append(extra, n)
		}
	}
	for _, n := range exp {
		if !slices.Contains(got, n) {
			missing = append(missing, n)
		}
	}
	var mistyped []string
	for _, m := range want {
		if t, ok := r.metrics[m.Name]; ok && t != m.Type {
			mistyped = append(mistyped, fmt.Sprintf("%s is a %s, the contract says %s", m.Name, t, m.Type))
		}
		if got, ok := r.labels[m.Name]; ok {
			exp := sortedSet(append(slices.Clone(m.Labels), common...))
			if !slices.Equal(got, exp) {
				mistyped = append(mistyped, fmt.Sprintf("%s has labels %v, the contract says %v", m.Name, got, exp))
			}
		}
	}
	var msgs []string
	msgs = append(msgs, mistyped...)
	if len(extra) > 0 {
		msgs = append(msgs, "registered but not in the contract (internal/contract/metrics.go): "+strings.Join(extra, ", "))
	}
	if len(missing) > 0 {
		msgs = append(msgs, "in the contract but not registered: "+strings.Join(missing, ", "))
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	return nil
}

// typesOf returns the type of each metric c describes: from the vector's
// Go type (a vector without children collects nothing), else from what it
// collects.
func typesOf(c prometheus.Collector) map[string]contract.Type {
	out := map[string]contract.Type{}
	vecType := map[reflect.Type]contract.Type{
		reflect.TypeFor[*prometheus.CounterVec]():   contract.Counter,
		reflect.TypeFor[*prometheus.GaugeVec]():     contract.Gauge,
		reflect.TypeFor[*prometheus.HistogramVec](): contract.Histogram,
		reflect.TypeFor[*prometheus.SummaryVec]():   Summary,
	}[concreteType(c)]
	if vecType != "" {
		ch := make(chan *prometheus.Desc, 8)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if m := fqName.FindStringSubmatch(d.String()); m != nil {
				out[m[1]] = vecType
			}
		}
		return out
	}
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	for m := range ch {
		var pb dto.Metric
		if m.Write(&pb) != nil {
			continue
		}
		name := fqName.FindStringSubmatch(m.Desc().String())
		if name == nil {
			continue
		}
		switch {
		case pb.Counter != nil:
			out[name[1]] = contract.Counter
		case pb.Gauge != nil:
			out[name[1]] = contract.Gauge
		case pb.Histogram != nil:
			out[name[1]] = contract.Histogram
		case pb.Summary != nil:
			out[name[1]] = Summary
		default:
			out[name[1]] = Untyped
		}
	}
	return out
}

// Types the contract does not use but other registered collectors do (the
// Go collector's go_gc_duration_seconds is a summary).
const (
	Summary contract.Type = "summary"
	Untyped contract.Type = "untyped"
)

// series returns the series a metric of type t is exposed as.
func series(name string, t contract.Type) []string {
	if t == Summary {
		return []string{name, name + "_sum", name + "_count"}
	}
	return contract.Metric{Name: name, Type: t}.Series()
}

// concreteType is the type of c, seen through the collectors that
// prometheus.WrapRegistererWith puts around it (the sidecar adds its
// service label so).
func concreteType(c prometheus.Collector) reflect.Type {
	v := reflect.ValueOf(c)
	for v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		inner := v.Elem().FieldByName("wrappedCollector")
		if !inner.IsValid() || inner.Kind() != reflect.Interface || inner.IsNil() {
			break
		}
		v = inner.Elem()
	}
	return v.Type()
}

// sortedSet returns names sorted, without repeats ([] rather than nil).
func sortedSet(names []string) []string {
	out := append([]string{}, names...)
	sort.Strings(out)
	return slices.Compact(out)
}
