package tail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOffsetFile(t *testing.T) {
	dir := t.TempDir()
	o, err := LoadOffsetFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := o.Load("/var/log/a"); ok {
		t.Fatal("empty state has an offset")
	}
	if err := o.Save("/var/log/a", 7, 1234); err != nil {
		t.Fatal(err)
	}
	again, err := LoadOffsetFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if ino, off, ok := again.Load("/var/log/a"); !ok || ino != 7 || off != 1234 {
		t.Fatalf("reloaded %d %d %v", ino, off, ok)
	}
	os.WriteFile(filepath.Join(dir, "tail-offsets.json"), []byte("{broken"), 0o644)
	if _, err := LoadOffsetFile(dir); err == nil || !strings.Contains(err.Error(), "tail-offsets.json") {
		t.Fatalf("corrupt state: %v", err)
	}
}
