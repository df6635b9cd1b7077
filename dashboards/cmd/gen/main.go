// Command gen writes hopscope's Grafana dashboards as JSON files.
//
// Run it from anywhere inside the module, by `go generate ./dashboards` or
// `go run ./dashboards/cmd/gen`. By default it writes the export flavour
// (__inputs, for Grafana's import) into dashboards/generated and the
// provisioned flavour (data source variables, for file provisioning and
// the Grafana sidecar) into charts/hopscope/dashboards, as the repository
// commits them (dashboards.Outputs). -export-dir and -provisioned-dir name
// other directories, relative to the module root unless absolute; an empty
// one is skipped. -cadvisor-selector and -ksm-selector set the defaults of
// the dashboards' cadvisor_job and ksm_job variables: write files made
// with other values elsewhere than the committed directories, whose tests
// expect the defaults.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/hopscope/hopscope/dashboards"
	"github.com/hopscope/hopscope/internal/modroot"
)

func main() {
	o := dashboards.DefaultOptions()
	dirs := map[dashboards.Flavour]*string{}
	for _, out := range dashboards.Outputs {
		dirs[out.Flavour] = flag.String(out.Flavour.String()+"-dir", out.Dir,
			"directory to write the "+out.Flavour.String()+" flavour into, relative to the module root unless absolute; empty: not written")
	}
	flag.StringVar(&o.CAdvisorSelector, "cadvisor-selector", o.CAdvisorSelector,
		"label matchers, without braces, of the kubelet's cAdvisor scrape: the cadvisor_job variable's default")
	flag.StringVar(&o.KSMSelector, "ksm-selector", o.KSMSelector,
		"label matchers, without braces, of kube-state-metrics' scrape: the ksm_job variable's default")
	flag.Parse()
	if err := run(o, dirs); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(o dashboards.Options, dirs map[dashboards.Flavour]*string) error {
	ds, err := dashboards.Build(o)
	if err != nil {
		return err
	}
	root, err := modroot.FromWorkingDir()
	if err != nil {
		return err
	}
	for _, f := range []dashboards.Flavour{dashboards.Export, dashboards.Provisioned} {
		dir := *dirs[f]
		if dir == "" {
			continue
		}
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(root, dir)
		}
		if err := dashboards.Write(dir, ds, f); err != nil {
			return fmt.Errorf("writing the %s flavour: %w", f, err)
		}
		fmt.Printf("wrote %d dashboards (%s flavour) to %s\n", len(ds), f, dir)
	}
	return nil
}
