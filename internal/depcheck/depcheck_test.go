package depcheck

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/internal/modroot"
)

const module = "github.com/hopscope/hopscope"

// rule forbids the packages under from (module-relative, "x" meaning x
// and x/...; with exact, only x) to depend on any package under one of to
// outside from, directly or through other packages of the module. With
// tests, the imports of from's own test files count too.
type rule struct {
	from  string
	exact bool
	to    []string
	tests bool
	why   string
}

var rules = []rule{
	{from: "collector", to: []string{"sidecar"},
		why: "the collector reads the sidecar's output through the contract (internal/contract), not its code; its tests may drive a real sidecar"},
	{from: "correlate", to: []string{"sidecar", "collector"}, tests: true,
		why: "correlate is a pure library below the collector"},
	{from: "internal", to: []string{"collector", "sidecar", "injector", "dashboards", "rules", "cmd"}, tests: true,
		why: "internal/ holds helpers the parts share: arrows point from the parts down to it, never up"},
	{from: "internal/contract", exact: true, to: []string{""}, tests: true, why: "the contract imports nothing of the project, so every part may import it"},
}

func TestLayers(t *testing.T) {
	root, err := modroot.FromWorkingDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := touchSources(root); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "./...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	imports, testImports := map[string][]string{}, map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			t.Fatalf("go list line %q", line)
		}
		pkg := rel(f[0])
		imports[pkg] = local(strings.Fields(f[1]))
		testImports[pkg] = local(strings.Fields(f[2]))
	}
	if len(imports) < 20 || imports["collector"] == nil {
		t.Fatalf("go list listed %d packages, not the module's", len(imports))
	}
	for _, r := range rules {
		for pkg := range imports {
			if !under(pkg, r.from) || r.exact && pkg != r.from {
				continue
			}
			starts := imports[pkg]
			if r.tests {
				starts = append(slices.Clone(starts), testImports[pkg]...)
			}
			for _, path := range reach(imports, starts) {
				dep := path[len(path)-1]
				if dep == pkg || !r.exact && under(dep, r.from) {
					continue
				}
				for _, to := range r.to {
					if under(dep, to) {
						t.Errorf("%s depends on %s (%s): %s", pkg, dep, strings.Join(path, " → "), r.why)
					}
				}
			}
		}
	}
}

// touchSources stats every Go file of the module, so that go test's cache,
// which sees the files a test opens or stats but not what go list reads,
// runs the test again when an import changes.
func touchSources(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") {
			_, err = os.Stat(path)
		}
		return err
	})
}

// TestRulesBite checks the checker on a made-up graph, so that a broken
// walk cannot pass by finding nothing.
func TestRulesBite(t *testing.T) {
	g := map[string][]string{"collector": {"internal/x"}, "internal/x": {"internal/y"}, "internal/y": {"sidecar/accesslog"}}
	var found []string
	for _, p := range reach(g, g["collector"]) {
		found = append(found, strings.Join(p, " → "))
	}
	if !slices.Contains(found, "internal/x → internal/y → sidecar/accesslog") {
		t.Errorf("reach from collector = %v, want the path to sidecar/accesslog", found)
	}
	if !under("sidecar/accesslog", "sidecar") || under("sidecarx", "sidecar") || !under("sidecar", "") {
		t.Error("under")
	}
}

// reach returns, for every package reachable from starts, one import path
// to it (starting at a package of starts).
func reach(g map[string][]string, starts []string) [][]string {
	seen := map[string]bool{}
	var out [][]string
	queue := [][]string{}
	for _, s := range starts {
		if !seen[s] {
			seen[s] = true
			queue = append(queue, []string{s})
		}
	}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		out = append(out, p)
		for _, n := range g[p[len(p)-1]] {
			if !seen[n] {
				seen[n] = true
				queue = append(queue, append(slices.Clone(p), n))
			}
		}
	}
	return out
}

// local keeps the module's packages of imports, module-relative.
func local(imports []string) []string {
	var out []string
	for _, i := range imports {
		if i == module || strings.HasPrefix(i, module+"/") {
			out = append(out, rel(i))
		}
	}
	return out
}

func rel(pkg string) string { return strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/") }

// under reports whether pkg is dir or below it; every package is under "".
func under(pkg, dir string) bool {
	return dir == "" || pkg == dir || strings.HasPrefix(pkg, dir+"/")
}
