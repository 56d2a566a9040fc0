//go:build !amd64 && !arm64

package kernels

// asmQKernelTables returns the assembly kernel tables this CPU can run:
// none yet outside amd64.
func asmQKernelTables() map[string][64]*qkernel { return nil }

// asmPackedTables returns the assembly packed-tile tables: none outside
// amd64.
func asmPackedTables() map[string][64]tileFunc { return nil }
