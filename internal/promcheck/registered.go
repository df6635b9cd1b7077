package promcheck

import (
	"fmt"
	"reflect"
	"regexp"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"

	"github.com/hopscope/hopscope/collector"
	"github.com/hopscope/hopscope/sidecar"
	"github.com/hopscope/hopscope/sidecar/backend"
)

// Registered returns every series name the sidecar and the collector
// expose on /metrics (with the _bucket, _sum and _count series of
// histograms and summaries), mapped to the part that exposes it. It builds
// both with their default configuration on recording registries — nothing
// listens — and adds the Go and process collectors that `hopscope` serves
// beside them.
func Registered() (map[string]string, error) {
	out := map[string]string{}
	for _, part := range []struct {
		name string
		make func(prometheus.Registerer) error
	}{
		{"sidecar", func(r prometheus.Registerer) error {
			// With a backend proxy, so its hopscope_backend_* metrics are
			// listed too (nothing listens before Start).
			cfg := sidecar.DefaultConfig()
			cfg.Backends = []backend.Config{{Name: "api", Kind: backend.KindHTTP, Listen: "127.0.0.1:0", Target: "http://127.0.0.1:1"}}
			_, err := sidecar.New(cfg, sidecar.Options{Registerer: r, Gatherer: prometheus.NewRegistry()})
			return err
		}},
		{"collector", func(r prometheus.Registerer) error {
			_, err := collector.New(collector.DefaultConfig(), collector.Options{Registerer: r, Gatherer: prometheus.NewRegistry()})
			return err
		}},
		{"process", func(r prometheus.Registerer) error {
			r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
			return nil
		}},
	} {
		rec := &recorder{}
		if err := part.make(rec); err != nil {
			return nil, fmt.Errorf("building the %s to list its metrics: %w", part.name, err)
		}
		for _, d := range rec.descs {
			for _, n := range d.series() {
				out[n] = part.name
			}
		}
	}
	return out, nil
}

// recorder is a Registerer that keeps the descriptions it is given.
type recorder struct{ descs []desc }

type desc struct {
	name string
	typ  string // "histogram", "summary" or "" (counter, gauge, untyped)
}

func (d desc) series() []string {
	switch d.typ {
	case "histogram":
		return []string{d.name + "_bucket", d.name + "_sum", d.name + "_count"}
	case "summary":
		return []string{d.name, d.name + "_sum", d.name + "_count"}
	}
	return []string{d.name}
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

func (r *recorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc, 64)
	go func() { c.Describe(ch); close(ch) }()
	var names []string
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			return fmt.Errorf("unreadable metric description %s", d)
		}
		names = append(names, m[1])
	}
	types := typesOf(c)
	for _, n := range names {
		r.descs = append(r.descs, desc{name: n, typ: types[n]})
	}
	return nil
}

func (r *recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

func (r *recorder) Unregister(prometheus.Collector) bool { return false }

// typesOf returns the type of each metric c describes: from the vector's
// Go type (a vector without children collects nothing), else from what it
// collects.
func typesOf(c prometheus.Collector) map[string]string {
	out := map[string]string{}
	vecType := ""
	switch concreteType(c) {
	case reflect.TypeFor[*prometheus.HistogramVec]():
		vecType = "histogram"
	case reflect.TypeFor[*prometheus.SummaryVec]():
		vecType = "summary"
	}
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
		case pb.Histogram != nil:
			out[name[1]] = "histogram"
		case pb.Summary != nil:
			out[name[1]] = "summary"
		}
	}
	return out
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
