package main

import (
	"os"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// dockerfileLines reads the Dockerfile at path as instructions:
// continuation lines joined, comments dropped.
func dockerfileLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var cur strings.Builder
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if strings.HasSuffix(l, "\\") {
			cur.WriteString(strings.TrimSuffix(l, "\\") + " ")
			continue
		}
		cur.WriteString(l)
		lines = append(lines, strings.TrimSpace(cur.String()))
		cur.Reset()
	}
	return lines
}

// dockerfileBinaries reads which programs the Dockerfile puts in the
// image: the packages (./cmd/…) its `go build` builds into /out/, each
// named for the last element of its path as go build -o DIR/ names them,
// and the paths in the image its `COPY --from=build /out/…` puts them
// at. It returns package → path in the image ("" when built, not copied)
// and the copied files that no build made.
func dockerfileBinaries(t *testing.T, lines []string) (built map[string]string, unbuilt []string) {
	t.Helper()
	built = map[string]string{}
	byName := map[string]string{}
	for _, l := range lines {
		inst, rest, _ := strings.Cut(l, " ")
		f := strings.Fields(rest)
		switch {
		case strings.EqualFold(inst, "RUN") && strings.Contains(rest, "go build"):
			if !strings.Contains(rest, "-o /out/ ") {
				t.Errorf("the Dockerfile's go build does not write into /out/: %s", l)
			}
			for _, a := range f {
				if strings.HasPrefix(a, "./cmd/") {
					built[a] = ""
					byName[path.Base(a)] = a
				}
			}
		case strings.EqualFold(inst, "COPY") && len(f) >= 3 && strings.HasPrefix(f[0], "--from="):
			dest := f[len(f)-1]
			for _, src := range f[1 : len(f)-1] {
				to := dest
				if strings.HasSuffix(dest, "/") {
					to = dest + path.Base(src)
				}
				if pkg, ok := byName[path.Base(src)]; ok && path.Dir(src) == "/out" {
					built[pkg] = to
				} else {
					unbuilt = append(unbuilt, to)
				}
			}
		}
	}
	return built, unbuilt
}

// TestDaemonlessImageHasTheDockerfilesBinaries: the daemon-less build
// builds and puts in the image the programs the Dockerfile does, at the
// same paths (the slim sidecar the chart runs among them).
func TestDaemonlessImageHasTheDockerfilesBinaries(t *testing.T) {
	built, unbuilt := dockerfileBinaries(t, dockerfileLines(t, "../../Dockerfile"))
	want := map[string]string{}
	for _, b := range hopscopeBinaries {
		want[b.pkg] = b.inImage
	}
	if !reflect.DeepEqual(built, want) {
		t.Errorf("the Dockerfile builds and copies %q, the daemon-less build %q", built, want)
	}
	if len(unbuilt) > 0 {
		t.Errorf("the Dockerfile copies %q, which no go build made", unbuilt)
	}
	if want["./cmd/hopscope-sidecar"] != "/hopscope-sidecar" {
		t.Errorf("the image has no /hopscope-sidecar, which the chart's sidecar template runs")
	}
}

// TestDockerfileBinariesParse checks the parse on Dockerfiles it must
// read right, so that a broken parse cannot pass by finding nothing.
func TestDockerfileBinariesParse(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		built   map[string]string
		unbuilt []string
	}{
		{"two into /", []string{"RUN go build -o /out/ ./cmd/a ./cmd/b", "COPY --from=build /out/a /out/b /"},
			map[string]string{"./cmd/a": "/a", "./cmd/b": "/b"}, nil},
		{"renamed", []string{"RUN go build -o /out/ ./cmd/a", "COPY --from=build /out/a /bin/x"},
			map[string]string{"./cmd/a": "/bin/x"}, nil},
		{"built, not copied", []string{"RUN go build -o /out/ ./cmd/a ./cmd/b", "COPY --from=build /out/a /"},
			map[string]string{"./cmd/a": "/a", "./cmd/b": ""}, nil},
		{"copied, not built", []string{"RUN go build -o /out/ ./cmd/a", "COPY --from=build /out/a /out/c /"},
			map[string]string{"./cmd/a": "/a"}, []string{"/c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			built, unbuilt := dockerfileBinaries(t, tt.lines)
			if !reflect.DeepEqual(built, tt.built) || !reflect.DeepEqual(unbuilt, tt.unbuilt) {
				t.Errorf("got %q %q, want %q %q", built, unbuilt, tt.built, tt.unbuilt)
			}
		})
	}
}

// dockerfileImage reads what the Dockerfile's final stage says of the
// image: ENTRYPOINT, USER, EXPOSE and LABEL (build args substituted).
func dockerfileImage(t *testing.T, path string, args map[string]string) imageSpec {
	t.Helper()
	lines := dockerfileLines(t, path)
	var spec imageSpec
	spec.Labels = map[string]string{}
	vars := regexp.MustCompile(`\$\{(\w+)\}`)
	subst := func(s string) string {
		return vars.ReplaceAllStringFunc(s, func(m string) string { return args[vars.FindStringSubmatch(m)[1]] })
	}
	label := regexp.MustCompile(`([\w.-]+)="([^"]*)"`)
	for _, l := range lines {
		inst, rest, _ := strings.Cut(l, " ")
		switch strings.ToUpper(inst) {
		case "FROM":
			spec = imageSpec{Labels: map[string]string{}} // only the final stage counts
		case "ENTRYPOINT":
			for _, q := range regexp.MustCompile(`"[^"]*"`).FindAllString(rest, -1) {
				v, _ := strconv.Unquote(q)
				spec.Entrypoint = append(spec.Entrypoint, v)
			}
		case "USER":
			spec.User = strings.TrimSpace(rest)
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				if !strings.Contains(p, "/") {
					p += "/tcp"
				}
				spec.ExposedPorts = append(spec.ExposedPorts, p)
			}
		case "LABEL":
			for _, m := range label.FindAllStringSubmatch(rest, -1) {
				spec.Labels[m[1]] = subst(m[2])
			}
		}
	}
	return spec
}

// TestDaemonlessImageMatchesDockerfile: the image the cluster builds
// without a daemon and the Dockerfile describe the same image — the
// entrypoint, the user, the exposed ports and every OCI label.
func TestDaemonlessImageMatchesDockerfile(t *testing.T) {
	args := map[string]string{"VERSION": "v1.2.3", "REVISION": "abc123", "CREATED": "2026-12-06T00:00:00Z"}
	want := dockerfileImage(t, "../../Dockerfile", args)
	got := hopscopeImageConfig(args["VERSION"], args["REVISION"], args["CREATED"])
	sort.Strings(want.ExposedPorts)
	sort.Strings(got.ExposedPorts)
	for _, c := range []struct {
		what      string
		got, want any
	}{
		{"entrypoint", got.Entrypoint, want.Entrypoint},
		{"user", got.User, want.User},
		{"exposed ports", got.ExposedPorts, want.ExposedPorts},
		{"labels", got.Labels, want.Labels},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: daemon-less build %q, Dockerfile %q", c.what, c.got, c.want)
		}
	}
	if len(want.Labels) < 8 || want.User == "" || len(want.Entrypoint) == 0 {
		t.Fatalf("the Dockerfile parse found too little: %+v", want)
	}
}

// TestDockerfileBasesPinnedByDigest: every FROM of the Dockerfile names
// its base image by digest, so a rebuild gets the same bytes.
func TestDockerfileBasesPinnedByDigest(t *testing.T) {
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(string(b), -1)
	if len(froms) == 0 {
		t.Fatal("no FROM in the Dockerfile")
	}
	for _, f := range froms {
		if !regexp.MustCompile(`@sha256:[0-9a-f]{64}$`).MatchString(f[1]) {
			t.Errorf("FROM %s is not pinned by digest (@sha256:…)", f[1])
		}
	}
}
