//go:build !unix && !windows

package gguf

import (
	"io"
	"os"
)

// mapFile falls back to reading the whole file where mmap is unavailable.
func mapFile(fd *os.File, size int64) (data []byte, unmap func() error, mapped bool, err error) {
	data = make([]byte, size)
	if _, err = io.ReadFull(fd, data); err != nil {
		return nil, nil, false, err
	}
	return data, func() error { return nil }, false, nil
}
