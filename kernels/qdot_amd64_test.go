package kernels

// asmQKernelTables returns the assembly kernel tables this CPU can run.
func asmQKernelTables() map[string][64]*qkernel {
	t := map[string][64]*qkernel{}
	if hasAVX2 {
		t["avx2"] = avx2QKernels()
	}
	return t
}
