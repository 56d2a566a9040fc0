package kernels

import (
	"testing"
	"unsafe"
)

// asmQKernelTables returns the assembly kernel tables this CPU can run.
func asmQKernelTables() map[string][64]*qkernel {
	t := map[string][64]*qkernel{}
	if hasAVX2 {
		t["avx2"] = avx2QKernels()
	}
	return t
}

// asmPackedTables returns the assembly packed-tile tables this CPU can run.
func asmPackedTables() map[string][64]tileFunc {
	t := map[string][64]tileFunc{}
	if hasAVX2 {
		t["avx2"] = avx2PackedKernels()
	}
	return t
}

// TestTileArgsLayout pins the tileArgs offsets the assembly reads
// (qdot_amd64.h).
func TestTileArgsLayout(t *testing.T) {
	var a tileArgs
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"w", unsafe.Offsetof(a.w), 0}, {"x", unsafe.Offsetof(a.x), 32}, {"d", unsafe.Offsetof(a.d), 40},
		{"nb", unsafe.Offsetof(a.nb), 48}, {"out", unsafe.Offsetof(a.out), 56}, {"acc", unsafe.Offsetof(a.acc), 88},
		{"s", unsafe.Offsetof(a.s), 96}, {"sum", unsafe.Offsetof(a.sum), 104}, {"nr", unsafe.Offsetof(a.nr), 128},
		{"wrs", unsafe.Offsetof(a.wrs), 136},
	} {
		if c.got != c.want {
			t.Errorf("tileArgs.%s at %d, qdot_amd64.h says %d", c.name, c.got, c.want)
		}
	}
}
