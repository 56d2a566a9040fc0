package kernels

import (
	"golang.org/x/sys/cpu"

	"github.com/ondo-ai/ondo/tensor"
)

// The AVX2 tile kernels (dot_*_amd64.s). They need AVX2 for the integer
// multiply-adds, FMA for the fused scale-and-accumulate and F16C for the
// fp16 block scales.
//
//go:noescape
func tileQ4_0NarrowAVX2(t *tileArgs)

//go:noescape
func tileQ4_0WideAVX2(t *tileArgs)

//go:noescape
func tileQ4_0x8NarrowAVX2(t *tileArgs)

//go:noescape
func tileQ8_0NarrowAVX2(t *tileArgs)

//go:noescape
func tileQ8_0RowsAVX2(t *tileArgs)

// hasAVX2 reports whether the AVX2 kernels can run here.
var hasAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C

// avx2QKernels is the table of AVX2 kernels, built whether or not the CPU
// has AVX2 so that tests can name it.
var avx2QKernels = func() (t [64]*qkernel) {
	asm := func(typ tensor.Type, narrow, wide tileFunc) {
		k := *portableQKernels[typ]
		k.narrow, k.wideF = narrow, wide
		t[typ] = &k
	}
	asm(tensor.Q4_0, tileQ4_0NarrowAVX2, tileQ4_0WideAVX2)
	asm(tensor.Q8_0, tileQ8_0NarrowAVX2, func(t *tileArgs) { t.nr = 1; tileQ8_0RowsAVX2(t) })
	t[tensor.Q8_0].rowsF = tileQ8_0RowsAVX2
	asm(tensor.Q5_0, tileQ5_0NarrowAVX2, tileQ5_0WideAVX2)
	asm(tensor.IQ4_NL, tileIQ4_NLNarrowAVX2, tileIQ4_NLWideAVX2)
	asm(tensor.Q4_1, tileQ4_1NarrowAVX2, tileQ4_1WideAVX2)
	asm(tensor.Q5_1, tileQ5_1NarrowAVX2, tileQ5_1WideAVX2)
	asm(tensor.Q4_K, tileQ4_KNarrowAVX2, func(t *tileArgs) { t.nr = 1; tileQ4_KRowsAVX2(t) })
	t[tensor.Q4_K].rowsF = tileQ4_KRowsAVX2
	asm(tensor.Q2_K, tileQ2_KNarrowAVX2, tileQ2_KWideAVX2)
	asm(tensor.Q3_K, tileQ3_KNarrowAVX2, tileQ3_KWideAVX2)
	asm(tensor.Q5_K, tileQ5_KNarrowAVX2, func(t *tileArgs) { t.nr = 1; tileQ5_KRowsAVX2(t) })
	t[tensor.Q5_K].rowsF = tileQ5_KRowsAVX2
	asm(tensor.IQ4_XS, tileIQ4_XSNarrowAVX2, tileIQ4_XSWideAVX2)
	asm(tensor.Q6_K, tileQ6_KNarrowAVX2, func(t *tileArgs) { t.nr = 1; tileQ6_KRowsAVX2(t) })
	t[tensor.Q6_K].rowsF = tileQ6_KRowsAVX2
	asm(tensor.F32, tileF32NarrowAVX2, tileF32WideAVX2)
	asm(tensor.F16, tileF16NarrowAVX2, tileF16WideAVX2)
	asm(tensor.BF16, tileBF16NarrowAVX2, tileBF16WideAVX2)
	asm(tensor.MXFP4, tileMXFP4NarrowAVX2, tileMXFP4WideAVX2)
	asm(tensor.IQ2_XXS, tileIQ2_XXSNarrowAVX2, tileIQ2_XXSWideAVX2)
	asm(tensor.IQ3_XXS, tileIQ3_XXSNarrowAVX2, tileIQ3_XXSWideAVX2)
	asm(tensor.IQ2_XS, tileIQ2_XSNarrowAVX2, tileIQ2_XSWideAVX2)
	asm(tensor.IQ2_S, tileIQ2_SNarrowAVX2, tileIQ2_SWideAVX2)
	asm(tensor.IQ3_S, tileIQ3_SNarrowAVX2, tileIQ3_SWideAVX2)
	asm(tensor.IQ1_S, tileIQ1_SNarrowAVX2, tileIQ1_SWideAVX2)
	asm(tensor.IQ1_M, tileIQ1_MNarrowAVX2, tileIQ1_MWideAVX2)
	asm(tensor.TQ2_0, tileTQ2_0NarrowAVX2, tileTQ2_0WideAVX2)
	asm(tensor.TQ1_0, tileTQ1_0NarrowAVX2, tileTQ1_0WideAVX2)
	return t
}

// avx2PackedKernels is the table of AVX2 packed tiles (see pack.go).
func avx2PackedKernels() (t [64]tileFunc) {
	t[tensor.Q4_0] = tileQ4_0x8NarrowAVX2
	t[tensor.MXFP4] = tileMXFP4x8NarrowAVX2
	return t
}

// hasVNNI reports whether the VNNI packed tiles can run here: VPDPBUSD on
// 256-bit registers, as AVX512-VNNI with AVX512-VL has it.
var hasVNNI = hasAVX2 && cpu.X86.HasAVX512VNNI && cpu.X86.HasAVX512VL

// vnniPackedKernels holds the packed tiles that have a VNNI variant, each
// computing what its AVX2 tile computes, with fewer instructions.
func vnniPackedKernels() (t [64]tileFunc) {
	t[tensor.MXFP4] = tileMXFP4x8NarrowVNNI
	return t
}

// selectKernels installs the assembly kernels the CPU supports.
func selectKernels() {
	if !hasAVX2 {
		return
	}
	t := avx2QKernels()
	for i, k := range t {
		if k != nil {
			qkernels[i] = k
		}
	}
	packedKernels = avx2PackedKernels()
	if hasVNNI {
		v := vnniPackedKernels()
		for i, k := range v {
			if k != nil {
				packedKernels[i] = k
			}
		}
		packedVariants = map[string][64]tileFunc{"vnni": v}
	}
}

//go:noescape
func tileQ4_KNarrowAVX2(t *tileArgs)

//go:noescape
func tileQ4_KRowsAVX2(t *tileArgs)

//go:noescape
func tileQ6_KNarrowAVX2(t *tileArgs)

//go:noescape
func tileQ6_KRowsAVX2(t *tileArgs)

//go:noescape
func tileF32NarrowAVX2(t *tileArgs)

//go:noescape
func tileF32WideAVX2(t *tileArgs)

//go:noescape
func tileF16NarrowAVX2(t *tileArgs)

//go:noescape
func tileF16WideAVX2(t *tileArgs)

//go:noescape
func tileBF16NarrowAVX2(t *tileArgs)

//go:noescape
func tileBF16WideAVX2(t *tileArgs)

//go:noescape
func tileQ5_KNarrowAVX2(t *tileArgs)

//go:noescape
func tileQ5_KRowsAVX2(t *tileArgs)

//go:noescape
func tileQ5_0NarrowAVX2(t *tileArgs)

//go:noescape
func tileQ5_0WideAVX2(t *tileArgs)

//go:noescape
func tileIQ4_NLNarrowAVX2(t *tileArgs)

//go:noescape
func tileIQ4_NLWideAVX2(t *tileArgs)

//go:noescape
func tileQ2_KNarrowAVX2(t *tileArgs)

//go:noescape
func tileQ2_KWideAVX2(t *tileArgs)

//go:noescape
func tileQ3_KNarrowAVX2(t *tileArgs)

//go:noescape
func tileQ3_KWideAVX2(t *tileArgs)

//go:noescape
func tileIQ4_XSNarrowAVX2(t *tileArgs)

//go:noescape
func tileIQ4_XSWideAVX2(t *tileArgs)

//go:noescape
func tileQ4_1NarrowAVX2(t *tileArgs)

//go:noescape
func tileQ4_1WideAVX2(t *tileArgs)

//go:noescape
func tileQ5_1NarrowAVX2(t *tileArgs)

//go:noescape
func tileQ5_1WideAVX2(t *tileArgs)

//go:noescape
func tileMXFP4NarrowAVX2(t *tileArgs)

//go:noescape
func tileMXFP4WideAVX2(t *tileArgs)

//go:noescape
func tileMXFP4x8NarrowAVX2(t *tileArgs)

//go:noescape
func tileMXFP4x8NarrowVNNI(t *tileArgs)

//go:noescape
func tileIQ2_XXSNarrowAVX2(t *tileArgs)

//go:noescape
func tileIQ2_XXSWideAVX2(t *tileArgs)

//go:noescape
func tileIQ3_XXSNarrowAVX2(t *tileArgs)

//go:noescape
func tileIQ3_XXSWideAVX2(t *tileArgs)

//go:noescape
func tileIQ2_XSNarrowAVX2(t *tileArgs)

//go:noescape
func tileIQ2_XSWideAVX2(t *tileArgs)

//go:noescape
func tileIQ2_SNarrowAVX2(t *tileArgs)

//go:noescape
func tileIQ2_SWideAVX2(t *tileArgs)

//go:noescape
func tileIQ3_SNarrowAVX2(t *tileArgs)

//go:noescape
func tileIQ3_SWideAVX2(t *tileArgs)

//go:noescape
func tileIQ1_SNarrowAVX2(t *tileArgs)

//go:noescape
func tileIQ1_SWideAVX2(t *tileArgs)

//go:noescape
func tileIQ1_MNarrowAVX2(t *tileArgs)

//go:noescape
func tileIQ1_MWideAVX2(t *tileArgs)

//go:noescape
func tileTQ2_0NarrowAVX2(t *tileArgs)

//go:noescape
func tileTQ2_0WideAVX2(t *tileArgs)

//go:noescape
func tileTQ1_0NarrowAVX2(t *tileArgs)

//go:noescape
func tileTQ1_0WideAVX2(t *tileArgs)
