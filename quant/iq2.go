package quant

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/ondo-ai/ondo/tensor"
)

// IQ2_XXS, IQ2_XS and IQ2_S: "true" 2-bit quants. Each group of 8 weights is
// stored as an index into a fixed lattice of 8-element magnitude vectors
// (every coordinate 8, 25 or 43) plus 8 signs, and each group of 32 (XXS)
// or 16 (XS, S) weights has a 4-bit scale s, worth d * (0.5+s) * 0.25.
//
//	IQ2_XXS  d @0 | per 32 elements: 4 index bytes, then a uint32 of
//	         4×7 sign bits and the scale in bits 28-31 @2     (66)
//	IQ2_XS   d @0 | qs[32] (uint16: 9-bit index, 7 sign bits) @2 |
//	         scales[8] (low nibble: first 16 of a 32, high: second) @66 (74)
//	IQ2_S    d @0 | index low bytes[32] @2 | signs[32] @34 |
//	         index bits 8-9[8] (four groups a byte) @66 | scales[8] @74 (82)
//
// XXS and XS store 7 sign bits per group: the eighth is implied by even
// parity (signsWithParity), and their quantizers make each group's number of
// negative values even by flipping the sign of its least important one.
// IQ2_S stores all 8 sign bits.
//
// llama.cpp quantizes IQ2_XXS and IQ2_XS only with an importance matrix.

const (
	blockIQ2XXS = 66
	blockIQ2XS  = 74
	blockIQ2S   = 82
)

// iq2NeedsImatrix is why IQ2_XXS and IQ2_XS are not quantized without an
// importance matrix, in llama.cpp's words.
const iq2NeedsImatrix = "missing quantization weights (ggml_quantize_requires_imatrix: " +
	"very low-bit quantization without an importance matrix gives garbage)"

func init() {
	codecs[tensor.IQ2_XXS] = codec{dequant: dequantIQ2_XXS, weighted: quantIQ2_XXSWeighted, needsImatrix: iq2NeedsImatrix}
	codecs[tensor.IQ2_XS] = codec{dequant: dequantIQ2_XS, weighted: quantIQ2_XSWeighted, needsImatrix: iq2NeedsImatrix}
	codecs[tensor.IQ2_S] = codec{dequant: dequantIQ2_S, quant: quantIQ2_S, weighted: quantIQ2_SWeighted}
}

// signsWithParity expands a 7-bit sign code to the 8-bit sign mask of a
// group of 8 (bit j set: element j is negative): bit 7 is the parity of the
// seven stored bits, so a mask always has an even number of bits set. It is
// ggml's ksigns_iq2xs, shared by IQ2_XXS, IQ2_XS and IQ3_XXS.
var signsWithParity = func() (t [128]uint8) {
	for i := range t {
		p := i ^ i>>4
		p ^= p >> 2
		p ^= p >> 1
		t[i] = uint8(i | (p&1)<<7)
	}
	return t
}()

// evenSigns splits the 8 values xb into their magnitudes, written to xval,
// and the 7-bit sign code that signsWithParity expands. When xb has an odd
// number of negative values, the one with the smallest weight*x² keeps a
// flipped sign: its xval entry is negative and its sign bit is cleared (or
// set), which makes the count even. weight holds xb's 8 weights. IQ2_XXS,
// IQ2_XS and IQ3_XXS prepare their groups this way.
func evenSigns(xb, weight, xval []float32) uint8 {
	_, _ = xb[7], xval[7]
	var s uint8
	neg := 0
	for i := 0; i < 8; i++ {
		if xb[i] >= 0 {
			xval[i] = xb[i]
		} else {
			xval[i] = -xb[i]
			neg++
			s |= 1 << i
		}
	}
	if neg%2 != 0 {
		imin := 0
		least := float32(weight[0]*xb[0]) * xb[0]
		for i := 1; i < 8; i++ {
			if a := float32(weight[i]*xb[i]) * xb[i]; a < least {
				least, imin = a, i
			}
		}
		xval[imin] = -xval[imin]
		s ^= 1 << imin
	}
	return s & 127
}

// iq2Point is a grid point's 8 coordinates as bytes (8, 25 or 43).
type iq2Point [8]uint8

// iq2Points expands a packed grid (level l of element i in bits 2i, levels
// 0, 1, 2 standing for 8, 25, 43) into the bytes the decoders multiply.
func iq2Points(pts []iq2Point, packed []uint16) {
	levels := [3]uint8{8, 25, 43}
	for j, u := range packed {
		for i := range pts[j] {
			pts[j][i] = levels[u>>(2*i)&3]
		}
	}
}

// The grids as decoders read them: arrays, so that a masked index needs no
// bounds check.
var (
	iq2XXSGrid [256]iq2Point
	iq2XSGrid  [512]iq2Point
	iq2SGrid   [1024]iq2Point
)

// signFactors[s][j] is -1 where bit j of the sign mask s is set, else 1.
var signFactors [256][8]float32

func init() {
	iq2Points(iq2XXSGrid[:], iq2XXSGridPacked[:])
	iq2Points(iq2XSGrid[:], iq2XSGridPacked[:])
	iq2Points(iq2SGrid[:], iq2SGridPacked[:])
	for s := range signFactors {
		for j := range signFactors[s] {
			signFactors[s][j] = 1 - 2*float32(s>>j&1)
		}
	}
}

// putIQ2Group decodes one group of 8: out[j] = db * p[j], negated where bit
// j of signs is set. Like ggml it multiplies by ±1 rather than negating, so
// even a NaN scale decodes to the same bits.
func putIQ2Group(out []float32, db float32, p *iq2Point, signs uint8) {
	out = out[:8]
	f := &signFactors[signs]
	for j := range out {
		out[j] = db * float32(p[j]) * f[j]
	}
}

func dequantIQ2_XXS(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockIQ2XXS : (i+1)*blockIQ2XXS]
		y := dst[i*qkK : (i+1)*qkK]
		d := fp16At(b)
		for ib := 0; ib < 8; ib++ {
			q := b[2+8*ib : 10+8*ib]
			aux := binary.LittleEndian.Uint32(q[4:])
			db := d * (0.5 + float32(aux>>28)) * 0.25
			for l := 0; l < 4; l++ {
				putIQ2Group(y[32*ib+8*l:], db, &iq2XXSGrid[q[l]], signsWithParity[aux>>(7*l)&127])
			}
		}
	}
}

func dequantIQ2_XS(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockIQ2XS : (i+1)*blockIQ2XS]
		y := dst[i*qkK : (i+1)*qkK]
		d := fp16At(b)
		scales := b[66:74]
		for ib := 0; ib < 8; ib++ {
			db := [2]float32{
				d * (0.5 + float32(scales[ib]&0x0f)) * 0.25,
				d * (0.5 + float32(scales[ib]>>4)) * 0.25,
			}
			for l := 0; l < 4; l++ {
				q := binary.LittleEndian.Uint16(b[2+8*ib+2*l:])
				putIQ2Group(y[32*ib+8*l:], db[l/2], &iq2XSGrid[q&511], signsWithParity[q>>9])
			}
		}
	}
}

func dequantIQ2_S(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockIQ2S : (i+1)*blockIQ2S]
		y := dst[i*qkK : (i+1)*qkK]
		d := fp16At(b)
		qs, signs, qh, scales := b[2:34], b[34:66], b[66:74], b[74:82]
		for ib := 0; ib < 8; ib++ {
			db := [2]float32{
				d * (0.5 + float32(scales[ib]&0x0f)) * 0.25,
				d * (0.5 + float32(scales[ib]>>4)) * 0.25,
			}
			for l := 0; l < 4; l++ {
				idx := uint16(qs[4*ib+l]) | uint16(qh[ib]>>(2*l)&3)<<8
				putIQ2Group(y[32*ib+8*l:], db[l/2], &iq2SGrid[idx], signs[4*ib+l])
			}
		}
	}
}

// ---- quantization ----

// iq2Lattice is what the IQ2 quantizers search: a grid, and for every
// vector of 8 levels (0..2) that is not on it the grid points nearest to
// it. Vectors are keyed by their packed form (level of element i in bits
// 2i, at most 0xaaaa). ggml builds the same tables in iq2xs_init_impl.
type iq2Lattice struct {
	levels [][8]uint8   // grid point j's levels
	odd    [][8]float32 // grid point j's coordinates as 2*level+1
	// index[u] is the grid index of vector u when it is on the grid, and
	// otherwise -1-o where neighbours[o] counts the indices that follow.
	index      []int32
	neighbours []uint16
}

// newIQ2Lattice builds the search tables of a packed grid. The neighbours
// of an off-grid vector are the grid points at the nwant smallest squared
// distances (in the 2*level+1 coordinates), in order of distance and then
// of grid index: the order in which ggml visits them, which decides ties.
func newIQ2Lattice(packed []uint16, nwant int) *iq2Lattice {
	n := len(packed)
	lat := &iq2Lattice{
		levels: make([][8]uint8, n),
		odd:    make([][8]float32, n),
		index:  make([]int32, 0xaaab),
	}
	for i := range lat.index {
		lat.index[i] = math.MinInt32 // not a vector of levels 0..2
	}
	for j, u := range packed {
		for i := 0; i < 8; i++ {
			l := uint8(u >> (2 * i) & 3)
			lat.levels[j][i] = l
			lat.odd[j][i] = float32(2*l + 1)
		}
		lat.index[u] = int32(j)
	}
	dist := make([]int32, n)
	for v := 0; v < 6561; v++ { // every vector of 8 base-3 digits
		u, t := 0, v
		var pos [8]int32
		for i := 0; i < 8; i++ {
			pos[i] = int32(2*(t%3) + 1)
			u |= t % 3 << (2 * i)
			t /= 3
		}
		if lat.index[u] >= 0 {
			continue
		}
		for j := range lat.levels {
			var d2 int32
			for i := 0; i < 8; i++ {
				e := int32(2*lat.levels[j][i]+1) - pos[i]
				d2 += e * e
			}
			dist[j] = d2
		}
		start := len(lat.neighbours)
		lat.index[u] = int32(-1 - start)
		lat.neighbours = append(lat.neighbours, 0)
		prev := int32(-1)
		for have := 0; have < nwant; have++ {
			next := int32(math.MaxInt32)
			for _, d2 := range dist {
				if d2 > prev && d2 < next {
					next = d2
				}
			}
			if next == math.MaxInt32 {
				break
			}
			for j, d2 := range dist {
				if d2 == next {
					lat.neighbours = append(lat.neighbours, uint16(j))
				}
			}
			prev = next
		}
		lat.neighbours[start] = uint16(len(lat.neighbours) - start - 1)
	}
	return lat
}

var (
	iq2XXSOnce, iq2XSOnce, iq2SOnce sync.Once
	iq2XXSLat, iq2XSLat, iq2SLat    *iq2Lattice
)

// iq2LatticeXXS, iq2LatticeXS and iq2LatticeS build their lattice's tables
// at first use (ggml's neighbour counts: 2 distances for XXS and XS, 1 for
// S).
func iq2LatticeXXS() *iq2Lattice {
	iq2XXSOnce.Do(func() { iq2XXSLat = newIQ2Lattice(iq2XXSGridPacked[:], 2) })
	return iq2XXSLat
}

func iq2LatticeXS() *iq2Lattice {
	iq2XSOnce.Do(func() { iq2XSLat = newIQ2Lattice(iq2XSGridPacked[:], 2) })
	return iq2XSLat
}

func iq2LatticeS() *iq2Lattice {
	iq2SOnce.Do(func() { iq2SLat = newIQ2Lattice(iq2SGridPacked[:], 1) })
	return iq2SLat
}

// packLevels returns the key of 8 levels.
func packLevels(L []uint8) uint16 {
	_ = L[7]
	var u uint16
	for i := 0; i < 8; i++ {
		u |= uint16(L[i]) << (2 * i)
	}
	return u
}

// roundLevels sets L to the levels nearest to id*xval (clamped to 0..2:
// level l stands for 2l+1) and returns their key.
func roundLevels(id float32, xval []float32, L []uint8) uint16 {
	_, _ = xval[7], L[7]
	for i := 0; i < 8; i++ {
		L[i] = uint8(clamp(nearestInt(float32(0.5*(float32(id*xval[i])-1))), 0, 2))
	}
	return packLevels(L)
}

// snap finds the grid point for the levels keyed u, which roundLevels
// derived from xval at the given scale. An off-grid u is replaced by the
// neighbour with the least w-weighted squared error against xval, whose
// levels are written to L. It reports the grid index and whether u was on
// the grid.
//
// ggml aborts when no neighbour has a finite error (inputs near float32's
// range); the first neighbour is taken here instead.
func (lat *iq2Lattice) snap(u uint16, xval, w []float32, scale float32, L []uint8) (int, bool) {
	k := lat.index[u]
	if k >= 0 {
		return int(k), true
	}
	o := int(-1 - k)
	list := lat.neighbours[o+1 : o+1+int(lat.neighbours[o])]
	_, _ = xval[7], w[7]
	best, gi := float32(math.MaxFloat32), int(list[0])
	for _, j := range list {
		p := &lat.odd[j]
		var d2 float32
		for i := 0; i < 8; i++ {
			diff := float32(scale*p[i]) - xval[i]
			d2 += float32(float32(w[i]*diff) * diff)
		}
		if d2 < best {
			best, gi = d2, int(j)
		}
	}
	copy(L[:8], lat.levels[gi][:])
	return gi, false
}

// gridIndex is the grid index of the levels L, which must be on the grid.
func (lat *iq2Lattice) gridIndex(L []uint8) int {
	k := lat.index[packLevels(L)]
	if k < 0 {
		panic("quant: IQ2 levels not on the grid")
	}
	return int(k)
}

// iq2Sums returns Σ w·x·q and Σ w·q² over the group, q = 2L+1.
func iq2Sums(xval, w []float32, L []uint8) (sumqx, sumq2 float32) {
	for i, x := range xval {
		q := float32(2*L[i] + 1)
		sumqx += float32(float32(w[i]*x) * q)
		sumq2 += float32(float32(w[i]*q) * q)
	}
	return sumqx, sumq2
}

// sumSquares is Σ x² in order, as a float32 accumulation.
func sumSquares(x []float32) float32 {
	var s float32
	for _, v := range x {
		s += float32(v * v)
	}
	return s
}

// makeQPQuants picks non-negative quants L (0..nmax) and a scale for the
// values x under weights w, and returns the scale: it starts from the
// scale that maps the largest value onto nmax, keeps whichever of 8 nearby
// scales has the least weighted squared error, then moves single quants
// while that raises (Σwxl)²/Σwl², for at most 5 passes. This is ggml's
// make_qp_quants; like it, L holds bytes, so a negative x (which the IQ2_XXS
// sign fix-up can leave) rounds to a wrapped-around quant in the first
// steps, with the same effect on the scale as in ggml.
func makeQPQuants(nmax int32, x []float32, L []uint8, w []float32) float32 {
	var max float32
	for _, v := range x {
		if !(max > v) {
			max = v
		}
	}
	if max < groupMaxEps {
		for i := range L[:len(x)] {
			L[i] = 0
		}
		return 0
	}
	iscale := float32(nmax) / max
	for i, v := range x {
		L[i] = uint8(nearestInt(float32(iscale * v)))
	}
	scale := 1 / iscale
	var bestMSE float32
	for i, v := range x {
		diff := v - float32(scale*float32(L[i]))
		bestMSE += float32(float32(w[i]*diff) * diff)
	}
	for is := -4; is <= 4; is++ {
		if is == 0 {
			continue
		}
		iscaleIs := (float32(0.1*float32(is)) + float32(nmax)) / max
		scaleIs := 1 / iscaleIs
		var mse float32
		for i, v := range x {
			l := min(nmax, nearestInt(float32(iscaleIs*v)))
			diff := v - float32(scaleIs*float32(l))
			mse += float32(float32(w[i]*diff) * diff)
		}
		if mse < bestMSE {
			bestMSE, iscale = mse, iscaleIs
		}
	}
	var sumlx, suml2 float32
	for i, v := range x {
		l := min(nmax, nearestInt(float32(iscale*v)))
		L[i] = uint8(l)
		fl := float32(l)
		sumlx += float32(float32(w[i]*v) * fl)
		suml2 += float32(float32(w[i]*fl) * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := false
		for i, v := range x {
			wi, li := w[i], float32(L[i])
			slx := sumlx - float32(float32(wi*v)*li)
			sl2 := suml2 - float32(float32(wi*li)*li)
			if slx > 0 && sl2 > 0 {
				nl := min(nmax, nearestInt(float32(float32(v*sl2)/slx)))
				if nl != int32(L[i]) {
					fl := float32(nl)
					slx += float32(float32(wi*v) * fl)
					sl2 += float32(float32(wi*fl) * fl)
					if float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i], sumlx, suml2 = uint8(nl), slx, sl2
						changed = true
					}
				}
			}
		}
		if !changed {
			break
		}
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// iq2ScaleCodes returns the super-block scale d = maxScale/31 and writes
// the 4-bit code of each sub-block scale, the s nearest to
// scale/d = (0.5+s)*2, against the unrounded d (as ggml codes them).
func iq2ScaleCodes(scales []float32, maxScale float32, codes []uint8) float32 {
	d := maxScale / 31
	id := 1 / d
	for i, s := range scales {
		codes[i] = uint8(clamp(nearestInt(float32(0.5*(float32(id*s)-1))), 0, 15))
	}
	return d
}

func quantIQ2_XXSWeighted(x, qw []float32, dst []byte) {
	lat := iq2LatticeXXS()
	var (
		scales             [8]float32
		codes              [8]uint8
		weight, waux, xval [32]float32
		L, Laux, Lqp       [32]uint8
		signs              [4]uint8
		q2                 [16]uint32
	)
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		xbl := x[qkK*ibl : qkK*(ibl+1)]
		qwb := qw[qkK*ibl : qkK*(ibl+1)]
		b := dst[blockIQ2XXS*ibl : blockIQ2XXS*(ibl+1)]
		q2 = [16]uint32{}
		var maxScale float32
		sigma2 := float32(sumSquares(xbl) / qkK)
		for ib := 0; ib < 8; ib++ {
			xb := xbl[32*ib : 32*ib+32]
			for i, v := range xb {
				weight[i] = qwb[32*ib+i] * sqrt32(sigma2+float32(v*v))
				waux[i] = sqrt32(weight[i])
			}
			for k := 0; k < 4; k++ {
				signs[k] = evenSigns(xb[8*k:], weight[8*k:], xval[8*k:])
			}
			max := xval[0]
			for _, v := range xval[1:] {
				if !(max > v) {
					max = v
				}
			}
			if max < groupMaxEps {
				scales[ib] = 0
				continue
			}
			scale := makeQPQuants(4, xval[:], Lqp[:], weight[:])
			effMax := scale * 3
			if effMax <= 0 {
				scales[ib] = 0
				continue
			}
			var best float32
			for is := -6; is <= 6; is++ {
				id := (5 + float32(float32(is)*0.1)) / effMax
				this := 1 / id
				for k := 0; k < 4; k++ {
					u := roundLevels(id, xval[8*k:], Laux[8*k:])
					lat.snap(u, xval[8*k:8*k+8], waux[8*k:], this, Laux[8*k:])
				}
				sumqx, sumq2 := iq2Sums(xval[:], weight[:], Laux[:])
				if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
					scale = sumqx / sumq2
					best = scale * sumqx
					L = Laux
				}
			}
			if scale > 0 {
				id := 1 / scale
				for k := 0; k < 4; k++ {
					u := roundLevels(id, xval[8*k:], Laux[8*k:])
					gi, _ := lat.snap(u, xval[8*k:8*k+8], waux[8*k:], scale, L[8*k:])
					copy(L[8*k:8*k+8], lat.levels[gi][:])
				}
				if sumqx, sumq2 := iq2Sums(xval[:], weight[:], L[:]); sumq2 > 0 {
					scale = sumqx / sumq2
				}
			}
			if scale < 0 {
				scale = -scale
				for k := range signs {
					signs[k] = ^signs[k] & 127
				}
			}
			for k := 0; k < 4; k++ {
				q2[2*ib] |= uint32(lat.gridIndex(L[8*k:])) << (8 * k)
				q2[2*ib+1] |= uint32(signs[k]) << (7 * k)
			}
			scales[ib] = scale
			if !(maxScale > scale) {
				maxScale = scale
			}
		}
		clear(b)
		if maxScale == 0 {
			continue
		}
		d := iq2ScaleCodes(scales[:], maxScale, codes[:])
		putFP16(b, d)
		for ib := range codes {
			q2[2*ib+1] |= uint32(codes[ib]) << 28
		}
		for j, v := range q2 {
			binary.LittleEndian.PutUint32(b[2+4*j:], v)
		}
	}
}

// iq2Sub16 is one 16-element sub-block as IQ2_XS and IQ2_S quantize it:
// the scale, and the grid index and 8-bit sign mask (7 bits plus parity
// for XS) of its two groups. ok is false for a sub-block of zeros, which
// writes nothing.
type iq2Sub16 struct {
	scale float32
	index [2]int
	signs [2]uint8
	ok    bool
}

// quantIQ2Sub16 quantizes the 16 values xb under the weights weight: the
// scale search shared by IQ2_XS (parity signs, ggml's GROUP_MAX_EPS) and
// IQ2_S (8 free signs, an all-zero threshold of 1e-8). It tries 19 scales
// around max/5, snapping each group's rounded levels to the grid, keeps the
// rounding with the best (Σwxq)²/Σwq², and re-snaps groups that were off
// the grid at the final scale.
func quantIQ2Sub16(lat *iq2Lattice, xb, weight []float32, parity bool, eps float32) (r iq2Sub16) {
	var (
		waux, xval   [16]float32
		L, Laux      [16]uint8
		onGrid, onAu [2]bool
	)
	for i := range waux {
		waux[i] = sqrt32(weight[i])
	}
	for k := 0; k < 2; k++ {
		if parity {
			r.signs[k] = evenSigns(xb[8*k:], weight[8*k:], xval[8*k:])
			continue
		}
		var s uint8
		for i := 0; i < 8; i++ {
			if v := xb[8*k+i]; v >= 0 {
				xval[8*k+i] = v
			} else {
				xval[8*k+i] = -v
				s |= 1 << i
			}
		}
		r.signs[k] = s
	}
	max := xval[0]
	for _, v := range xval[1:] {
		if !(max > v) {
			max = v
		}
	}
	if max < eps {
		return r
	}
	var best float32
	scale := max / 5
	onGrid = [2]bool{true, true}
	for is := -9; is <= 9; is++ {
		id := (5 + float32(float32(is)*0.1)) / max
		this := 1 / id
		for k := 0; k < 2; k++ {
			u := roundLevels(id, xval[8*k:], Laux[8*k:])
			_, onAu[k] = lat.snap(u, xval[8*k:8*k+8], waux[8*k:], this, Laux[8*k:])
		}
		sumqx, sumq2 := iq2Sums(xval[:], weight[:16], Laux[:])
		if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
			scale = sumqx / sumq2
			best = scale * sumqx
			L, onGrid = Laux, onAu
		}
	}
	if (!onGrid[0] || !onGrid[1]) && scale > 0 {
		id := 1 / scale
		for k := 0; k < 2; k++ {
			if onGrid[k] {
				continue
			}
			u := roundLevels(id, xval[8*k:], L[8*k:])
			lat.snap(u, xval[8*k:8*k+8], waux[8*k:], scale, L[8*k:])
		}
		if sumqx, sumq2 := iq2Sums(xval[:], weight[:16], L[:]); sumq2 > 0 {
			scale = sumqx / sumq2
		}
	}
	if scale < 0 {
		scale = -scale
		for k := range r.signs {
			r.signs[k] = ^r.signs[k]
			if parity {
				r.signs[k] &= 127
			}
		}
	}
	for k := 0; k < 2; k++ {
		r.index[k] = lat.gridIndex(L[8*k:])
	}
	r.scale, r.ok = scale, true
	return r
}

// iq2Weights fills weight with one sub-block's weights: qw·sqrt(σ²+x²)
// under an importance matrix, else (IQ2_S only) σ²/4 + x².
func iq2Weights(weight, xb, qw []float32, sigma2 float32) {
	for i, v := range xb {
		if qw != nil {
			weight[i] = qw[i] * sqrt32(sigma2+float32(v*v))
		} else {
			weight[i] = float32(0.25*sigma2) + float32(v*v)
		}
	}
}

func quantIQ2_XSWeighted(x, qw []float32, dst []byte) {
	lat := iq2LatticeXS()
	var (
		weight [16]float32
		scales [16]float32
		codes  [16]uint8
		q2     [32]uint16
	)
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		xbl := x[qkK*ibl : qkK*(ibl+1)]
		b := dst[blockIQ2XS*ibl : blockIQ2XS*(ibl+1)]
		q2 = [32]uint16{}
		var maxScale float32
		sigma2 := float32(sumSquares(xbl) / qkK)
		for ib := 0; ib < 16; ib++ {
			xb := xbl[16*ib : 16*ib+16]
			iq2Weights(weight[:], xb, qw[qkK*ibl+16*ib:qkK*ibl+16*ib+16], sigma2)
			r := quantIQ2Sub16(lat, xb, weight[:], true, groupMaxEps)
			if !r.ok {
				scales[ib] = 0
				continue
			}
			for k := 0; k < 2; k++ {
				q2[2*ib+k] = uint16(r.index[k]) | uint16(r.signs[k])<<9
			}
			scales[ib] = r.scale
			if !(maxScale > r.scale) {
				maxScale = r.scale
			}
		}
		clear(b)
		if maxScale == 0 {
			continue
		}
		d := iq2ScaleCodes(scales[:], maxScale, codes[:])
		putFP16(b, d)
		for j, v := range q2 {
			binary.LittleEndian.PutUint16(b[2+2*j:], v)
		}
		for j := 0; j < 8; j++ {
			b[66+j] = codes[2*j] | codes[2*j+1]<<4
		}
	}
}

// quantIQ2_SBlocks quantizes whole IQ2_S blocks; qw is nil or the weights
// of x's columns.
func quantIQ2_SBlocks(x, qw []float32, dst []byte) {
	lat := iq2LatticeS()
	var (
		weight [16]float32
		scales [16]float32
		codes  [16]uint8
	)
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		xbl := x[qkK*ibl : qkK*(ibl+1)]
		b := dst[blockIQ2S*ibl : blockIQ2S*(ibl+1)]
		clear(b)
		var maxScale float32
		sigma2 := float32(float32(2*sumSquares(xbl)) / qkK)
		for ib := 0; ib < 16; ib++ {
			xb := xbl[16*ib : 16*ib+16]
			var w []float32
			if qw != nil {
				w = qw[qkK*ibl+16*ib : qkK*ibl+16*ib+16]
			}
			iq2Weights(weight[:], xb, w, sigma2)
			r := quantIQ2Sub16(lat, xb, weight[:], false, 1e-8)
			if !r.ok {
				scales[ib] = 0
				continue
			}
			for k := 0; k < 2; k++ {
				g := 2*ib + k
				b[2+g] = byte(r.index[k])
				b[66+g/4] |= byte(r.index[k]>>8) << (2 * (g % 4))
				b[34+g] = r.signs[k]
			}
			scales[ib] = r.scale
			if !(maxScale > r.scale) {
				maxScale = r.scale
			}
		}
		if maxScale == 0 {
			continue
		}
		d := iq2ScaleCodes(scales[:], maxScale, codes[:])
		putFP16(b, float32(d*0.9875))
		for j := 0; j < 8; j++ {
			b[74+j] = codes[2*j] | codes[2*j+1]<<4
		}
	}
}

func quantIQ2_S(src []float32, dst []byte) { quantIQ2_SBlocks(src, nil, dst) }

func quantIQ2_SWeighted(x, qw []float32, dst []byte) { quantIQ2_SBlocks(x, qw, dst) }
