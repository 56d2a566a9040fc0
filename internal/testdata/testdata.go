// Package testdata locates the shared test models and reference outputs for
// tests. They live outside the repository, in the folder named by the
// environment variable ONDO_TESTDATA (default ../shared/testdata relative to
// the repository root).
package testdata

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/ondo-ai/ondo/internal/repo"
)

// Dir returns the shared test data folder. When it is missing, the test is
// skipped with a message saying how to get it, unless CI is set, in which
// case the test fails: CI must never pass by skipping reference checks.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := Find()
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("shared test data not found: %v (set ONDO_TESTDATA)", err)
		}
		tb.Skipf("shared test data not found: %v; set ONDO_TESTDATA to the shared/testdata folder", err)
	}
	return dir
}

// Path returns a file inside the shared test data folder.
func Path(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{Dir(tb)}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("shared test data file: %v", err)
	}
	return p
}

// Find returns the shared test data folder, or an error when it is
// missing; unlike Dir it neither skips nor fails.
func Find() (string, error) {
	dir := os.Getenv("ONDO_TESTDATA")
	if dir == "" {
		root, err := repo.Root()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "..", "shared", "testdata")
	} else if !filepath.IsAbs(dir) {
		// Relative paths are relative to the repository root, as
		// .ci/run sets them, not to each package's directory.
		root, err := repo.Root()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, dir)
	}
	if _, err := os.Stat(dir); err != nil {
		return "", err
	}
	return dir, nil
}
