package quant

import (
	"math"

	"github.com/ondo-ai/ondo/tensor"
)

// MXFP4, the OCP microscaling 4-bit float format (gpt-oss stores its expert
// weights in it): 32 elements share one power-of-two scale.
//
//	MXFP4  e @0 | qs[16] @1   (17 bytes, 32 elements)
//
// e is an E8M0 byte, the bare float exponent 2^(e-127). Each element is an
// E2M1 nibble (sign, two exponent bits, one mantissa bit), worth ±{0, 0.5,
// 1, 1.5, 2, 3, 4, 6}; byte j of qs holds element j in its low nibble and
// element j+16 in its high nibble. ggml keeps the nibble values doubled, as
// the integers of mxfp4Values, and halves the scale to make up for it:
//
//	x = mxfp4Values[q] · 2^(e-128)

const blockMXFP4 = 17

func init() {
	codecs[tensor.MXFP4] = codec{dequant: dequantMXFP4, quant: quantMXFP4, ignoresImatrix: true}
}

// mxfp4Values is the E2M1 codebook times two, indexed by nibble: codes 0-7
// are the non-negative values, 8-15 the same magnitudes negated (code 8 is
// negative zero, which decodes as zero). These are ggml's kvalues_mxfp4.
var mxfp4Values = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

// mxfp4Floats is mxfp4Values as float32 (exact), for the decoder.
var mxfp4Floats = func() (f [16]float32) {
	for i, v := range mxfp4Values {
		f[i] = float32(v)
	}
	return f
}()

// e8m0Half is half the value of the E8M0 scale byte e, 2^(e-128), built
// from its bits as ggml's ggml_e8m0_to_fp32_half builds it. For e >= 2 that
// is a normal float32 with biased exponent e-1 and an empty mantissa (e =
// 255 gives 2^127: ggml gives the byte no NaN meaning). 2^-128 and 2^-127
// (e = 0, 1) lie below float32's normal range and are the subnormals with
// just mantissa bit 21 or 22 set.
func e8m0Half(e uint8) float32 {
	if e < 2 {
		return math.Float32frombits(0x00200000 << e)
	}
	return math.Float32frombits(uint32(e-1) << 23)
}

// MXFP4Scale returns the float32 factor of an MXFP4 block whose scale byte
// (the block's first byte) is e: 2^(e-128), half the E8M0 value, since the
// codebook of MXFP4Codebook holds doubled values. An element with nibble q
// decodes to float32(MXFP4Codebook()[q]) * MXFP4Scale(e), exactly the value
// Dequantize produces (and ggml's dequantize_row_mxfp4).
func MXFP4Scale(e uint8) float32 { return e8m0Half(e) }

// MXFP4Codebook returns the values of MXFP4's 16 nibble codes, doubled so
// that they are integers: 0, 1, 2, 3, 4, 6, 8, 12 for codes 0-7 and their
// negatives for codes 8-15. Byte j of a block's 16 quant bytes (after the
// scale byte) holds element j in its low nibble and element j+16 in its
// high nibble.
func MXFP4Codebook() [16]int8 { return mxfp4Values }

func dequantMXFP4(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*blockMXFP4 : (i+1)*blockMXFP4]
		y := dst[i*qk : (i+1)*qk]
		d := e8m0Half(b[0])
		qs := b[1:17]
		for j := 0; j < qk/2; j++ {
			y[j] = mxfp4Floats[qs[j]&0x0f] * d
			y[j+qk/2] = mxfp4Floats[qs[j]>>4] * d
		}
	}
}

// mxfp4Exponent chooses the scale byte for a block whose largest magnitude
// is amax > 0: the one that puts amax/d, for the halved scale d, in
// [8, 16), so that the largest elements map to the top codebook levels 8
// and 12. It is floor(log2f(amax)) - 2 + 127 computed as ggml does, in float32,
// truncated to an int and then to a byte: a block below 2^-125 wraps round
// to a huge scale, an infinite amax to 0 (the byte of x86's 0x80000000).
//
// log2f rounds: just below a power of two it returns the integer itself,
// and the floor then lands one too high. Rounding Go's float64 log2 to
// float32 reproduces that: it agrees with glibc's log2f under floor for
// every positive finite float32 (checked exhaustively), and its error is
// far below the margin that decides the rounding near each integer.
func mxfp4Exponent(amax float32) uint8 {
	if math.IsInf(float64(amax), 1) {
		return 0
	}
	l := float32(math.Floor(float64(float32(math.Log2(float64(amax))))))
	return uint8(int32(l - 2 + 127))
}

// nearestMXFP4 returns the code whose value times d is nearest to x, the
// lowest code on ties (so 0 rather than negative zero, and the smaller
// magnitude between two levels), with errors rounded to float32 as in
// ggml's best_index_mxfp4.
func nearestMXFP4(x, d float32) uint8 {
	best := uint8(0)
	bestErr := abs32(float32(mxfp4Floats[0]*d) - x)
	for i := 1; i < 16; i++ {
		if err := abs32(float32(mxfp4Floats[i]*d) - x); err < bestErr {
			best, bestErr = uint8(i), err
		}
	}
	return best
}

func quantMXFP4(src []float32, dst []byte) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*blockMXFP4 : (i+1)*blockMXFP4]
		var amax float32
		for _, v := range x {
			if a := abs32(v); amax < a {
				amax = a
			}
		}
		var e uint8
		if amax > 0 {
			e = mxfp4Exponent(amax)
		}
		b[0] = e
		d := e8m0Half(e)
		for j := 0; j < qk/2; j++ {
			b[1+j] = nearestMXFP4(x[j], d) | nearestMXFP4(x[j+qk/2], d)<<4
		}
	}
}
