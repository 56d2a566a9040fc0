package quant

import (
	"encoding/binary"
	"math"
)

// The K-quants: super-blocks of 256 elements split into sub-blocks of 16 or
// 32 that each have a small integer scale (and, for the asymmetric types, a
// min), themselves scaled by one or two fp16 super-block factors.
//
// Byte layouts (offsets in bytes):
//
//	Q2_K  scales[16] @0 | qs[64] @16 | d @80 | dmin @82           (84)
//	Q3_K  hmask[32] @0 | qs[64] @32 | scales[12] @96 | d @108     (110)
//	Q4_K  d @0 | dmin @2 | scales[12] @4 | qs[128] @16           (144)
//	Q5_K  d @0 | dmin @2 | scales[12] @4 | qh[32] @16 | qs[128] @48 (176)
//	Q6_K  ql[128] @0 | qh[64] @128 | scales[16] @192 | d @208    (210)
//	Q8_K  d (float32) @0 | qs[256] @4 | bsums[16] (int16) @260   (292)
//
// Element order inside the 2-bit fields (Q2_K, Q3_K, Q6_K's high bits): a
// super-block is processed in two halves of 128; in half h, byte l of the
// half's 32-byte slice holds elements h*128 + l + 32*k in bits 2k..2k+1.

const (
	qkK     = 256 // elements per super-block
	blockQ2 = 84
	blockQ3 = 110
	blockQ4 = 144
	blockQ5 = 176
	blockQ6 = 210
	blockQ8 = 292
)

// scaleMinK4 unpacks sub-block j's 6-bit scale and min from the 12-byte
// scales field of Q4_K/Q5_K. Sub-blocks 0-3 keep theirs in the low 6 bits of
// bytes 0-3 (scale) and 4-7 (min); sub-blocks 4-7 keep the low 4 bits in the
// nibbles of bytes 8-11 and the top 2 bits in the spare top bits of bytes
// 0-3 (scale) and 4-7 (min).
func scaleMinK4(j int, s []byte) (sc, m uint8) {
	if j < 4 {
		return s[j] & 63, s[j+4] & 63
	}
	return s[j+4]&0x0f | (s[j-4]>>6)<<4, s[j+4]>>4 | (s[j]>>6)<<4
}

// putScaleMinK4 is the inverse of scaleMinK4 for all eight sub-blocks.
func putScaleMinK4(s []byte, ls, lm *[8]uint8) {
	for j := 0; j < 4; j++ {
		s[j] = ls[j]&63 | (ls[j+4]>>4)<<6
		s[j+4] = lm[j]&63 | (lm[j+4]>>4)<<6
		s[j+8] = ls[j+4]&0x0f | (lm[j+4]&0x0f)<<4
	}
}

// q3Scale returns Q3_K sub-block j's scale, -32..31: its low 4 bits are a
// nibble of bytes 0-7 (sub-blocks 0-7 low nibbles, 8-15 high nibbles) and
// its top 2 bits sit in bytes 8-11, four sub-blocks per byte.
func q3Scale(s []byte, j int) int32 {
	var lo byte
	if j < 8 {
		lo = s[j] & 0x0f
	} else {
		lo = s[j-8] >> 4
	}
	hi := (s[8+j%4] >> (2 * (j / 4))) & 3
	return int32(lo|hi<<4) - 32
}

// ---- dequantization ----

func dequantQ2_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockQ2 : (i+1)*blockQ2]
		y := dst[i*qkK : (i+1)*qkK]
		d := fp16At(b[80:])
		dmin := fp16At(b[82:])
		scales := b[0:16]
		for h := 0; h < 2; h++ {
			q := b[16+32*h : 16+32*h+32]
			for k := 0; k < 4; k++ {
				shift := uint(2 * k)
				for half := 0; half < 2; half++ {
					// Sub-block of 16: elements h*128 + 32k + 16*half + l.
					sc := scales[8*h+2*k+half]
					dl := float32(d * float32(sc&0x0f))
					ml := float32(dmin * float32(sc>>4))
					qq := q[16*half : 16*half+16]
					out := y[128*h+32*k+16*half : 128*h+32*k+16*half+16]
					for l := range out {
						out[l] = float32(dl*float32(qq[l]>>shift&3)) - ml
					}
				}
			}
		}
	}
}

func dequantQ3_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockQ3 : (i+1)*blockQ3]
		y := dst[i*qkK : (i+1)*qkK]
		hmask := b[0:32]
		dAll := fp16At(b[108:])
		scales := b[96:108]
		for h := 0; h < 2; h++ {
			q := b[32+32*h : 32+32*h+32]
			for k := 0; k < 4; k++ {
				shift := uint(2 * k)
				hbit := uint(4*h + k) // hmask bit of this 32-element run
				for half := 0; half < 2; half++ {
					dl := float32(dAll * float32(q3Scale(scales, 8*h+2*k+half)))
					qq := q[16*half : 16*half+16]
					hm := hmask[16*half : 16*half+16]
					out := y[128*h+32*k+16*half : 128*h+32*k+16*half+16]
					for l := range out {
						// Quants run -4..3: a clear high bit means the
						// low two bits are 4 below their face value.
						v := int32(qq[l]>>shift&3|(hm[l]>>hbit&1)<<2) - 4
						out[l] = dl * float32(v)
					}
				}
			}
		}
	}
}

func dequantQ4_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockQ4 : (i+1)*blockQ4]
		y := dst[i*qkK : (i+1)*qkK]
		d := fp16At(b)
		dmin := fp16At(b[2:])
		scales := b[4:16]
		for k := 0; k < 4; k++ {
			// 32 bytes hold sub-block 2k in low nibbles, 2k+1 in high.
			q := b[16+32*k : 16+32*k+32]
			sc, m := scaleMinK4(2*k, scales)
			d1, m1 := float32(d*float32(sc)), float32(dmin*float32(m))
			sc, m = scaleMinK4(2*k+1, scales)
			d2, m2 := float32(d*float32(sc)), float32(dmin*float32(m))
			lo := y[64*k : 64*k+32]
			hi := y[64*k+32 : 64*k+64]
			for l := range lo {
				lo[l] = float32(d1*float32(q[l]&0x0f)) - m1
				hi[l] = float32(d2*float32(q[l]>>4)) - m2
			}
		}
	}
}

func dequantQ5_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockQ5 : (i+1)*blockQ5]
		y := dst[i*qkK : (i+1)*qkK]
		d := fp16At(b)
		dmin := fp16At(b[2:])
		scales := b[4:16]
		qh := b[16:48]
		for k := 0; k < 4; k++ {
			ql := b[48+32*k : 48+32*k+32]
			sc, m := scaleMinK4(2*k, scales)
			d1, m1 := float32(d*float32(sc)), float32(dmin*float32(m))
			sc, m = scaleMinK4(2*k+1, scales)
			d2, m2 := float32(d*float32(sc)), float32(dmin*float32(m))
			// The 5th bits of sub-blocks 2k and 2k+1 are bits 2k and
			// 2k+1 of qh[l].
			s1, s2 := uint(2*k), uint(2*k+1)
			lo := y[64*k : 64*k+32]
			hi := y[64*k+32 : 64*k+64]
			for l := range lo {
				q1 := ql[l]&0x0f | (qh[l]>>s1&1)<<4
				q2 := ql[l]>>4 | (qh[l]>>s2&1)<<4
				lo[l] = float32(d1*float32(q1)) - m1
				hi[l] = float32(d2*float32(q2)) - m2
			}
		}
	}
}

func dequantQ6_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockQ6 : (i+1)*blockQ6]
		y := dst[i*qkK : (i+1)*qkK]
		d := fp16At(b[208:])
		for h := 0; h < 2; h++ {
			ql := b[64*h : 64*h+64]
			qh := b[128+32*h : 128+32*h+32]
			sc := b[192+8*h : 192+8*h+8]
			// ggml multiplies d by the int8 sub-block scale first, then
			// by the quant; precomputing the eight products is the same.
			var ds [8]float32
			for k := range ds {
				ds[k] = d * float32(int8(sc[k]))
			}
			out := y[128*h : 128*h+128]
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int32(ql[l]&0x0f|(qh[l]>>0&3)<<4) - 32
				q2 := int32(ql[l+32]&0x0f|(qh[l]>>2&3)<<4) - 32
				q3 := int32(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int32(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				out[l] = ds[is] * float32(q1)
				out[l+32] = ds[is+2] * float32(q2)
				out[l+64] = ds[is+4] * float32(q3)
				out[l+96] = ds[is+6] * float32(q4)
			}
		}
	}
}

func dequantQ8_K(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockQ8 : (i+1)*blockQ8]
		y := dst[i*qkK : (i+1)*qkK]
		d := math.Float32frombits(binary.LittleEndian.Uint32(b))
		qs := b[4 : 4+qkK]
		for j := range y {
			y[j] = d * float32(int8(qs[j]))
		}
	}
}

// ---- quantization (ggml's quantize_row_*_ref) ----

// pack2Bits stores 256 2-bit values in 64 bytes, the Q2_K/Q3_K order.
func pack2Bits(qs []byte, L []uint8) {
	for h := 0; h < 2; h++ {
		for l := 0; l < 32; l++ {
			j := 128*h + l
			qs[32*h+l] = L[j] | L[j+32]<<2 | L[j+64]<<4 | L[j+96]<<6
		}
	}
}

func quantQ2_K(src []float32, dst []byte) {
	var (
		L       [qkK]uint8
		laux    [16]uint8
		weights [16]float32
		scales  [16]float32
		mins    [16]float32
	)
	const q4scale = 15 // sub-block scales and mins are 4 bits
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*blockQ2 : (i+1)*blockQ2]
		sc := b[0:16]

		// Fit each 16-element sub-block on its own, weighting by |x| and
		// minimising the absolute error.
		var maxScale, maxMin float32 // both are >= 0
		for j := 0; j < 16; j++ {
			xs := x[16*j : 16*j+16]
			for l, v := range xs {
				weights[l] = abs32(v)
			}
			scales[j], mins[j] = makeQKX2Quants(3, xs, weights[:], L[16*j:16*j+16], laux[:], -0.5, 0.1, 15, true)
			if scales[j] > maxScale {
				maxScale = scales[j]
			}
			if mins[j] > maxMin {
				maxMin = mins[j]
			}
		}

		// Quantize the sub-block scales and mins to 4 bits against the
		// largest of each.
		if maxScale > 0 {
			iscale := q4scale / maxScale
			for j := range sc {
				sc[j] = uint8(nearestInt(float32(iscale * scales[j])))
			}
			putFP16(b[80:], maxScale/q4scale)
		} else {
			clear(sc)
			putFP16(b[80:], 0)
		}
		if maxMin > 0 {
			iscale := q4scale / maxMin
			for j := range sc {
				sc[j] |= uint8(nearestInt(float32(iscale*mins[j])) << 4)
			}
			putFP16(b[82:], maxMin/q4scale)
		} else {
			putFP16(b[82:], 0)
		}

		// Requantize against the scales actually stored.
		d, dmin := fp16At(b[80:]), fp16At(b[82:])
		for j := 0; j < 16; j++ {
			dl := float32(d * float32(sc[j]&0x0f))
			if dl == 0 {
				continue
			}
			ml := float32(dmin * float32(sc[j]>>4))
			for ii := 0; ii < 16; ii++ {
				l := nearestInt((x[16*j+ii] + ml) / dl)
				L[16*j+ii] = uint8(clamp(l, 0, 3))
			}
		}
		pack2Bits(b[16:80], L[:])
	}
}

func quantQ3_K(src []float32, dst []byte) {
	var (
		L      [qkK]int8
		scales [16]float32
		u      [qkK]uint8
	)
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*blockQ3 : (i+1)*blockQ3]
		sc := b[96:108]

		var maxScale, amax float32
		for j := 0; j < 16; j++ {
			scales[j] = makeQ3Quants(4, x[16*j:16*j+16], L[16*j:16*j+16])
			if a := abs32(scales[j]); a > amax {
				amax, maxScale = a, scales[j]
			}
		}

		// 6-bit signed sub-block scales (-32..31) against the one with
		// the largest magnitude, which maps to -32.
		clear(sc)
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := 0; j < 16; j++ {
				l := int8(nearestInt(float32(iscale * scales[j])))
				l = max(-32, min(31, l)) + 32
				if j < 8 {
					sc[j] = byte(l) & 0x0f
				} else {
					sc[j-8] |= (byte(l) & 0x0f) << 4
				}
				sc[8+j%4] |= byte(l>>4) << (2 * (j / 4))
			}
			putFP16(b[108:], 1/iscale)
		} else {
			putFP16(b[108:], 0)
		}

		dAll := fp16At(b[108:])
		for j := 0; j < 16; j++ {
			dl := float32(dAll * float32(q3Scale(sc, j)))
			if dl == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := nearestInt(x[16*j+ii] / dl)
				L[16*j+ii] = int8(clamp(l, -4, 3) + 4)
			}
		}

		packQ3_K(b, &L, &u)
	}
}

// packQ3_K stores the quants L (0..7) of one block: the high bit of element
// j goes to hmask[j%32], bit j/32; the low two bits are packed like Q2_K's
// (u is scratch space).
func packQ3_K(b []byte, L *[qkK]int8, u *[qkK]uint8) {
	hmask := b[0:32]
	clear(hmask)
	for j := range L {
		q := uint8(L[j])
		if q > 3 {
			hmask[j%32] |= 1 << (j / 32)
			q -= 4
		}
		u[j] = q
	}
	pack2Bits(b[32:96], u[:])
}

// quantQ2_KWeighted is quantize_row_q2_K_impl, Q2_K under an importance
// matrix: each 16-element sub-block is fitted (squared error, weights
// qw·sqrt(σ² + x²) with σ² the block's mean square) over 37 candidate
// scales, and the sub-block scales and mins are then quantized to 4 bits by
// their own weighted search (makeQPQuants) instead of against the largest.
func quantQ2_KWeighted(src, qw []float32, dst []byte) {
	var (
		L       [qkK]uint8
		laux    [16]uint8
		weights [16]float32
		scales  [16]float32
		mins    [16]float32
		sw      [16]float32
		ls, lm  [16]uint8
	)
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		w := qw[i*qkK : (i+1)*qkK]
		b := dst[i*blockQ2 : (i+1)*blockQ2]
		sc := b[0:16]

		sigma2 := float32(sumSquares(x) / qkK)
		for j := 0; j < 16; j++ {
			xs := x[16*j : 16*j+16]
			imatrixWeights(weights[:], xs, w[16*j:16*j+16], sigma2)
			sw[j] = sumOf(weights[:])
			scales[j], mins[j] = makeQKX2Quants(3, xs, weights[:], L[16*j:16*j+16], laux[:], -0.9, 0.05, 36, false)
		}

		dm := makeQPQuants(15, scales[:], ls[:], sw[:])
		mm := makeQPQuants(15, mins[:], lm[:], sw[:])
		d := putFP16(b[80:], dm)
		dmin := putFP16(b[82:], mm)
		for j := range sc {
			sc[j] = ls[j] | lm[j]<<4
		}

		for j := 0; j < 16; j++ {
			dl := float32(d * float32(sc[j]&0x0f))
			if dl == 0 {
				continue
			}
			ml := float32(dmin * float32(sc[j]>>4))
			for ii := 0; ii < 16; ii++ {
				l := nearestInt((x[16*j+ii] + ml) / dl)
				L[16*j+ii] = uint8(clamp(l, 0, 3))
			}
		}
		pack2Bits(b[16:80], L[:])
	}
}

// quantQ3_KWeighted is quantize_row_q3_K_impl, Q3_K under an importance
// matrix: sub-blocks are fitted by makeQXQuants under qw·sqrt(σ² + x²) (σ²
// twice the block's mean square), and their scales by makeQXQuants again,
// weighted by each sub-block's total weight, rather than against the
// largest scale.
func quantQ3_KWeighted(src, qw []float32, dst []byte) {
	var (
		L       [qkK]int8
		scales  [16]float32
		weights [16]float32
		sw      [16]float32
		ls      [16]int8
		u       [qkK]uint8
	)
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		w := qw[i*qkK : (i+1)*qkK]
		b := dst[i*blockQ3 : (i+1)*blockQ3]
		sc := b[96:108]

		sigma2 := float32(float32(2*sumSquares(x)) / qkK)
		for j := 0; j < 16; j++ {
			xs := x[16*j : 16*j+16]
			imatrixWeights(weights[:], xs, w[16*j:16*j+16], sigma2)
			sw[j] = sumOf(weights[:])
			scales[j] = makeQXQuants(4, xs, L[16*j:16*j+16], weights[:])
		}

		// The 6-bit scale codes come out of the search already offset by
		// 32, in 0..63.
		clear(sc)
		dBlock := makeQXQuants(32, scales[:], ls[:], sw[:])
		for j := 0; j < 16; j++ {
			l := byte(ls[j])
			if j < 8 {
				sc[j] = l & 0x0f
			} else {
				sc[j-8] |= (l & 0x0f) << 4
			}
			sc[8+j%4] |= (l >> 4) << (2 * (j / 4))
		}
		dAll := putFP16(b[108:], dBlock)

		for j := 0; j < 16; j++ {
			dl := float32(dAll * float32(q3Scale(sc, j)))
			if dl == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := nearestInt(x[16*j+ii] / dl)
				L[16*j+ii] = int8(clamp(l, -4, 3) + 4)
			}
		}
		packQ3_K(b, &L, &u)
	}
}

// quantKSubScales is the common front half of Q4_K and Q5_K: fit each of the
// eight 32-element sub-blocks with makeQKX2Quants, quantize their scales and
// mins to 6 bits against the largest of each, and store them with d and dmin.
// It returns the quants in L, requantized against the stored scales.
func quantKSubScales(x []float32, b []byte, L *[qkK]uint8, nmax int32, rmin float32, nstep int) {
	var (
		laux    [32]uint8
		weights [32]float32
		scales  [8]float32
		mins    [8]float32
	)
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		// Weight each element by the sub-block's RMS plus its own
		// magnitude.
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrt32(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, xs, weights[:], L[32*j:32*j+32], laux[:], rmin, 0.1, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}

	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	var ls, lm [8]uint8
	for j := 0; j < 8; j++ {
		ls[j] = min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm[j] = min(63, uint8(nearestInt(float32(invMin*mins[j]))))
	}
	putScaleMinK4(b[4:16], &ls, &lm)
	putFP16(b, maxScale/63)
	putFP16(b[2:], maxMin/63)
	requantK4(x, b, L, nmax)
}

// requantK4 re-derives the quants L (0..nmax) of a Q4_K/Q5_K block from the
// scales and mins stored in b, as the reference and weighted quantizers both
// do; sub-blocks whose stored scale is zero keep their search quants.
func requantK4(x []float32, b []byte, L *[qkK]uint8, nmax int32) {
	d, dmin := fp16At(b), fp16At(b[2:])
	for j := 0; j < 8; j++ {
		sc, m := scaleMinK4(j, b[4:16])
		dl := float32(d * float32(sc))
		if dl == 0 {
			continue
		}
		ml := float32(dmin * float32(m))
		for ii := 0; ii < 32; ii++ {
			l := nearestInt((x[32*j+ii] + ml) / dl)
			L[32*j+ii] = uint8(clamp(l, 0, nmax))
		}
	}
}

// quantKSubScalesWeighted is the common front half of Q4_K's and Q5_K's
// weighted quantizers (quantize_row_q4_K_impl, quantize_row_q5_K_impl): fit
// each 32-element sub-block under qw·sqrt(σ² + x²), σ² twice the block's
// mean square, over 37 candidate scales; quantize the scales and the mins to
// 6 bits by their own searches (makeQPQuants, weighted by each sub-block's
// total weight); store them with d and dmin; requantize. Q5_K clamps the
// 6-bit codes to 63 (clamp63); Q4_K stores them as they come, as ggml does.
func quantKSubScalesWeighted(x, qw []float32, b []byte, L *[qkK]uint8, nmax int32, clamp63 bool) {
	var (
		laux    [32]uint8
		weights [32]float32
		scales  [8]float32
		mins    [8]float32
		sw      [8]float32
		ls, lm  [8]uint8
	)
	sigma2 := float32(float32(2*sumSquares(x)) / qkK)
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		imatrixWeights(weights[:], xs, qw[32*j:32*j+32], sigma2)
		sw[j] = sumOf(weights[:])
		scales[j], mins[j] = makeQKX2Quants(nmax, xs, weights[:], L[32*j:32*j+32], laux[:], -0.9, 0.05, 36, false)
	}
	dBlock := makeQPQuants(63, scales[:], ls[:], sw[:])
	mBlock := makeQPQuants(63, mins[:], lm[:], sw[:])
	if clamp63 {
		for j := range ls {
			ls[j], lm[j] = min(63, ls[j]), min(63, lm[j])
		}
	}
	// Unlike putScaleMinK4 this keeps all eight bits of the codes of
	// sub-blocks 0-3, as ggml does (only a wrapped-around negative code
	// has more than six).
	s := b[4:16]
	for j := 0; j < 4; j++ {
		s[j] = ls[j] | (ls[j+4]>>4)<<6
		s[j+4] = lm[j] | (lm[j+4]>>4)<<6
		s[j+8] = ls[j+4]&0x0f | (lm[j+4]&0x0f)<<4
	}
	putFP16(b, dBlock)
	putFP16(b[2:], mBlock)
	requantK4(x, b, L, nmax)
}

func quantQ4_K(src []float32, dst []byte) {
	var L [qkK]uint8
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*blockQ4 : (i+1)*blockQ4]
		quantKSubScales(x, b, &L, 15, -1, 20)
		packQ4_K(b, &L)
	}
}

// quantQ4_KWeighted is quantize_row_q4_K_impl: Q4_K under an importance
// matrix.
func quantQ4_KWeighted(src, qw []float32, dst []byte) {
	var L [qkK]uint8
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*blockQ4 : (i+1)*blockQ4]
		quantKSubScalesWeighted(x, qw[i*qkK:(i+1)*qkK], b, &L, 15, false)
		packQ4_K(b, &L)
	}
}

// packQ4_K stores the quants L (0..15): 32 bytes per 64 elements, the first
// 32 in the low nibbles.
func packQ4_K(b []byte, L *[qkK]uint8) {
	for k := 0; k < 4; k++ {
		q := b[16+32*k : 16+32*k+32]
		for l := range q {
			q[l] = L[64*k+l] | L[64*k+32+l]<<4
		}
	}
}

func quantQ5_K(src []float32, dst []byte) {
	var L [qkK]uint8
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*blockQ5 : (i+1)*blockQ5]
		quantKSubScales(x, b, &L, 31, -0.5, 15)
		packQ5_K(b, &L)
	}
}

// quantQ5_KWeighted is quantize_row_q5_K_impl: Q5_K under an importance
// matrix.
func quantQ5_KWeighted(src, qw []float32, dst []byte) {
	var L [qkK]uint8
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*blockQ5 : (i+1)*blockQ5]
		quantKSubScalesWeighted(x, qw[i*qkK:(i+1)*qkK], b, &L, 31, true)
		packQ5_K(b, &L)
	}
}

// packQ5_K stores the quants L (0..31): low nibbles like Q4_K's, the fifth
// bits of elements 64k+l and 64k+32+l in bits 2k and 2k+1 of qh[l].
func packQ5_K(b []byte, L *[qkK]uint8) {
	qh := b[16:48]
	clear(qh)
	for k := 0; k < 4; k++ {
		ql := b[48+32*k : 48+32*k+32]
		for l := range ql {
			q1, q2 := L[64*k+l], L[64*k+32+l]
			qh[l] |= (q1>>4)<<(2*k) | (q2>>4)<<(2*k+1)
			ql[l] = q1&0x0f | (q2&0x0f)<<4
		}
	}
}

func quantQ6_K(src []float32, dst []byte) { quantQ6_KRows(src, nil, dst) }

// quantQ6_KWeighted is quantize_row_q6_K_impl: the sub-block search weighs
// each element by its importance-matrix entry alone (not combined with the
// data, unlike the other K-quants); the rest is the reference quantizer.
func quantQ6_KWeighted(src, qw []float32, dst []byte) { quantQ6_KRows(src, qw, dst) }

// quantQ6_KRows quantizes whole rows as Q6_K, under the importance matrix qw
// (one weight per element of src's rows) when it is not nil.
func quantQ6_KRows(src, qw []float32, dst []byte) {
	var (
		L      [qkK]int8
		scales [16]float32
	)
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*blockQ6 : (i+1)*blockQ6]
		var w []float32
		if qw != nil {
			w = qw[i*qkK : (i+1)*qkK]
		}

		var maxScale, maxAbsScale float32
		for j := 0; j < 16; j++ {
			var wj []float32
			if w != nil {
				wj = w[16*j : 16*j+16]
			}
			s := makeQXQuants(32, x[16*j:16*j+16], L[16*j:16*j+16], wj)
			scales[j] = s
			if a := abs32(s); a > maxAbsScale {
				maxAbsScale, maxScale = a, s
			}
		}
		if maxAbsScale < groupMaxEps {
			clear(b) // an all-zero block, d = +0
			continue
		}

		// 8-bit signed sub-block scales against the largest-magnitude
		// one, which maps to -128.
		iscale := -128 / maxScale
		d := putFP16(b[208:], 1/iscale)
		sc := b[192:208]
		for j := range sc {
			sc[j] = byte(int8(min(127, nearestInt(float32(iscale*scales[j])))))
		}

		for j := 0; j < 16; j++ {
			dl := float32(d * float32(int8(sc[j])))
			if dl == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := nearestInt(x[16*j+ii] / dl)
				L[16*j+ii] = int8(clamp(l, -32, 31) + 32)
			}
		}

		// Low nibbles: ql[64h + l] holds elements 128h+l (low) and
		// 128h+l+64 (high); ql[64h + 32 + l] holds 128h+l+32 and
		// 128h+l+96. The top two bits of those four go to qh[32h + l].
		for h := 0; h < 2; h++ {
			ql := b[64*h : 64*h+64]
			qh := b[128+32*h : 128+32*h+32]
			for l := 0; l < 32; l++ {
				j := 128*h + l
				q1, q2, q3, q4 := uint8(L[j]), uint8(L[j+32]), uint8(L[j+64]), uint8(L[j+96])
				ql[l] = q1&0x0f | (q3&0x0f)<<4
				ql[l+32] = q2&0x0f | (q4&0x0f)<<4
				qh[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
			}
		}
	}
}

// quantQ8_K follows quantize_row_q8_K_ref: 8-bit quants against the largest
// magnitude mapped to -127, a float32 scale, and per-16 sums of the quants
// (used by dot products). Q8_K is an activation format that llama.cpp never
// writes to files; ggml leaves bsums untouched for an all-zero block, here
// they are zeroed.
func quantQ8_K(src []float32, dst []byte) {
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*blockQ8 : (i+1)*blockQ8]
		qs := b[4 : 4+qkK]
		max, amax := absMax(x)
		if amax == 0 {
			clear(b)
			continue
		}
		iscale := -127 / max
		for j, v := range x {
			qs[j] = byte(int8(min(127, nearestInt(float32(iscale*v)))))
		}
		for j := 0; j < 16; j++ {
			var sum int32
			for _, q := range qs[16*j : 16*j+16] {
				sum += int32(int8(q))
			}
			binary.LittleEndian.PutUint16(b[4+qkK+2*j:], uint16(int16(sum)))
		}
		binary.LittleEndian.PutUint32(b, math.Float32bits(1/iscale))
	}
}
