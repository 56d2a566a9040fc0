//go:build !linux

package server

// totalMemory returns 0 where the machine's memory is not read: no default
// memory budget there.
func totalMemory() int64 { return 0 }
