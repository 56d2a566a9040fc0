package quant

import (
	"math"

	"github.com/ondo-ai/ondo/tensor"
)

// TQ1_0 and TQ2_0: ternary weights (BitNet b1.58, TriLM), every element
// one of -d, 0, +d for a per-block fp16 scale d, 256 elements per block.
//
//	TQ1_0  qs[48] @0 | qh[4] @48 | d @52   (54 bytes, 1.6875 bits per weight)
//	TQ2_0  qs[64] @0 | d @64               (66 bytes, 2.0625 bits per weight)
//
// A trit t in 0..2 stands for t-1. TQ2_0 gives each trit two bits: byte m
// of the 32-byte group g holds elements 128g+32l+m in bits 2l..2l+1.
//
// TQ1_0 packs five trits into a byte, base 3 with the first trit most
// significant, and stores the number n (0..242) as the byte ⌈256n/243⌉:
// a fixed-point fraction of 1 whose base-3 digits are the trits. Then
// trit k is read back by multiplying the byte by 3^k modulo 256 (dropping
// the digits before it) and taking the integer part of 3 times that, i.e.
// (3·b') >> 8. The 256 elements are split over the bytes as:
//
//	qs[0:32]   elements 32k+m      (trit k of byte m, k = 0..4)
//	qs[32:48]  elements 160+16k+m  (trit k of byte 32+m)
//	qh[0:4]    elements 240+4k+m   (trit k of qh[m], k = 0..3; trit 4 is 0)

const (
	blockTQ1_0 = 54
	blockTQ2_0 = 66
)

func init() {
	codecs[tensor.TQ1_0] = codec{dequant: dequantTQ1_0, quant: quantTQ1_0, ignoresImatrix: true}
	codecs[tensor.TQ2_0] = codec{dequant: dequantTQ2_0, quant: quantTQ2_0, ignoresImatrix: true}
}

// tq1Pow3 holds the multipliers 3^k that bring trit k of a TQ1_0 byte to
// the front (the product wraps modulo 256 on purpose).
var tq1Pow3 = [5]uint8{1, 3, 9, 27, 81}

// ternaryLevels returns float32(t-1)*d for t = 0..3, the values a trit (or
// TQ2_0's unused fourth code) decodes to, computed as ggml does so that
// even 0*d keeps the sign of d.
func ternaryLevels(d float32) [4]float32 {
	return [4]float32{float32(-1) * d, float32(0) * d, float32(1) * d, float32(2) * d}
}

func dequantTQ1_0(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockTQ1_0 : (i+1)*blockTQ1_0]
		y := dst[i*qkK : (i+1)*qkK]
		lv := ternaryLevels(fp16At(b[52:]))
		for k, p := range tq1Pow3 {
			// Trit k of byte v: (3 · (v·3^k mod 256)) >> 8.
			out := y[32*k : 32*k+32]
			for m, v := range b[0:32] {
				out[m] = lv[uint16(v*p)*3>>8]
			}
			out = y[160+16*k : 160+16*k+16]
			for m, v := range b[32:48] {
				out[m] = lv[uint16(v*p)*3>>8]
			}
			if k < 4 {
				out = y[240+4*k : 240+4*k+4]
				for m, v := range b[48:52] {
					out[m] = lv[uint16(v*p)*3>>8]
				}
			}
		}
	}
}

func dequantTQ2_0(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockTQ2_0 : (i+1)*blockTQ2_0]
		y := dst[i*qkK : (i+1)*qkK]
		lv := ternaryLevels(fp16At(b[64:]))
		for g := 0; g < 2; g++ {
			out := y[128*g : 128*g+128]
			for m, v := range b[32*g : 32*g+32] {
				out[m] = lv[v&3]
				out[32+m] = lv[v>>2&3]
				out[64+m] = lv[v>>4&3]
				out[96+m] = lv[v>>6]
			}
		}
	}
}

// ternaryScale returns the scale of a ternary block, its largest magnitude,
// and the reciprocal the quants are computed with (0 for a zero block).
func ternaryScale(x []float32) (d, id float32) {
	for _, v := range x {
		// ggml's MAX(amax, |v|): keeps amax only when it is larger.
		if a := abs32(v); !(d > a) {
			d = a
		}
	}
	if d != 0 {
		id = 1 / d
	}
	return d, id
}

// ternaryTrit returns lroundf(r)+1 truncated to a byte, the trit (0..2) of
// the scaled weight r = x/d, which lies in [-1, 1] for a finite block. When
// a block's largest magnitude is so small that its reciprocal overflows, r
// is infinite or NaN; glibc's lroundf then yields LONG_MIN on x86-64 (whose
// low byte is 0), so the trit comes out as 1, and so does it here.
func ternaryTrit(r float32) uint8 {
	if !(abs32(r) < 1<<62) {
		return 1
	}
	// math.Round rounds halves away from zero, like lroundf; widening to
	// float64 is exact.
	return uint8(int64(math.Round(float64(r))) + 1)
}

// tq1Byte turns the base-3 number n (at most 242 for valid trits) into the
// stored fraction ⌈256n/243⌉; arithmetic as ggml's, including its wrapping
// of n to a byte.
func tq1Byte(n uint8) uint8 {
	return uint8((uint32(n)*256 + 242) / 243)
}

func quantTQ1_0(src []float32, dst []byte) {
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*blockTQ1_0 : (i+1)*blockTQ1_0]
		d, id := ternaryScale(x)
		putFP16(b[52:], d)
		for m := 0; m < 32; m++ {
			var n uint8
			for k := 0; k < 5; k++ {
				n = n*3 + ternaryTrit(x[32*k+m]*id)
			}
			b[m] = tq1Byte(n)
		}
		for m := 0; m < 16; m++ {
			var n uint8
			for k := 0; k < 5; k++ {
				n = n*3 + ternaryTrit(x[160+16*k+m]*id)
			}
			b[32+m] = tq1Byte(n)
		}
		for m := 0; m < 4; m++ {
			var n uint8
			for k := 0; k < 4; k++ {
				n = n*3 + ternaryTrit(x[240+4*k+m]*id)
			}
			// The fifth trit is a zero digit: shift the four up one place.
			b[48+m] = tq1Byte(n * 3)
		}
	}
}

func quantTQ2_0(src []float32, dst []byte) {
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*blockTQ2_0 : (i+1)*blockTQ2_0]
		d, id := ternaryScale(x)
		putFP16(b[64:], d)
		for g := 0; g < 2; g++ {
			xg := x[128*g : 128*g+128]
			for m := 0; m < 32; m++ {
				var q uint8
				for l := 0; l < 4; l++ {
					q |= ternaryTrit(xg[32*l+m]*id) & 3 << (2 * l)
				}
				b[32*g+m] = q
			}
		}
	}
}
