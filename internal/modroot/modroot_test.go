package modroot

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFind(t *testing.T) {
	root := t.TempDir()
	os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644)
	deep := filepath.Join(root, "a", "b")
	os.MkdirAll(deep, 0o755)
	for _, dir := range []string{root, deep} {
		if got, err := Find(dir); err != nil || got != root {
			t.Errorf("Find(%s) = %q, %v; want %s", dir, got, err, root)
		}
	}
	if _, err := Find(t.TempDir()); err == nil {
		t.Error("found a go.mod above a fresh temp dir")
	}
}
