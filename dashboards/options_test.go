package dashboards

import (
	"strings"
	"testing"

	"github.com/hopscope/hopscope/internal/promcheck"
)

func TestOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    Options
		err  string // empty: valid
	}{
		{"defaults", DefaultOptions(), ""},
		{"no matchers", Options{}, ""},
		{"regex", Options{CAdvisorSelector: `job=~"kubelet|cadvisor"`, KSMSelector: `job="ksm", cluster!=""`}, ""},
		{"braces", Options{CAdvisorSelector: `{job="kubelet"}`}, "-cadvisor-selector"},
		{"not a matcher", Options{KSMSelector: `job`}, "-ksm-selector"},
		{"escape from the selector", Options{KSMSelector: `job="x"}) or vector(1`}, "-ksm-selector"},
		{"metric name", Options{CAdvisorSelector: `__name__="up"`}, "metric name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one with %q", err, tc.err)
			}
			if _, berr := Build(tc.o); (berr == nil) != (err == nil) {
				t.Errorf("Build: %v, Validate: %v", berr, err)
			}
		})
	}
}

// TestSelectorOptions: the options become the text box variables'
// values, and the cAdvisor and kube-state-metrics queries, expanded with
// them, select with those matchers (and none when empty); the hopscope
// series never carry them.
func TestSelectorOptions(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         Options
		cadv, ksm []string
	}{
		{"defaults", DefaultOptions(), []string{`job="kubelet"`, `metrics_path="/metrics/cadvisor"`}, []string{`job="kube-state-metrics"`}},
		{"custom", Options{CAdvisorSelector: `job="cadvisor"`, KSMSelector: `service=~"ksm.*"`}, []string{`job="cadvisor"`}, []string{`service=~"ksm.*"`}},
		{"none", Options{}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := Build(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, d := range ds {
				if d.UID == "hopscope-scaling" && (d.Values[varCAdvisor] != tc.o.CAdvisorSelector || d.Values[varKSM] != tc.o.KSMSelector) {
					t.Errorf("scaling values %v, want %q and %q", d.Values, tc.o.CAdvisorSelector, tc.o.KSMSelector)
				}
				for _, q := range d.Queries {
					expr := q.Expr
					if strings.HasPrefix(q.Panel, "variable ") {
						if expr, err = labelValuesSelector(expr); err != nil {
							t.Fatal(err)
						}
					}
					sels, _, err := selectors(promcheck.Expand(expr, d.Values), nil)
					if err != nil {
						t.Fatalf("%s %s: %v", d.UID, q.Panel, err)
					}
					for _, s := range sels {
						var want, other []string
						switch {
						case strings.HasPrefix(s.Name, "container_"):
							want, other = tc.cadv, tc.ksm
						case strings.HasPrefix(s.Name, "kube_"):
							want, other = tc.ksm, tc.cadv
						default:
							other = append(append(other, tc.cadv...), tc.ksm...)
						}
						seen[s.Name[:strings.Index(s.Name, "_")]]++
						for _, m := range want {
							if !hasMatcher(s, m) {
								t.Errorf("%s %s: %s lacks %s", d.UID, q.Panel, s, m)
							}
						}
						for _, m := range other {
							if hasMatcher(s, m) {
								t.Errorf("%s %s: %s carries %s", d.UID, q.Panel, s, m)
							}
						}
					}
				}
			}
			if seen["container"] == 0 || seen["kube"] == 0 {
				t.Errorf("selectors by prefix %v: want container_ and kube_ series", seen)
			}
		})
	}
}

// FuzzOptions: whatever selectors Validate accepts, every dashboard
// builds and each of its queries, the text box variables expanded as
// Grafana's raw format inserts them, is PromQL.
func FuzzOptions(f *testing.F) {
	def := DefaultOptions()
	f.Add(def.CAdvisorSelector, def.KSMSelector)
	f.Add("", "")
	f.Add(`job=~"kubelet|cadvisor",`, `job!="x"`)
	f.Fuzz(func(t *testing.T, cadvisor, ksm string) {
		o := Options{CAdvisorSelector: cadvisor, KSMSelector: ksm}
		if o.Validate() != nil {
			return
		}
		ds, err := Build(o)
		if err != nil {
			t.Fatalf("Validate accepts %+v, Build fails: %v", o, err)
		}
		for _, d := range ds {
			for _, q := range d.Queries {
				expr := q.Expr
				if strings.HasPrefix(q.Panel, "variable ") {
					if expr, err = labelValuesSelector(expr); err != nil {
						t.Fatal(err)
					}
				}
				if _, _, err := selectors(promcheck.Expand(expr, d.Values), nil); err != nil {
					t.Fatalf("%+v: %s %s: %v", o, d.UID, q.Panel, err)
				}
			}
		}
	})
}
