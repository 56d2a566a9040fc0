package kernels

// asmQKernelTables returns the assembly kernel tables this CPU can run.
func asmQKernelTables() map[string][64]*qkernel {
	t := map[string][64]*qkernel{}
	if hasDotProd {
		t["neon"] = neonQKernels()
	}
	return t
}

// asmPackedTables returns the assembly packed-tile tables: none on arm64.
func asmPackedTables() map[string][64]tileFunc { return nil }
