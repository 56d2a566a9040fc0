package kernels

import "math"

// fma32 returns a·b + c rounded once to float32, the result of a hardware
// float32 fused multiply-add (VFMADD231PS, FMLA), computed with float64
// arithmetic so that the portable kernels reproduce the assembly bit for
// bit on every platform.
//
// The product of two float32 values is exact in float64 (24+24 < 53 bits),
// so only the sum rounds. Rounding the sum to float64 and then to float32
// could round twice the wrong way, so the float64 sum is corrected to
// round-to-odd first: when the float64 sum is inexact (the TwoSum error is
// non-zero) and its last bit is even, it moves one unit towards the exact
// value. Rounding a round-to-odd result with at least 2·24+2 bits to
// float32 is the same as rounding the exact value once (Boldo and
// Melquiond, "When double rounding is odd", 2005).
func fma32(a, b, c float32) float32 {
	p := float64(a) * float64(b) // exact
	cc := float64(c)
	s := p + cc
	// TwoSum: e is the exact rounding error of s = p + cc.
	bb := s - p
	e := (p - (s - bb)) + (cc - bb)
	if e != 0 && s-s == 0 { // inexact and finite
		if bits := math.Float64bits(s); bits&1 == 0 {
			if (e > 0) == (s > 0) {
				bits++
			} else {
				bits--
			}
			s = math.Float64frombits(bits)
		}
	}
	return float32(s)
}

// hsum8 is the horizontal sum of eight float32 lanes in the order the
// assembly folds a YMM register: the high 128 bits onto the low, then the
// high 64 onto the low, then lane 1 onto lane 0. It is ggml's hsum_float_8.
func hsum8(a *[8]float32) float32 {
	v0, v1, v2, v3 := a[0]+a[4], a[1]+a[5], a[2]+a[6], a[3]+a[7]
	return (v0 + v2) + (v1 + v3)
}

// hsum8x8 folds each row of a with hsum8 and leaves the eight sums in
// a[0].
func hsum8x8(a *[8][8]float32) {
	if hsum8x8Asm != nil {
		hsum8x8Asm(a)
		return
	}
	var s [8]float32
	for i := range a {
		s[i] = hsum8(&a[i])
	}
	a[0] = s
}

// hsum8x8Asm is hsum8x8 in assembly, where the CPU has it.
var hsum8x8Asm func(a *[8][8]float32)
