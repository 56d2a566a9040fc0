//go:build !unix && !windows

package gguf

import (
	"io"
	"os"
)

// mapFile falls back to reading the whole file where mmap is unavailable.
func mapFile(fd *os.File, size int64) ([]byte, func() error, error) {
	data := make([]byte, size)
	if _, err := io.ReadFull(fd, data); err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
