package kernels

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
