package quant

import (
	"encoding/binary"
	"math"
)

// The original ggml block formats: 32 elements per block, one fp16 scale d
// (and for the _1 variants an fp16 offset m). In the 4- and 5-bit formats
// byte j of qs holds element j in its low nibble and element j+16 in its
// high nibble; Q8_0 stores one int8 per element.
//
//	Q4_0  d | qs[16]                x = d * (q - 8)
//	Q4_1  d | m | qs[16]            x = d * q + m
//	Q5_0  d | qh[4] | qs[16]        x = d * (q - 16), q's 5th bit in qh
//	Q5_1  d | m | qh[4] | qs[16]    x = d * q + m
//	Q8_0  d | qs[32] (int8)         x = d * q

const (
	qk          = 32 // elements per legacy block
	blockQ4_0   = 2 + qk/2
	blockQ4_1   = 4 + qk/2
	blockQ5_0   = 2 + 4 + qk/2
	blockQ5_1   = 4 + 4 + qk/2
	blockQ8_0   = 2 + qk
	blockIQ4_NL = 2 + qk/2
)

// ---- dequantization ----

func dequantQ4_0(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*blockQ4_0 : (i+1)*blockQ4_0]
		y := dst[i*qk : (i+1)*qk]
		d := fp16At(b)
		qs := b[2:18]
		for j := 0; j < qk/2; j++ {
			y[j] = float32(int32(qs[j]&0x0f)-8) * d
			y[j+qk/2] = float32(int32(qs[j]>>4)-8) * d
		}
	}
}

func dequantQ4_1(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*blockQ4_1 : (i+1)*blockQ4_1]
		y := dst[i*qk : (i+1)*qk]
		d := fp16At(b)
		m := fp16At(b[2:])
		qs := b[4:20]
		for j := 0; j < qk/2; j++ {
			y[j] = float32(float32(qs[j]&0x0f)*d) + m
			y[j+qk/2] = float32(float32(qs[j]>>4)*d) + m
		}
	}
}

func dequantQ5_0(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*blockQ5_0 : (i+1)*blockQ5_0]
		y := dst[i*qk : (i+1)*qk]
		d := fp16At(b)
		qh := binary.LittleEndian.Uint32(b[2:])
		qs := b[6:22]
		for j := 0; j < qk/2; j++ {
			// Bit j of qh is the 5th bit of element j, bit j+16 that of
			// element j+16.
			h0 := byte(qh>>j) & 1 << 4
			h1 := byte(qh>>(j+16)) & 1 << 4
			y[j] = float32(int32(qs[j]&0x0f|h0)-16) * d
			y[j+qk/2] = float32(int32(qs[j]>>4|h1)-16) * d
		}
	}
}

func dequantQ5_1(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*blockQ5_1 : (i+1)*blockQ5_1]
		y := dst[i*qk : (i+1)*qk]
		d := fp16At(b)
		m := fp16At(b[2:])
		qh := binary.LittleEndian.Uint32(b[4:])
		qs := b[8:24]
		for j := 0; j < qk/2; j++ {
			h0 := byte(qh>>j) & 1 << 4
			h1 := byte(qh>>(j+16)) & 1 << 4
			y[j] = float32(float32(qs[j]&0x0f|h0)*d) + m
			y[j+qk/2] = float32(float32(qs[j]>>4|h1)*d) + m
		}
	}
}

func dequantQ8_0(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*blockQ8_0 : (i+1)*blockQ8_0]
		y := dst[i*qk : (i+1)*qk]
		d := fp16At(b)
		qs := b[2:34]
		for j := range y {
			y[j] = float32(int8(qs[j])) * d
		}
	}
}

// ---- quantization (ggml's *_ref quantizers) ----

// absMax returns the element of x with the largest magnitude (the first one
// on ties) and that magnitude. Q4_0 and Q5_0 need the signed value: the
// scale is chosen so that this element maps exactly onto the most negative
// quant, which has no positive counterpart.
func absMax(x []float32) (max, amax float32) {
	for _, v := range x {
		if a := abs32(v); amax < a {
			amax, max = a, v
		}
	}
	return max, amax
}

// minMax returns the smallest and largest element of x.
func minMax(x []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < lo {
			lo = v
		}
		if v > hi {
			hi = v
		}
	}
	return lo, hi
}

// inverse is 1/d, or 0 when d is 0 (an all-zero block).
func inverse(d float32) float32 {
	if d != 0 {
		return 1 / d
	}
	return 0
}

func quantQ4_0(src []float32, dst []byte) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*blockQ4_0 : (i+1)*blockQ4_0]
		max, _ := absMax(x)
		d := max / -8
		id := inverse(d)
		putFP16(b, d)
		qs := b[2:18]
		for j := 0; j < qk/2; j++ {
			// Adding 8.5 and truncating rounds half up onto 0..16; 16
			// (only reachable by the extreme element's opposite) clamps.
			q0 := min(15, int32(float32(x[j]*id)+8.5))
			q1 := min(15, int32(float32(x[j+qk/2]*id)+8.5))
			qs[j] = byte(q0) | byte(q1)<<4
		}
	}
}

func quantQ4_1(src []float32, dst []byte) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*blockQ4_1 : (i+1)*blockQ4_1]
		lo, hi := minMax(x)
		d := (hi - lo) / 15
		id := inverse(d)
		putFP16(b, d)
		putFP16(b[2:], lo)
		qs := b[4:20]
		for j := 0; j < qk/2; j++ {
			q0 := min(15, int32(float32((x[j]-lo)*id)+0.5))
			q1 := min(15, int32(float32((x[j+qk/2]-lo)*id)+0.5))
			qs[j] = byte(q0) | byte(q1)<<4
		}
	}
}

func quantQ5_0(src []float32, dst []byte) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*blockQ5_0 : (i+1)*blockQ5_0]
		max, _ := absMax(x)
		d := max / -16
		id := inverse(d)
		putFP16(b, d)
		var qh uint32
		qs := b[6:22]
		for j := 0; j < qk/2; j++ {
			q0 := min(31, int32(float32(x[j]*id)+16.5))
			q1 := min(31, int32(float32(x[j+qk/2]*id)+16.5))
			qs[j] = byte(q0&0x0f) | byte(q1&0x0f)<<4
			qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+qk/2)
		}
		binary.LittleEndian.PutUint32(b[2:], qh)
	}
}

func quantQ5_1(src []float32, dst []byte) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*blockQ5_1 : (i+1)*blockQ5_1]
		lo, hi := minMax(x)
		d := (hi - lo) / 31
		id := inverse(d)
		putFP16(b, d)
		putFP16(b[2:], lo)
		var qh uint32
		qs := b[8:24]
		for j := 0; j < qk/2; j++ {
			// ggml does not clamp here: (x-lo)*id never exceeds 31.5.
			q0 := uint8(int32(float32((x[j]-lo)*id) + 0.5))
			q1 := uint8(int32(float32((x[j+qk/2]-lo)*id) + 0.5))
			qs[j] = q0&0x0f | (q1&0x0f)<<4
			qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+qk/2)
		}
		binary.LittleEndian.PutUint32(b[4:], qh)
	}
}

func quantQ8_0(src []float32, dst []byte) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*blockQ8_0 : (i+1)*blockQ8_0]
		var amax float32
		for _, v := range x {
			// Written as ggml's MAX macro (not the max builtin) so that
			// even NaN inputs take the same path.
			if a := abs32(v); !(amax > a) {
				amax = a
			}
		}
		d := amax / 127
		id := inverse(d)
		putFP16(b, d)
		qs := b[2:34]
		for j, v := range x {
			// roundf: halves away from zero. float32 -> float64 is exact,
			// so math.Round sees the same value.
			qs[j] = byte(int8(math.Round(float64(v * id))))
		}
	}
}

// ---- quantization under an importance matrix (ggml's quantize_row_*_impl) ----

// The weighted legacy quantizers search each block's scale (and min) under
// the weights qw·sqrt(σ² + x²), σ² being the mean square of the whole row:
// Q4_0 and Q5_0 with makeQXQuants over 19 scales, Q4_1 and Q5_1 with the
// K-quants' min-and-scale search over 37. Their stored quants are the
// search's own (no requantization against the rounded fp16 scale).

// rowSigma2 is the mean square of a row, the σ² of the legacy types'
// importance weights.
func rowSigma2(x []float32) float32 {
	return float32(sumSquares(x) / float32(len(x)))
}

// packQ4 stores 32 quants (0..15) as 16 bytes: j low, j+16 high.
func packQ4(qs []byte, L []uint8) {
	for j := 0; j < qk/2; j++ {
		qs[j] = L[j] | L[j+qk/2]<<4
	}
}

// packQ5 stores 32 quants (0..31): low nibbles as packQ4 into qs, fifth
// bits into the 32-bit qh, bit j for element j.
func packQ5(qh, qs []byte, L []uint8) {
	var h uint32
	for j := 0; j < qk/2; j++ {
		q0, q1 := L[j], L[j+qk/2]
		qs[j] = q0&0x0f | (q1&0x0f)<<4
		h |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+qk/2)
	}
	binary.LittleEndian.PutUint32(qh, h)
}

// quantLegacySymWeighted is quantize_row_q4_0_impl (nmax 8) and
// quantize_row_q5_0_impl (nmax 16), which write the search's quants, offset
// by nmax, with pack.
func quantLegacySymWeighted(src, qw []float32, dst []byte, nmax int32, blockSize int, pack func(b []byte, L []uint8)) {
	var (
		weights [qk]float32
		L       [qk]int8
		u       [qk]uint8
	)
	sigma2 := rowSigma2(src)
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*blockSize : (i+1)*blockSize]
		imatrixWeights(weights[:], x, qw[i*qk:(i+1)*qk], sigma2)
		putFP16(b, makeQXQuants(nmax, x, L[:], weights[:]))
		for j, l := range L {
			u[j] = uint8(l)
		}
		pack(b, u[:])
	}
}

// quantLegacyAsymWeighted is quantize_row_q4_1_impl (nmax 15) and
// quantize_row_q5_1_impl (nmax 31): d and m stored at 0 and 2, the quants
// written with pack.
func quantLegacyAsymWeighted(src, qw []float32, dst []byte, nmax int32, blockSize int, pack func(b []byte, L []uint8)) {
	var (
		weights [qk]float32
		L, laux [qk]uint8
	)
	sigma2 := rowSigma2(src)
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*blockSize : (i+1)*blockSize]
		imatrixWeights(weights[:], x, qw[i*qk:(i+1)*qk], sigma2)
		d, m := makeQKX2Quants(nmax, x, weights[:], L[:], laux[:], -0.9, 0.05, 36, false)
		putFP16(b, d)
		putFP16(b[2:], -m)
		pack(b, L[:])
	}
}

func quantQ4_0Weighted(src, qw []float32, dst []byte) {
	quantLegacySymWeighted(src, qw, dst, 8, blockQ4_0, func(b []byte, L []uint8) { packQ4(b[2:18], L) })
}

func quantQ4_1Weighted(src, qw []float32, dst []byte) {
	quantLegacyAsymWeighted(src, qw, dst, 15, blockQ4_1, func(b []byte, L []uint8) { packQ4(b[4:20], L) })
}

func quantQ5_0Weighted(src, qw []float32, dst []byte) {
	quantLegacySymWeighted(src, qw, dst, 16, blockQ5_0, func(b []byte, L []uint8) { packQ5(b[2:6], b[6:22], L) })
}

func quantQ5_1Weighted(src, qw []float32, dst []byte) {
	quantLegacyAsymWeighted(src, qw, dst, 31, blockQ5_1, func(b []byte, L []uint8) { packQ5(b[4:8], b[8:24], L) })
}
