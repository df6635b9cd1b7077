// Package objstate keeps the state file of the collector's
// once-per-object readers (collector/albdir for a directory,
// collector/albs3 for an S3 prefix): a JSON document with a format
// version, read at Start and written atomically (temporary file, synced,
// renamed over the old one), so that a crash leaves the old state or the
// new one, never a mix.
package objstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Load decodes the state file at path into v and reports whether it
// existed; a missing file leaves v alone. Every error names the file and
// starts with prefix (the reader's name).
func Load(prefix, path string, v any) (found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("%s: state file %s: %w", prefix, path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s: state file %s: not a valid state file (move it away to read every object again): %w", prefix, path, err)
	}
	return true, nil
}

// Save writes v as JSON to the state file at path atomically: to a
// temporary file in the same directory, synced, then renamed over path.
// Every error names the file and starts with prefix.
func Save(prefix, path string, v any) (err error) {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("%s: state file %s: encode: %w", prefix, path, err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("%s: state file %s: %w", prefix, path, err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("%s: state file %s: write: %w", prefix, path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("%s: state file %s: sync: %w", prefix, path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("%s: state file %s: close: %w", prefix, path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("%s: state file %s: %w", prefix, path, err)
	}
	// Make the rename durable; not every file system supports it.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
