package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// countLines counts newline-terminated lines in a file.
func countLines(path string) (lines, size int64, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		size += int64(n)
		if err == io.EOF {
			return lines, size, nil
		}
		if err != nil {
			return lines, size, err
		}
	}
}

// lookTool finds a required binary, also in the sbin directories a non-root
// PATH may lack.
func lookTool(name, flagVal, pkg string) (string, error) {
	if flagVal != "" {
		if _, err := os.Stat(flagVal); err != nil {
			return "", fmt.Errorf("%s: %v", name, err)
		}
		return flagVal, nil
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in PATH or /usr/sbin: install it (Debian: apt-get install -y --no-install-recommends %s)", name, pkg)
}
