package rules

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The cases of prometheus-adapter's pkg/naming TestBuildSelector and
// TestBuildExternalSelector, given the matchers and group-by labels the
// adapter builds, and hopscope's own queries.
func TestFillMetricsQuery(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tmpl     string
		series   string
		matchers []string
		groupBy  []string
		want     string
	}{
		{"series", `series <<.Series>>`, "foo", nil, nil, "series foo"},
		{"multiple LabelMatchers values", `<<.LabelMatchers>>`, "", []string{`resource=~"bar|baz"`}, []string{"resource"}, `resource=~"bar|baz"`},
		{"LabelMatchers with additional metrics filter", `<<.LabelMatchers>>`, "", []string{`metric1="value1"`, `resource="bar"`}, []string{"resource"}, `metric1="value1",resource="bar"`},
		{"single LabelValuesByName value", `<<index .LabelValuesByName "resource">>`, "", []string{`resource="bar"`}, []string{"resource"}, "bar"},
		{"multiple LabelValuesByName values with namespace", `<<index .LabelValuesByName "namespaces">> <<index .LabelValuesByName "resource">>`, "",
			[]string{`namespaces="default"`, `resource=~"bar|baz"`}, []string{"resource"}, "default bar|baz"},
		{"LabelValuesByName map", `<<.LabelValuesByName>>`, "", []string{`foo=~"bar|baz"`}, nil, "map[foo:bar|baz]"},
		{"multiple GroupBy values", `<<.GroupBy>>`, "", nil, []string{"resource", "extra", "groups"}, "resource,extra,groups"},
		{"multiple GroupBySlice values", `<<.GroupBySlice>>`, "", nil, []string{"resource", "extra", "groups"}, "[resource extra groups]"},
		{"hopscope_requests_per_second", AdapterRules()[0].MetricsQuery, "hopscope_requests_total",
			[]string{`namespace="shop"`, `pod=~"shop-1|shop-2"`}, []string{"pod"},
			`sum(rate(hopscope_requests_total{namespace="shop",pod=~"shop-1|shop-2",direction="inbound"}[2m])) by (pod) or ` +
				`sum(hopscope_inflight_requests{namespace="shop",pod=~"shop-1|shop-2",direction="inbound"}) by (pod) * 0`},
		{"hopscope_inflight_requests", AdapterRules()[1].MetricsQuery, "hopscope_inflight_requests",
			[]string{`namespace="shop"`, `pod="shop-1"`}, []string{"pod"},
			`sum(hopscope_inflight_requests{namespace="shop",pod="shop-1",direction="inbound"}) by (pod)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FillMetricsQuery(tc.tmpl, tc.series, tc.matchers, tc.groupBy)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("FillMetricsQuery(%q) = %q, want %q", tc.tmpl, got, tc.want)
			}
		})
	}
}

func TestFillMetricsQueryErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		tmpl     string
		matchers []string
		want     string
	}{
		{"unparsable template", `sum(<<.Series>)`, nil, "unable to parse metrics query template"},
		{"unknown field", `<<.Nope>>`, nil, "Nope"},
		{"empty result", `<<.GroupBy>>`, nil, "empty query"},
		{"matcher without operator", `<<.Series>>`, []string{`namespace`}, "label matcher"},
		{"unquoted value", `<<.Series>>`, []string{`namespace=shop`}, "not a quoted string"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FillMetricsQuery(tc.tmpl, "x", tc.matchers, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestAdapterConfig(t *testing.T) {
	data, err := AdapterConfig()
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Rules []AdapterRule `yaml:"rules"`
	}
	if err := strictUnmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Rules, AdapterRules()) {
		t.Errorf("decoded rules %+v, want %+v", cfg.Rules, AdapterRules())
	}
	as := map[string]bool{}
	for _, r := range cfg.Rules {
		as[r.Name.As] = true
		for label, res := range map[string]string{"namespace": "namespace", "pod": "pod"} {
			if got := r.Resources.Overrides[label]; got != (AdapterResource{Resource: res}) {
				t.Errorf("%s: resources.overrides.%s = %+v, want {resource: %s}", r.Name.As, label, got, res)
			}
		}
		if !strings.Contains(r.SeriesQuery, `direction="inbound"`) || !strings.Contains(r.MetricsQuery, `direction="inbound"`) {
			t.Errorf("%s does not select inbound requests", r.Name.As)
		}
	}
	for _, name := range []string{"hopscope_requests_per_second", "hopscope_inflight_requests"} {
		if !as[name] {
			t.Errorf("no adapter rule exposes %s", name)
		}
	}
}

func TestExampleHPA(t *testing.T) {
	data, err := ExampleHPA("shop", "shop", "50")
	if err != nil {
		t.Fatal(err)
	}
	var hpa manifest[hpaSpec]
	if err := strictUnmarshal(data, &hpa); err != nil {
		t.Fatal(err)
	}
	if hpa.APIVersion != "autoscaling/v2" || hpa.Kind != "HorizontalPodAutoscaler" {
		t.Errorf("apiVersion/kind = %s/%s", hpa.APIVersion, hpa.Kind)
	}
	if hpa.Metadata.Name != "shop" || hpa.Metadata.Namespace != "shop" {
		t.Errorf("metadata = %+v", hpa.Metadata)
	}
	if want := (crossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "shop"}); hpa.Spec.ScaleTargetRef != want {
		t.Errorf("scaleTargetRef = %+v, want %+v", hpa.Spec.ScaleTargetRef, want)
	}
	if hpa.Spec.MinReplicas < 1 || hpa.Spec.MaxReplicas < hpa.Spec.MinReplicas {
		t.Errorf("replicas %d..%d", hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
	}
	if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Type != "Pods" || hpa.Spec.Metrics[0].Pods == nil {
		t.Fatalf("metrics = %+v, want one of type Pods", hpa.Spec.Metrics)
	}
	p := hpa.Spec.Metrics[0].Pods
	if p.Metric.Name != "hopscope_requests_per_second" {
		t.Errorf("metric name = %q", p.Metric.Name)
	}
	if p.Target != (metricTarget{Type: "AverageValue", AverageValue: "50"}) {
		t.Errorf("target = %+v, want AverageValue 50", p.Target)
	}
	// A quantity is a string in the API: written quoted, not as a YAML
	// integer.
	if !strings.Contains(string(data), `averageValue: "50"`) {
		t.Errorf("averageValue not written as a string:\n%s", data)
	}
}

func TestExampleHPAErrors(t *testing.T) {
	for _, tc := range []struct{ ns, deploy, target string }{
		{"", "shop", "50"},
		{"shop", "", "50"},
		{"shop", "shop", ""},
		{"shop", "shop", "fifty"},
		{"shop", "shop", "50 rps"},
	} {
		if _, err := ExampleHPA(tc.ns, tc.deploy, tc.target); err == nil {
			t.Errorf("ExampleHPA(%q, %q, %q): no error", tc.ns, tc.deploy, tc.target)
		}
	}
	for _, target := range []string{"50", "500m", "1.5", "2k"} {
		if _, err := ExampleHPA("shop", "shop", target); err != nil {
			t.Errorf("ExampleHPA target %q: %v", target, err)
		}
	}
}

// TestAdapterQueryCountsIdlePods runs the filled hopscope_requests_per_second
// query in the real promtool: a pod that has served requests reports their
// rate, and a pod that has served none yet (no series of the counter, only
// its sidecar's in-flight gauge) reports 0 rather than nothing — the HPA
// counts a pod without a value at its target when scaling down, and kept
// an idle new pod in the real cluster's HPA subtest.
func TestAdapterQueryCountsIdlePods(t *testing.T) {
	q, err := FillMetricsQuery(AdapterRules()[0].MetricsQuery, "hopscope_requests_total",
		[]string{`namespace="shop"`, `pod=~"shop-1|shop-2"`}, []string{"pod"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "empty.yaml"), []byte("groups: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	test := fmt.Sprintf(`rule_files: [empty.yaml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'hopscope_requests_total{namespace="shop",pod="shop-1",direction="inbound",route="/api/orders/{id}",code="200"}'
        values: '0+120x10'
      - series: 'hopscope_inflight_requests{namespace="shop",pod="shop-1",direction="inbound"}'
        values: '1x10'
      - series: 'hopscope_inflight_requests{namespace="shop",pod="shop-2",direction="inbound"}'
        values: '0x10'
      - series: 'hopscope_inflight_requests{namespace="shop",pod="shop-3",direction="inbound"}'
        values: '0x10'
    promql_expr_test:
      - expr: %q
        eval_time: 10m
        exp_samples:
          - labels: '{pod="shop-1"}'
            value: 2
          - labels: '{pod="shop-2"}'
            value: 0
`, q)
	if err := os.WriteFile(filepath.Join(dir, "adapter.test.yaml"), []byte(test), 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "test", "rules", filepath.Join(dir, "adapter.test.yaml"))
}
