package tail

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// OffsetFile keeps tail offsets in a directory's tail-offsets.json (the
// collector's --state-dir), shared by several Tailers: a State.
type OffsetFile struct {
	path string
	mu   sync.Mutex
	data map[string]offsetEntry
}

type offsetEntry struct {
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

// LoadOffsetFile reads the offsets kept in dir; a missing file is empty, a
// corrupt one an error (it is never overwritten silently).
func LoadOffsetFile(dir string) (*OffsetFile, error) {
	o := &OffsetFile{path: filepath.Join(dir, "tail-offsets.json"), data: map[string]offsetEntry{}}
	b, err := os.ReadFile(o.path)
	switch {
	case os.IsNotExist(err):
		return o, nil
	case err != nil:
		return nil, fmt.Errorf("--state-dir: %w", err)
	}
	if err := json.Unmarshal(b, &o.data); err != nil {
		return nil, fmt.Errorf("--state-dir: %s is not a tail offsets file (move it away to start over): %w", o.path, err)
	}
	return o, nil
}

// Load is State.Load.
func (o *OffsetFile) Load(path string) (uint64, int64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	e, ok := o.data[path]
	return e.Inode, e.Offset, ok
}

// Save is State.Save: the whole file is written anew and renamed into
// place.
func (o *OffsetFile) Save(path string, inode uint64, offset int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.data[path] = offsetEntry{Inode: inode, Offset: offset}
	b, err := json.Marshal(o.data)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(o.path), 0o755); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.path), ".tail-offsets-*.tmp")
	if err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}
	_, werr := tmp.Write(b)
	serr := tmp.Sync()
	cerr := tmp.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("--state-dir: writing %s: %w", o.path, err)
	}
	return os.Rename(tmp.Name(), o.path)
}
