package quant

import "encoding/binary"

// IQ4_NL and IQ4_XS: 4-bit indices into a fixed non-linear codebook whose
// levels are denser near zero, where most weights live.
//
//	IQ4_NL  d @0 | qs[16] @2                                      (18, 32 elements)
//	IQ4_XS  d @0 | scales_h (uint16) @2 | scales_l[4] @4 | qs[128] @8 (136, 256 elements)
//
// IQ4_XS gives each 32-element sub-block a 6-bit scale (-32..31 after
// removing the bias): low nibble in scales_l (two per byte), top two bits in
// scales_h. In both, qs byte j of a 32-element group holds element j in the
// low nibble and j+16 in the high nibble.

// iq4Values is the IQ4 codebook (ggml's kvalues_iq4nl).
var iq4Values = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// iq4Floats is iq4Values as float32, sparing the decoders an int-to-float
// conversion per element (the conversion is exact, so results are equal).
var iq4Floats = func() (f [16]float32) {
	for i, v := range iq4Values {
		f[i] = float32(v)
	}
	return f
}()

const blockIQ4XS = 136

func dequantIQ4_NL(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*blockIQ4_NL : (i+1)*blockIQ4_NL]
		y := dst[i*qk : (i+1)*qk]
		d := fp16At(b)
		qs := b[2:18]
		for j := 0; j < qk/2; j++ {
			y[j] = d * iq4Floats[qs[j]&0x0f]
			y[j+qk/2] = d * iq4Floats[qs[j]>>4]
		}
	}
}

func dequantIQ4_XS(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockIQ4XS : (i+1)*blockIQ4XS]
		y := dst[i*qkK : (i+1)*qkK]
		d := fp16At(b)
		scalesH := binary.LittleEndian.Uint16(b[2:])
		scalesL := b[4:8]
		for ib := 0; ib < 8; ib++ {
			ls := int32(scalesL[ib/2]>>(4*(ib%2))&0x0f) | int32(scalesH>>(2*ib)&3)<<4
			dl := d * float32(ls-32)
			qs := b[8+16*ib : 8+16*ib+16]
			out := y[32*ib : 32*ib+32]
			for j := 0; j < 16; j++ {
				out[j] = dl * iq4Floats[qs[j]&0x0f]
				out[j+16] = dl * iq4Floats[qs[j]>>4]
			}
		}
	}
}

// bestIndexIQ4 returns the index of the codebook level nearest to x (the
// upper one on an exact tie), by bisection.
func bestIndexIQ4(x float32) uint8 {
	v := &iq4Values
	if x <= float32(v[0]) {
		return 0
	}
	if x >= float32(v[15]) {
		return 15
	}
	lo, hi := 0, 15
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if x < float32(v[mid]) {
			hi = mid
		} else {
			lo = mid
		}
	}
	if x-float32(v[lo]) < float32(v[hi])-x {
		return uint8(lo)
	}
	return uint8(hi)
}

// iq4SubScale finds the scale of one 32-element group: it starts from the
// scale that maps the largest-magnitude element onto the codebook's extreme
// -127 level, then tries the 15 scales that map it onto -134..-120 and keeps
// the least-squares scale of whichever rounding has the lowest weighted
// error. The weights are weight when it is not nil, else x². This is the
// search of ggml's quantize_row_iq4_nl_impl with ntry = 7, as
// ggml_quantize_chunk runs it; the quants are chosen afterwards by the
// caller.
func iq4SubScale(xb, weight []float32) float32 {
	const ntry = 7
	max, amax := absMax(xb)
	if amax < groupMaxEps {
		return 0
	}
	v0 := float32(iq4Values[0])
	id := 1 / (-max / v0)
	var sumqx, sumq2 float32
	for j, x := range xb {
		q := float32(iq4Values[bestIndexIQ4(float32(id*x))])
		w := iq4Weight(weight, j, x)
		sumqx += float32(float32(w*q) * x)
		sumq2 += float32(float32(w*q) * q)
	}
	var d float32
	if sumq2 > 0 {
		d = sumqx / sumq2
	}
	best := float32(d * sumqx)
	for itry := -ntry; itry <= ntry; itry++ {
		id = float32(itry+int(iq4Values[0])) / max
		sumqx, sumq2 = 0, 0
		for j, x := range xb {
			q := float32(iq4Values[bestIndexIQ4(float32(id*x))])
			w := iq4Weight(weight, j, x)
			sumqx += float32(float32(w*q) * x)
			sumq2 += float32(float32(w*q) * q)
		}
		if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
			d = sumqx / sumq2
			best = float32(d * sumqx)
		}
	}
	return d
}

// iq4Weight is element j's weight in iq4SubScale: weight[j], or x² without
// weights.
func iq4Weight(weight []float32, j int, x float32) float32 {
	if weight != nil {
		return weight[j]
	}
	return x * x
}

// iq4Sigma2 is twice the mean square of x (a 32-element IQ4_NL block or a
// 256-element IQ4_XS super-block), the σ² of the importance weights.
func iq4Sigma2(x []float32) float32 {
	return float32(sumSquares(x) * (2 / float32(len(x))))
}

// packIQ4 stores 32 codebook indices as 16 bytes: j low, j+16 high.
func packIQ4(qs []byte, L []uint8) {
	for j := 0; j < 16; j++ {
		qs[j] = L[j] | L[j+16]<<4
	}
}

func quantIQ4_NL(src []float32, dst []byte) { quantIQ4_NLRows(src, nil, dst) }

// quantIQ4_NLWeighted is quantize_iq4_nl under an importance matrix: each
// block's scale search weighs its elements by qw·sqrt(σ² + x²), σ² twice
// the block's own mean square.
func quantIQ4_NLWeighted(src, qw []float32, dst []byte) { quantIQ4_NLRows(src, qw, dst) }

func quantIQ4_NLRows(src, qw []float32, dst []byte) {
	var (
		L      [qk]uint8
		weight [qk]float32
	)
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*blockIQ4_NL : (i+1)*blockIQ4_NL]
		var w []float32
		if qw != nil {
			imatrixWeights(weight[:], x, qw[i*qk:(i+1)*qk], iq4Sigma2(x))
			w = weight[:]
		}
		d := iq4SubScale(x, w)
		putFP16(b, d)
		// Quants are chosen against the unrounded float32 scale, as ggml
		// does.
		id := inverse(d)
		for j, v := range x {
			L[j] = bestIndexIQ4(float32(id * v))
		}
		packIQ4(b[2:18], L[:])
	}
}

func quantIQ4_XS(src []float32, dst []byte) { quantIQ4_XSRows(src, nil, dst) }

// quantIQ4_XSWeighted is quantize_iq4_xs under an importance matrix: the
// sub-block scale searches weigh elements by qw·sqrt(σ² + x²), σ² twice the
// super-block's mean square; the 6-bit scales are quantized as without one.
func quantIQ4_XSWeighted(src, qw []float32, dst []byte) { quantIQ4_XSRows(src, qw, dst) }

func quantIQ4_XSRows(src, qw []float32, dst []byte) {
	var (
		L      [32]uint8
		scales [8]float32
		weight [32]float32
	)
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*blockIQ4XS : (i+1)*blockIQ4XS]
		var sigma2 float32
		if qw != nil {
			sigma2 = iq4Sigma2(x)
		}
		var maxScale, amaxScale float32
		for ib := range scales {
			xb := x[32*ib : 32*ib+32]
			var w []float32
			if qw != nil {
				imatrixWeights(weight[:], xb, qw[i*qkK+32*ib:i*qkK+32*ib+32], sigma2)
				w = weight[:]
			}
			scales[ib] = iq4SubScale(xb, w)
			if a := abs32(scales[ib]); a > amaxScale {
				amaxScale, maxScale = a, scales[ib]
			}
		}
		// 6-bit signed sub-block scales against the largest-magnitude one,
		// which maps to -32.
		d := -maxScale / 32
		putFP16(b, d)
		id := inverse(d)
		var scalesH uint16
		scalesL := b[4:8]
		for ib := range scales {
			l := clamp(nearestInt(float32(id*scales[ib])), -32, 31)
			idl := inverse(float32(d * float32(l)))
			xb := x[32*ib : 32*ib+32]
			for j, v := range xb {
				L[j] = bestIndexIQ4(float32(idl * v))
			}
			packIQ4(b[8+16*ib:8+16*ib+16], L[:])
			l += 32
			if ib%2 == 0 {
				scalesL[ib/2] = byte(l & 0x0f)
			} else {
				scalesL[ib/2] |= byte(l&0x0f) << 4
			}
			scalesH |= uint16(l>>4) << (2 * ib)
		}
		binary.LittleEndian.PutUint16(b[2:], scalesH)
	}
}
