// Package repo finds the repository's root directory, for tests and tools
// that read files beside the source tree.
package repo

import (
	"os"
	"path/filepath"
)

// Root returns the directory holding go.mod, searching upwards from the
// working directory (a package's directory under go test).
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
