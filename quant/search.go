package quant

import "math"

// Scale searches shared by the quantizers. They follow ggml's reference
// algorithms operation for operation, in float32, because the quant bytes
// llama.cpp writes depend on every rounding along the way (a scale that
// differs in the last bit can flip a quant, which moves a whole search).

// groupMaxEps is the magnitude below which a group counts as all zeros.
const groupMaxEps = 1e-15

// nearestInt rounds f to the nearest integer, ties to even, using ggml's
// trick: adding 1.5*2^23 pushes the fraction out of a float32's mantissa,
// so the hardware's round-to-nearest-even does the work and the integer can
// be read back from the low mantissa bits. It is exact for |f| < 2^22; for
// larger (or non-finite) inputs it returns the same garbage ggml computes,
// which keeps even degenerate inputs byte-compatible.
func nearestInt(f float32) int32 {
	v := f + 12582912
	return int32(math.Float32bits(v)&0x007fffff) - 0x00400000
}

func abs32(x float32) float32 {
	return math.Float32frombits(math.Float32bits(x) &^ (1 << 31))
}

// sqrt32 is sqrtf. Rounding the correctly rounded float64 root to float32
// gives the correctly rounded float32 root (53 >= 2*24+2 bits), so this
// matches the C library exactly.
func sqrt32(x float32) float32 { return float32(math.Sqrt(float64(x))) }

func clamp(v, lo, hi int32) int32 { return max(lo, min(hi, v)) }

// makeQXQuants finds a scale for symmetric quants of x in [-nmax, nmax-1]
// and stores them, offset by nmax, in L. It starts from the scale that maps
// the largest-magnitude element onto -nmax, then tries 18 nearby scales and
// keeps the one that minimises the weighted squared error. The weights are
// qw when it is not nil (one per element: an importance matrix, possibly
// already combined with the data) and x² otherwise, which favours the large
// elements, the ones that matter most. Returned is the weighted
// least-squares scale of the chosen quants.
//
// This is ggml's make_qx_quants with rmse_type 1, the variant every
// quantizer uses (Q6_K without a matrix; Q4_0, Q5_0, Q3_K and Q6_K with one).
func makeQXQuants(nmax int32, x []float32, L []int8, qw []float32) float32 {
	max, amax := absMax(x)
	if amax < groupMaxEps {
		for i := range x {
			L[i] = 0
		}
		return 0
	}
	iscale := float32(-nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		w := qxWeight(qw, i, v)
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := float32(scale * sumlx)
	for is := int32(-9); is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(0.1*float32(is))) / max
		sumlx, suml2 = 0, 0
		for i, v := range x {
			l := clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1)
			w := qxWeight(qw, i, v)
			fl := float32(l)
			sumlx += float32(float32(w*v) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				l := clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1)
				L[i] = int8(l + nmax)
			}
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

// qxWeight is element i's weight in makeQXQuants: qw[i], or x² without qw.
func qxWeight(qw []float32, i int, v float32) float32 {
	if qw != nil {
		return qw[i]
	}
	return v * v
}

// makeQ3Quants finds a scale for symmetric quants of x in [-nmax, nmax-1],
// stored offset by nmax in L. After the initial max-based rounding it runs
// up to five passes of coordinate descent: each quant is moved to the value
// that is optimal given the others, if that improves the x²-weighted error.
// This is ggml's make_q3_quants with do_rmse, as used by Q3_K.
func makeQ3Quants(nmax int32, x []float32, L []int8) float32 {
	max, amax := absMax(x)
	if amax < groupMaxEps {
		for i := range x {
			L[i] = 0
		}
		return 0
	}
	iscale := float32(-nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clamp(nearestInt(float32(iscale*v)), -nmax, nmax-1)
		L[i] = int8(l)
		w := float32(v * v)
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			w := float32(v * v)
			li := float32(L[i])
			// Sums without element i; the best quant for it is then
			// x[i] * sl2 / slx.
			slx := sumlx - float32(float32(w*v)*li)
			if slx > 0 {
				sl2 := suml2 - float32(float32(w*li)*li)
				newL := clamp(nearestInt(float32(v*sl2)/slx), -nmax, nmax-1)
				if newL != int32(L[i]) {
					fl := float32(newL)
					slx += float32(float32(w*v) * fl)
					sl2 += float32(float32(w*fl) * fl)
					// Keep it if it raises sumlx²/suml2, i.e. lowers the
					// error of the least-squares scale.
					if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i] = int8(newL)
						sumlx, suml2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range x {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// makeQKX2Quants fits x ≈ scale*L - theMin with L in [0, nmax] (an
// asymmetric, "min + scale" quantization) under the given per-element
// weights. It starts from the plain min/max mapping and then tries nstep+1
// slightly different scales (rmin + rdelta*is steps beyond nmax), solving
// the weighted least-squares problem for scale and min for each candidate
// rounding, and keeps the lowest weighted error (absolute if useMAD, else
// squared). The min is never positive: if zero is inside the data it stays
// exactly representable. This is ggml's make_qkx2_quants, and with useMAD
// false also its make_qkx3_quants given weights (the weighted quantizers'
// variant, which differs only in defaulting absent weights to x²; the two
// tests for a constant input, max == min and max <= min, agree once min
// has been clamped to at most 0).
func makeQKX2Quants(nmax int32, x, weights []float32, L, Laux []uint8,
	rmin, rdelta float32, nstep int, useMAD bool) (scale, theMin float32) {

	n := len(x)
	min, max := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < min {
			min = x[i]
		}
		if x[i] > max {
			max = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if min > 0 {
		min = 0
	}
	if max == min {
		for i := range x {
			L[i] = 0
		}
		return 0, -min
	}

	errorOf := func(diff float32) float32 {
		if useMAD {
			return abs32(diff)
		}
		return float32(diff * diff)
	}

	iscale := float32(nmax) / (max - min)
	scale = 1 / iscale
	var bestErr float32
	for i, v := range x {
		l := nearestInt(float32(iscale * (v - min)))
		L[i] = uint8(clamp(l, 0, nmax))
		diff := float32(scale*float32(L[i])) + min - v
		bestErr += float32(weights[i] * errorOf(diff))
	}
	if nstep < 1 {
		return scale, -min
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + float32(nmax)) / (max - min)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clamp(nearestInt(float32(iscale*(v-min))), 0, nmax)
			Laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			wl := float32(w * fl)
			sumL += wl
			sumL2 += float32(wl * fl)
			sumXL += float32(wl * v)
		}
		// Normal equations of min over (scale, min) of Σ w (scale*l + min - x)².
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curErr float32
			for i, v := range x {
				diff := float32(thisScale*float32(Laux[i])) + thisMin - v
				curErr += float32(weights[i] * errorOf(diff))
			}
			if curErr < bestErr {
				copy(L[:n], Laux[:n])
				bestErr = curErr
				scale = thisScale
				min = thisMin
			}
		}
	}
	return scale, -min
}

// imatrixWeights fills weight with the search weights of the elements xb
// under their importance-matrix entries qw: qw·sqrt(σ² + x²). The σ² term
// (a mean square of the surrounding data, its span depending on the type)
// keeps small elements from being ignored outright. Callers round σ² with
// an explicit float32(...): it is a sum divided by a power of two, which
// compiles to a multiplication that would otherwise fuse with the addition
// here.
func imatrixWeights(weight, xb, qw []float32, sigma2 float32) {
	for i, v := range xb {
		weight[i] = qw[i] * sqrt32(sigma2+float32(v*v))
	}
}

// sumOf is Σ x in order, as a float32 accumulation.
func sumOf(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += v
	}
	return s
}
