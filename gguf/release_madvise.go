//go:build linux || darwin

package gguf

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// releasePages tells the kernel that the whole pages inside b, a part of
// a read-only file mapping, are not needed for now: they leave the
// process's resident set at once and are read back from the file if
// touched again, so b stays valid.
func releasePages(b []byte) {
	ps := os.Getpagesize()
	start := int(uintptr(unsafe.Pointer(unsafe.SliceData(b))) % uintptr(ps))
	lo := 0
	if start != 0 {
		lo = ps - start // the first whole page
	}
	hi := len(b) - (start+len(b))%ps // the end of the last whole page
	if hi <= lo {
		return
	}
	_ = unix.Madvise(b[lo:hi], unix.MADV_DONTNEED)
}

const canRelease = true
