package albdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// stateVersion is the version of the state file format.
const stateVersion = 1

// stateFile is the JSON content of the state file.
type stateFile struct {
	Version int `json:"version"`
	// Files maps the slash-separated path of a file relative to Dir to
	// what was read of it.
	Files map[string]entry `json:"files"`
}

// entry records a file as it was when read.
type entry struct {
	Size    int64 `json:"size"`
	MtimeNS int64 `json:"mtime_ns"`
	// Partial: reading stopped after Lines lines (at Shutdown); the file
	// is not done.
	Partial bool  `json:"partial,omitempty"`
	Lines   int64 `json:"lines,omitempty"`
}

// loadState reads the state file at path; a missing file is an empty
// state. Every error names the file.
func loadState(path string) (map[string]entry, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]entry{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("albdir: state file %s: %w", path, err)
	}
	var sf stateFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, fmt.Errorf("albdir: state file %s: not a valid state file (move it away to read every file again): %w", path, err)
	}
	if sf.Version != stateVersion {
		return nil, fmt.Errorf("albdir: state file %s: version %d, want %d", path, sf.Version, stateVersion)
	}
	if sf.Files == nil {
		sf.Files = map[string]entry{}
	}
	return sf.Files, nil
}

// saveState writes files to the state file at path atomically: to a
// temporary file in the same directory, synced, then renamed over path.
func saveState(path string, files map[string]entry) (err error) {
	data, err := json.Marshal(stateFile{Version: stateVersion, Files: files})
	if err != nil {
		return fmt.Errorf("albdir: state file %s: encode: %w", path, err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+StateFileName+".*.tmp")
	if err != nil {
		return fmt.Errorf("albdir: state file %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("albdir: state file %s: write: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("albdir: state file %s: sync: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("albdir: state file %s: close: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("albdir: state file %s: %w", path, err)
	}
	// Make the rename durable; not every file system supports it.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
