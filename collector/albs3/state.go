package albs3

import (
	"fmt"
	"os"

	"github.com/hopscope/hopscope/collector/internal/objstate"
)

// stateVersion is the version of the state file format.
const stateVersion = 1

// stateFile is the JSON content of the state file.
type stateFile struct {
	Version int    `json:"version"`
	Bucket  string `json:"bucket"`
	Prefix  string `json:"prefix"`
	// Cursor is the StartAfter of the next listing: every log object up
	// to it was read.
	Cursor string `json:"cursor,omitempty"`
	// Objects maps the key of each object after Cursor that was read (or
	// partly read) to what was read of it.
	Objects map[string]entry `json:"objects"`
}

// entry records an object as it was when read.
type entry struct {
	Size int64  `json:"size"`
	ETag string `json:"etag,omitempty"`
	// Partial: reading stopped after Lines lines (at Shutdown); the
	// object is not done.
	Partial bool  `json:"partial,omitempty"`
	Lines   int64 `json:"lines,omitempty"`
}

// loadState reads the state file at path for bucket and prefix; a
// missing file is an empty state. A file kept for another bucket or
// prefix is refused: its cursor means nothing here.
func loadState(path, bucket, prefix string) (stateFile, error) {
	sf := stateFile{Version: stateVersion, Bucket: bucket, Prefix: prefix}
	found, err := objstate.Load("albs3", path, &sf)
	if err != nil {
		return stateFile{}, err
	}
	if found {
		if sf.Version != stateVersion {
			return stateFile{}, fmt.Errorf("albs3: state file %s: version %d, want %d", path, sf.Version, stateVersion)
		}
		if sf.Bucket != bucket || sf.Prefix != prefix {
			return stateFile{}, fmt.Errorf("albs3: state file %s: kept for s3://%s/%s, not --alb-s3-url s3://%s/%s (move it away to read that prefix from its start)",
				path, sf.Bucket, sf.Prefix, bucket, prefix)
		}
	}
	if sf.Objects == nil {
		sf.Objects = map[string]entry{}
	}
	return sf, nil
}

func mkdir(dir string) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("albs3: --state-dir %s: %w", dir, err)
	}
	return nil
}
