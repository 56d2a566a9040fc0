//go:build unix

package gguf

import (
	"os"

	"golang.org/x/sys/unix"
)

func mapFile(fd *os.File, size int64) (data []byte, unmap func() error, mapped bool, err error) {
	if size == 0 {
		return nil, func() error { return nil }, false, nil
	}
	data, err = unix.Mmap(int(fd.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, nil, false, err
	}
	return data, func() error { return unix.Munmap(data) }, true, nil
}
