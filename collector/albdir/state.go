package albdir

import (
	"fmt"

	"github.com/hopscope/hopscope/collector/internal/objstate"
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
	var sf stateFile
	found, err := objstate.Load("albdir", path, &sf)
	if err != nil {
		return nil, err
	}
	if found && sf.Version != stateVersion {
		return nil, fmt.Errorf("albdir: state file %s: version %d, want %d", path, sf.Version, stateVersion)
	}
	if sf.Files == nil {
		sf.Files = map[string]entry{}
	}
	return sf.Files, nil
}

// saveState writes files to the state file at path atomically
// (collector/internal/objstate).
func saveState(path string, files map[string]entry) error {
	return objstate.Save("albdir", path, stateFile{Version: stateVersion, Files: files})
}
