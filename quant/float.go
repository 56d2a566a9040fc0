package quant

import "math"

// Half-precision (IEEE binary16) and bfloat16 scalar conversions.
//
// Every block format stores its scales as fp16, so these conversions sit on
// the hot path of both directions. They must agree bit for bit with ggml:
// fp16 -> fp32 is exact (every fp16 value is a float32), fp32 -> fp16 rounds
// to nearest, ties to even, exactly what the F16C instruction and ggml's
// portable fallback produce.

// fp16Table maps every fp16 bit pattern to its float32 value. 65536 entries
// (256 KiB) are filled once at start-up; a table lookup beats the branchy bit
// manipulation by a wide margin when dequantizing F16 tensors.
var fp16Table [1 << 16]float32

func init() {
	for h := range fp16Table {
		fp16Table[h] = fp16ToFloat32Slow(uint16(h))
	}
}

// FP16ToFloat32 converts an IEEE half-precision value, given as its bits, to
// float32. The conversion is exact; NaNs keep their payload and come back
// quiet (as F16C and ggml do).
func FP16ToFloat32(h uint16) float32 { return fp16Table[h] }

// fp16ToFloat32Slow is the arithmetic behind fp16Table.
func fp16ToFloat32Slow(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f && man == 0: // infinity
		return math.Float32frombits(sign | 0x7f800000)
	case exp == 0x1f: // NaN: keep the payload, set the quiet bit
		return math.Float32frombits(sign | 0x7fc00000 | man<<13)
	case exp == 0 && man == 0: // signed zero
		return math.Float32frombits(sign)
	case exp == 0:
		// Subnormal: man * 2^-24. Both factors and the product are exact
		// in float32, so no rounding happens here.
		v := float32(man) * (1.0 / (1 << 24))
		return math.Float32frombits(sign | math.Float32bits(v))
	default:
		// Normal: rebias the exponent from 15 to 127 and widen the
		// mantissa from 10 to 23 bits.
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	}
}

// Float32ToFP16 converts f to IEEE half precision with round-to-nearest-even.
// Values too large for fp16 become ±Inf, values too small become (signed)
// zero or a subnormal, and every NaN becomes the quiet NaN 0x7e00 with f's
// sign, which is what ggml's portable conversion writes.
func Float32ToFP16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	man := b & 0x7fffff

	if exp == 0xff { // Inf or NaN
		if man != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	}

	// Exponent of f re-biased for fp16.
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00 // overflow
	}
	if e >= 1 {
		// Normal fp16: drop 13 mantissa bits and round. A carry out of the
		// mantissa moves into the exponent field, which is exactly the
		// right result (including rounding up to Inf from 65520).
		h := uint16(e)<<10 | uint16(man>>13)
		rem := man & 0x1fff
		if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
			h++
		}
		return sign | h
	}

	// Subnormal fp16 (or zero). f32 subnormals are far below half of the
	// smallest fp16 subnormal (2^-24), so they round to zero.
	if exp == 0 {
		return sign
	}
	// f = m * 2^(exp-150) with the implicit bit made explicit; in units of
	// the fp16 subnormal step 2^-24 that is m >> (126-exp).
	m := man | 0x800000
	shift := uint32(126 - exp) // >= 14 here
	if shift >= 25 {
		return sign // under half the smallest subnormal step: rounds to zero
	}
	q := m >> shift
	rem := m & (1<<shift - 1)
	half := uint32(1) << (shift - 1)
	if rem > half || (rem == half && q&1 == 1) {
		q++ // may carry into the smallest normal, which is the right encoding
	}
	return sign | uint16(q)
}

// BF16ToFloat32 converts a bfloat16 value, given as its bits, to float32.
// bfloat16 is the top half of a float32, so this is exact.
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBF16 converts f to bfloat16 the way ggml does: round to nearest,
// ties to even, with subnormals kept (not flushed). A NaN keeps its top bits
// and gets the quiet bit forced on so that truncation can never turn it into
// an infinity.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	// Adding 0x7fff plus the lowest kept bit rounds ties towards the even
	// neighbour; the carry propagates into the exponent as needed.
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// fp16At reads the little-endian fp16 at b[0:2] as float32.
func fp16At(b []byte) float32 {
	_ = b[1]
	return fp16Table[uint16(b[0])|uint16(b[1])<<8]
}

// putFP16 stores f as a little-endian fp16 at b[0:2] and returns the float32
// value actually stored, which the quantizers reuse (as ggml does) when they
// re-derive quants from the rounded scale.
func putFP16(b []byte, f float32) float32 {
	h := Float32ToFP16(f)
	_ = b[1]
	b[0] = byte(h)
	b[1] = byte(h >> 8)
	return fp16Table[h]
}
