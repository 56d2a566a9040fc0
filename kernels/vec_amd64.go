package kernels

//go:noescape
func dotF16RowsAVX2(dst *float32, x *float32, y *uint16, n8, stride, rows int)

//go:noescape
func axpyF16RowsAVX2(dst *float32, n8 int, a *float32, rows int, y *uint16, stride int)

//go:noescape
func dotF16Heads4AVX2(dst *float32, dstStride int, q *float32, qStride int, y *uint16, stride, n8, rows int)

//go:noescape
func axpyF16Heads4AVX2(out *float32, outStride int, a *float32, aStride int, y *uint16, stride, n8, rows int)

//go:noescape
func quantQ8_0AVX2(x *float32, nb int, q *byte, qStride int, d *float32, dStride int, bias *byte, biasMul int32, flip uint32)

//go:noescape
func quantQ8_KAVX2(x *float32, nb int, q *byte, qStride int, d *float32, dStride int, bsums *byte)

//go:noescape
func toFP16AVX2(dst *uint16, src *float32, n8 int, round bool)

//go:noescape
func hsum8x8AVX2(a *[8][8]float32)

//go:noescape
func expF32AVX2(dst, src *float32, n int, neg bool) int

func init() {
	if hasAVX2 {
		hsum8x8Asm = hsum8x8AVX2
		toFP16Asm = func(dst []uint16, src []float32) int {
			n8 := len(src) / 8
			if n8 > 0 {
				_ = dst[8*n8-1]
				toFP16AVX2(&dst[0], &src[0], n8, false)
			}
			return 8 * n8
		}
		roundFP16Asm = func(x []float32) int {
			n8 := len(x) / 8
			if n8 > 0 {
				toFP16AVX2(nil, &x[0], n8, true)
			}
			return 8 * n8
		}
		expAsm = func(dst, src []float32, neg bool) int {
			n := min(len(dst), len(src))
			if n < 4 {
				return 0
			}
			return expF32AVX2(&dst[0], &src[0], n, neg)
		}
		quantQ8_0Asm = func(x []float32, nb int, q []byte, qStride int, d []float32, dStride int, bias []byte, biasMul int32, flip byte) {
			_ = x[nb*32-1] // the assembly relies on these checks
			_ = q[(nb-1)*qStride+31]
			_ = d[(nb-1)*dStride]
			var bp *byte
			if bias != nil {
				_ = bias[(nb-1)*qStride+31]
				bp = &bias[0]
			}
			quantQ8_0AVX2(&x[0], nb, &q[0], qStride, &d[0], dStride, bp, biasMul, uint32(flip))
		}
		quantQ8_KAsm = func(x []float32, nb int, q []byte, qStride int, d []float32, dStride int, bsums []byte) {
			_ = x[nb*256-1] // the assembly relies on these checks
			_ = q[(nb-1)*qStride+255]
			_ = d[(nb-1)*dStride]
			_ = bsums[(nb-1)*qStride+31]
			quantQ8_KAVX2(&x[0], nb, &q[0], qStride, &d[0], dStride, &bsums[0])
		}
		dotF16RowsAsm = func(dst, x []float32, y []uint16, n8, stride int) {
			dotF16RowsAVX2(&dst[0], &x[0], &y[0], n8, stride, len(dst))
		}
		axpyF16RowsAsm = func(dst, a []float32, y []uint16, stride int) {
			axpyF16RowsAVX2(&dst[0], len(dst), &a[0], len(a), &y[0], stride)
		}
		// Four heads: dst (out) and q (a) hold four rows of the given
		// stride; the callers have checked y's length.
		dotF16Heads4Asm = func(dst []float32, dstStride int, q []float32, qStride int, y []uint16, stride, n8 int) {
			dotF16Heads4AVX2(&dst[0], dstStride, &q[0], qStride, &y[0], stride, n8, dstStride)
		}
		axpyF16Heads4Asm = func(out []float32, outStride int, a []float32, aStride int, y []uint16, stride, n8 int) {
			axpyF16Heads4AVX2(&out[0], outStride, &a[0], aStride, &y[0], stride, n8, aStride)
		}
	}
}
