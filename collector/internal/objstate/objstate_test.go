package objstate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hopscope/hopscope/internal/testkit"
)

func TestMain(m *testing.M) { testkit.VerifyNoLeaks(m) }

type doc struct {
	Version int            `json:"version"`
	Done    map[string]int `json:"done"`
}

func TestLoadSave(t *testing.T) {
	tests := []struct {
		name      string
		content   string // written before Load; "-" writes nothing
		wantFound bool
		wantErr   string
		want      doc
	}{
		{name: "missing", content: "-"},
		{name: "valid", content: `{"version":2,"done":{"a":1}}`, wantFound: true, want: doc{Version: 2, Done: map[string]int{"a": 1}}},
		{name: "garbage", content: `{"version":`, wantErr: "not a valid state file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if tt.content != "-" {
				if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var got doc
			found, err := Load("test", path, &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("Load error %v, want one naming %s and containing %q", err, path, tt.wantErr)
				}
				return
			}
			if err != nil || found != tt.wantFound || got.Version != tt.want.Version || len(got.Done) != len(tt.want.Done) {
				t.Fatalf("Load = %v, %+v, %v; want %v, %+v", found, got, err, tt.wantFound, tt.want)
			}
			// A save then a load gives back what was saved.
			saved := doc{Version: 3, Done: map[string]int{"x": 7, "y": 8}}
			if err := Save("test", path, saved); err != nil {
				t.Fatal(err)
			}
			var back doc
			if found, err := Load("test", path, &back); err != nil || !found || back.Version != 3 || back.Done["y"] != 8 {
				t.Fatalf("after Save: Load = %v, %+v, %v", found, back, err)
			}
			// No temporary file is left behind.
			if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
				t.Fatalf("directory holds %d entries after Save, want 1", len(ents))
			}
		})
	}
}

func TestSaveUnwritable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing-dir", "state.json")
	if err := Save("test", path, doc{}); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("Save into a missing directory: %v, want an error naming %s", err, path)
	}
}
