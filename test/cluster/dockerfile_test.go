package main

import (
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// dockerfileImage reads what the Dockerfile's final stage says of the
// image: ENTRYPOINT, USER, EXPOSE and LABEL (build args substituted).
func dockerfileImage(t *testing.T, path string, args map[string]string) imageSpec {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Join continuation lines, drop comments.
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
