package kernels

import (
	"golang.org/x/sys/cpu"

	"github.com/ondo-ai/ondo/tensor"
)

// The NEON pair kernels (dot_arm64.s) need the dot-product extension
// (SDOT), which Apple M-series, recent Snapdragon and Graviton 2 and later
// have.
//
//go:noescape
func dotQ8_0NEON(w, x *byte, xstride int, d *float32, dstride, nb int, acc *[8]float32)

//go:noescape
func dotQ4_0NEON(w, x *byte, xstride int, d *float32, dstride, nb int, acc *[8]float32)

//go:noescape
func dotMXFP4NEON(w, x *byte, xstride int, d *float32, dstride, nb int, acc *[8]float32)

//go:noescape
func q4kLanesNEON(qs, x *byte, sc, L *[8]int32)

// q4kLanesSIMD is q4kLanes through q4kLanesNEON.
func q4kLanesSIMD(qs, x []byte, sc, L *[8]int32) {
	_, _ = qs[127], x[255]
	q4kLanesNEON(&qs[0], &x[0], sc, L)
}

//go:noescape
func q6kLanesNEON(blk, x *byte, L *[8]int32)

// q6kLanesSIMD is q6kLanes through q6kLanesNEON.
func q6kLanesSIMD(blk, x []byte, L *[8]int32) {
	_, _ = blk[209], x[255]
	q6kLanesNEON(&blk[0], &x[0], L)
}

var hasDotProd = cpu.ARM64.HasASIMD && cpu.ARM64.HasASIMDDP

// neonPair wraps a NEON pair kernel as a pairFunc: the checks here are
// the ones the assembly relies on.
func neonPair(f func(w, x *byte, xstride int, d *float32, dstride, nb int, acc *[8]float32), blockB int) pairFunc {
	return func(w []byte, v *xview, nb int, acc *[8]float32) {
		if nb == 0 {
			return
		}
		_ = w[nb*blockB-1]
		_ = v.quants(nb-1, 32)
		_ = v.scale(nb - 1)
		f(&w[0], &v.rec[v.x], v.stride, &v.d[v.c], 4*v.p, nb, acc)
	}
}

// neonQKernels is the table of NEON kernels, built whether or not the CPU
// has them so that tests can name it: the twins' tile loops around NEON
// pair kernels (Q4_K and Q6_K: the twins with NEON integer lanes). Q8_0 and
// MXFP4 keep their wide records unflipped, so the pair kernels read them as
// they are. TQ1_0, TQ2_0 and the IQ1-IQ3 types run their portable twins
// on arm64. The speed of these kernels on real arm64 hardware is unmeasured:
// this project's machines run them only under qemu-user.
var neonQKernels = func() (t [64]*qkernel) {
	with := func(typ tensor.Type, pair pairFunc) {
		k := *portableQKernels[typ]
		k.pair = pair
		k.narrow, k.wideF = k.narrowPortable, k.widePortable
		t[typ] = &k
	}
	with(tensor.Q8_0, neonPair(dotQ8_0NEON, 34))
	with(tensor.Q4_0, neonPair(dotQ4_0NEON, 18))
	with(tensor.MXFP4, neonPair(dotMXFP4NEON, 17))
	with(tensor.Q4_K, func(w []byte, v *xview, nb int, acc *[8]float32) { dotQ4_KWith(q4kLanesSIMD, w, v, nb, acc) })
	with(tensor.Q6_K, func(w []byte, v *xview, nb int, acc *[8]float32) { dotQ6_KWith(q6kLanesSIMD, w, v, nb, acc) })
	return t
}

// selectKernels installs the NEON kernels where the CPU has them.
func selectKernels() {
	if !hasDotProd {
		return
	}
	for i, k := range neonQKernels() {
		if k != nil {
			qkernels[i] = k
		}
	}
}
