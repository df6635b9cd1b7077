package chartdoc

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseValues(t *testing.T) {
	const values = `# File header, not a description.

# -- The image.
image:
  # -- Repository.
  repository: example.org/app
  # -- Tag.
  # @default -- the chart's appVersion
  tag: ""
# A comment that is not a description.
group:
  # -- (int or string) Bound; a flag such as
  # --max-traces in the text is not a new description.
  bound: 1
  # -- Resources, one row: their keys have no descriptions.
  resources:
    requests:
      cpu: 10m
  # -- A list with a | pipe.
  list: [a, b]
# -- Empty map.
empty: {}
`
	got, err := ParseValues([]byte(values))
	if err != nil {
		t.Fatal(err)
	}
	want := []Value{
		{"image.repository", "string", "`\"example.org/app\"`", "Repository."},
		{"image.tag", "string", "the chart's appVersion", "Tag."},
		{"group.bound", "int or string", "`1`", "Bound; a flag such as --max-traces in the text is not a new description."},
		{"group.resources", "object", "`{\"requests\":{\"cpu\":\"10m\"}}`", "Resources, one row: their keys have no descriptions."},
		{"group.list", "list", "`[\"a\",\"b\"]`", "A list with a | pipe."},
		{"empty", "object", "`{}`", "Empty map."},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestParseValuesWantsEveryKeyDocumented(t *testing.T) {
	_, err := ParseValues([]byte("group:\n  # -- Documented.\n  a: 1\n  b: 2\nc: true\n"))
	if err == nil {
		t.Fatal("no error for undocumented keys")
	}
	for _, key := range []string{"group.b", "line 4", "c has no"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
}

func TestGenerate(t *testing.T) {
	chart := "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: \"4.5\"\nkubeVersion: \">=1.25.0-0\"\ndescription: A demo.\nhome: https://example.org\n"
	values := "# -- Pipe | in text.\nkey: \"a|b\"\n"
	out, err := Generate([]byte(chart), []byte(values))
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{
		"# demo\n", "Version-1.2.3-", "AppVersion-4.5-", "A demo.", "Kubernetes >=1.25.0-0",
		"| `key` | string | `\"a\\|b\"` | Pipe \\| in text. |\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("README lacks %q:\n%s", want, s)
		}
	}
	if _, err := Generate([]byte("name: x\n"), []byte(values)); err == nil {
		t.Error("a Chart.yaml without version: no error")
	}
}

func TestLongDefaultsPointToValues(t *testing.T) {
	got, err := ParseValues([]byte("# -- Long.\nlong: \"" + strings.Repeat("x", maxDefault) + "\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Default != "see `values.yaml`" {
		t.Errorf("default = %q", got[0].Default)
	}
}
