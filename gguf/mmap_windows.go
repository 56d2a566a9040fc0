//go:build windows

package gguf

import (
	"os"
	"unsafe"

	"golang.org/x/sys/windows"
)

func mapFile(fd *os.File, size int64) (data []byte, unmap func() error, mapped bool, err error) {
	if size == 0 {
		return nil, func() error { return nil }, false, nil
	}
	h, err := windows.CreateFileMapping(windows.Handle(fd.Fd()), nil, windows.PAGE_READONLY, uint32(size>>32), uint32(size), nil)
	if err != nil {
		return nil, nil, false, err
	}
	addr, err := windows.MapViewOfFile(h, windows.FILE_MAP_READ, 0, 0, uintptr(size))
	windows.CloseHandle(h)
	if err != nil {
		return nil, nil, false, err
	}
	data = unsafe.Slice((*byte)(unsafe.Pointer(addr)), int(size))
	return data, func() error { return windows.UnmapViewOfFile(addr) }, true, nil
}
