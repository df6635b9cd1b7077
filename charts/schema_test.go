package charts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// schemaNode is the part of a JSON schema the checks below read.
type schemaNode struct {
	Ref                  string                 `json:"$ref"`
	Type                 any                    `json:"type"`
	Properties           map[string]*schemaNode `json:"properties"`
	AdditionalProperties any                    `json:"additionalProperties"`
	AllOf                []*schemaNode          `json:"allOf"`
	AnyOf                []*schemaNode          `json:"anyOf"`
	Items                *schemaNode            `json:"items"`
	Definitions          map[string]*schemaNode `json:"definitions"`
}

func loadSchema(t *testing.T) *schemaNode {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s schemaNode
	if err := json.Unmarshal(data, &s); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	_ = json.Unmarshal(data, &raw)
	if raw["$schema"] != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("$schema = %v, want draft-07", raw["$schema"])
	}
	return &s
}

// resolve follows $ref (to #/definitions/…) and allOf to the node that
// lists properties, if any.
func resolve(root, n *schemaNode) *schemaNode {
	for n != nil && n.Ref != "" {
		n = root.Definitions[strings.TrimPrefix(n.Ref, "#/definitions/")]
	}
	if n != nil && n.Properties == nil {
		for _, a := range n.AllOf {
			if r := resolve(root, a); r != nil && r.Properties != nil {
				return r
			}
		}
	}
	return n
}

// TestSchemaCoversValues: every key of values.yaml is a property of the
// schema (down to the free-form objects), and every object the schema
// lists properties for forbids other properties.
func TestSchemaCoversValues(t *testing.T) {
	root := loadSchema(t)
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(data, &values); err != nil {
		t.Fatal(err)
	}
	var walk func(path string, v map[string]any, s *schemaNode)
	walk = func(path string, v map[string]any, s *schemaNode) {
		s = resolve(root, s)
		if s == nil || s.Properties == nil {
			return // free-form
		}
		for k, x := range v {
			p, ok := s.Properties[k]
			if !ok {
				t.Errorf("values.yaml key %s%s is not in values.schema.json", path, k)
				continue
			}
			if m, ok := x.(map[string]any); ok {
				walk(path+k+".", m, p)
			}
		}
	}
	walk("", values, root)

	var strict func(path string, s *schemaNode)
	strict = func(path string, s *schemaNode) {
		if s == nil {
			return
		}
		// global is Helm's, shared with parent charts: their keys are
		// merged in, so it lists this chart's and allows the others.
		if s.Properties != nil && s.AdditionalProperties != false && path != "(root).global" {
			t.Errorf("schema %s lists properties but allows others (additionalProperties is not false)", path)
		}
		for k, p := range s.Properties {
			strict(path+"."+k, p)
		}
		for i, a := range append(append([]*schemaNode{}, s.AllOf...), s.AnyOf...) {
			strict(path+"/"+string(rune('0'+i)), a)
		}
		strict(path+"[]", s.Items)
	}
	strict("(root)", root)
	for name, d := range root.Definitions {
		strict("#/definitions/"+name, d)
	}
}
