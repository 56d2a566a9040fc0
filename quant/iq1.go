package quant

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/ondo-ai/ondo/tensor"
)

// IQ1_S and IQ1_M: about 1.56 and 1.75 bits per weight. Each run of eight
// weights is one of the 2048 ternary points of iq1Grid (coordinates -1, 0,
// +1), moved by an offset of +1/8 or -1/8 and multiplied by an odd sub-block
// multiplier 2s+1 (s in 0..7) times the block's fp16 scale.
//
//	IQ1_S  d @0 | qs[32] @2 | qh[8] (uint16) @34                  (50, 256 elements)
//	IQ1_M  qs[32] @0 | qh[16] @32 | scales[4] (uint16) @48        (56, 256 elements)
//
// A grid index has 11 bits: the low 8 in a qs byte, the top 3 elsewhere.
// IQ1_S has eight sub-blocks of 32 (four groups of eight): word qh[ib] holds
// group g's top index bits at bits 3g..3g+2, the multiplier s at bits 12-14
// and, at bit 15, the offset's sign (set: -1/8) shared by the sub-block.
// IQ1_M has sixteen sub-blocks of 16 (two groups): byte qh[ib] holds group
// 0's top index bits in bits 0-2 and its offset sign in bit 3, group 1's in
// bits 4-6 and bit 7. Its 3-bit multipliers sit four to a scales word, at
// bits 3k..3k+2 of word ib/4 for k = ib%4, and the fp16 block scale is split
// over the four words' top nibbles, least significant nibble in word 0.

const (
	blockIQ1S = 50
	blockIQ1M = 56

	iq1Delta    = 0.125 // the offset that moves the grid off zero (IQ1S_DELTA, IQ1M_DELTA)
	iq1GridSize = len(iq1Grid)
	iq1MaxCode  = 0xaaaa // largest packed pattern: eight coordinates of +1
)

// iq1Levels are the three coordinates -1, 0, +1 plus the group offset:
// iq1Levels[0] with +1/8, iq1Levels[1] with -1/8. These sums are exact in
// float32 and equal to ggml's int8-plus-delta. The fourth entry is never
// addressed by a valid grid point; it only lets index &3 skip bounds checks.
var iq1Levels = [2][4]float32{
	{-1 + iq1Delta, iq1Delta, 1 + iq1Delta},
	{-1 - iq1Delta, -iq1Delta, 1 - iq1Delta},
}

// iq1Decode8 writes the eight values dl * (coordinate + offset) of grid
// point p, with levels holding the offset coordinates.
func iq1Decode8(out []float32, dl float32, p uint16, levels *[4]float32) {
	_ = out[7]
	for j := 0; j < 8; j++ {
		out[j] = dl * levels[p>>(2*j)&3]
	}
}

func dequantIQ1_S(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockIQ1S : (i+1)*blockIQ1S]
		y := dst[i*qkK : (i+1)*qkK]
		d := fp16At(b)
		qs := b[2:34]
		for ib := 0; ib < 8; ib++ {
			h := binary.LittleEndian.Uint16(b[34+2*ib:])
			dl := d * float32(2*(h>>12&7)+1)
			levels := &iq1Levels[h>>15]
			for g := 0; g < 4; g++ {
				idx := uint16(qs[4*ib+g]) | (h>>(3*g)&7)<<8
				iq1Decode8(y[32*ib+8*g:], dl, iq1Grid[idx], levels)
			}
		}
	}
}

// iq1MScale reassembles IQ1_M's fp16 block scale from the top nibbles of
// its four scale words.
func iq1MScale(sc []byte) float32 {
	var h uint16
	for w := 0; w < 4; w++ {
		h |= binary.LittleEndian.Uint16(sc[2*w:]) >> 12 << (4 * w)
	}
	return fp16Table[h]
}

func dequantIQ1_M(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockIQ1M : (i+1)*blockIQ1M]
		y := dst[i*qkK : (i+1)*qkK]
		sc := b[48:56]
		d := iq1MScale(sc)
		for ib := 0; ib < 16; ib++ {
			s := binary.LittleEndian.Uint16(sc[2*(ib/4):]) >> (3 * (ib % 4)) & 7
			dl := d * float32(2*s+1)
			h := b[32+ib]
			for g := 0; g < 2; g++ {
				nib := uint16(h >> (4 * g))
				idx := uint16(b[2*ib+g]) | (nib&7)<<8
				iq1Decode8(y[16*ib+8*g:], dl, iq1Grid[idx], &iq1Levels[nib>>3&1])
			}
		}
	}
}

// ---- quantization (ggml's quantize_iq1_s, quantize_iq1_m) ----

// iq1Search holds what the quantizers look up in the grid, built once from
// iq1Grid the way llama.cpp's iq2xs_init_impl builds it at quantizer
// initialisation. Patterns are packed like iq1Grid entries (coordinate j
// plus one in bits 2j..2j+1).
type iq1Search struct {
	// code maps every pattern whose coordinates are all in {-1, 0, +1} to
	// its grid index when it is a grid point and otherwise to -(o+1),
	// where o is the offset of its neighbour list in neighbours.
	code [iq1MaxCode + 1]int32
	// neighbours holds, per off-grid pattern, a count followed by the grid
	// points at the three smallest distinct squared distances from it, in
	// order of distance and then of grid index.
	neighbours []uint16
}

var (
	iq1SearchOnce sync.Once
	iq1SearchData *iq1Search
)

// iq1Tables returns the quantizers' grid lookup tables, building them on
// first use.
func iq1Tables() *iq1Search {
	iq1SearchOnce.Do(func() { iq1SearchData = newIQ1Search() })
	return iq1SearchData
}

// newIQ1Search builds the pattern map and neighbour lists.
func newIQ1Search() *iq1Search {
	const nearest = 3 // distinct distances kept per off-grid pattern
	s := &iq1Search{}
	for c := range s.code {
		s.code[c] = -1
	}
	var coords [iq1GridSize][8]int8
	for i, p := range iq1Grid {
		s.code[p] = int32(i)
		for j := 0; j < 8; j++ {
			coords[i][j] = int8(p >> (2 * j) & 3)
		}
	}
	// Squared distances in coordinate units run 0..32; llama.cpp measures
	// in units of half a coordinate, which scales them all by four and
	// orders them the same.
	var (
		dist  [iq1GridSize]uint8
		count [33]int
		pat   [8]int8
	)
	for c := 0; c <= iq1MaxCode; c++ {
		if s.code[c] >= 0 || !iq1Ternary(uint16(c)) {
			continue
		}
		for j := range pat {
			pat[j] = int8(c >> (2 * j) & 3)
		}
		count = [33]int{}
		for i := range coords {
			var d2 int
			for j, v := range pat {
				diff := int(coords[i][j] - v)
				d2 += diff * diff
			}
			dist[i] = uint8(d2)
			count[d2]++
		}
		start := len(s.neighbours)
		s.code[c] = -int32(start + 1)
		s.neighbours = append(s.neighbours, 0)
		kept := 0
		for d2 := range count {
			if count[d2] == 0 {
				continue
			}
			for i := range dist {
				if int(dist[i]) == d2 {
					s.neighbours = append(s.neighbours, uint16(i))
				}
			}
			if kept++; kept == nearest {
				break
			}
		}
		s.neighbours[start] = uint16(len(s.neighbours) - start - 1)
	}
	return s
}

// iq1Ternary reports whether every 2-bit field of pattern c is 0, 1 or 2.
func iq1Ternary(c uint16) bool {
	for j := 0; j < 8; j++ {
		if c>>(2*j)&3 == 3 {
			return false
		}
	}
	return true
}

// iq1Pack packs eight coordinates (0, 1, 2 for -1, 0, +1) into a pattern.
func iq1Pack(L []uint8) uint16 {
	var c uint16
	for j := 0; j < 8; j++ {
		c |= uint16(L[j]) << (2 * j)
	}
	return c
}

// gridPoint returns the grid index that quantizes the eight values x as
// pattern c: c itself when it is a grid point, otherwise the neighbour of c
// with the least weighted squared error sum w*(scale*levels[l]-x)² (the
// first such in list order). Off-grid is reported so the caller can refit
// its scale. This is ggml's iq1_find_best_neighbour2.
func (s *iq1Search) gridPoint(c uint16, x, w []float32, scale float32, levels *[4]float32) (index int, offGrid bool) {
	if g := s.code[c]; g >= 0 {
		return int(g), false
	}
	list := s.neighbours[-s.code[c]-1:]
	n := int(list[0])
	// Each value's error term depends only on its level, so the three
	// per value are computed once and a candidate's error is the sum, in
	// value order, of the terms its coordinates pick.
	var terms [8][4]float32
	for j := range terms {
		for l := 0; l < 3; l++ {
			diff := float32(scale*levels[l]) - x[j]
			terms[j][l] = float32(w[j]*diff) * diff
		}
	}
	best := float32(math.MaxFloat32)
	index = -1
	for _, g := range list[1 : n+1] {
		if d2 := iq1GroupError(iq1Grid[g], &terms); d2 < best {
			best, index = d2, int(g)
		}
	}
	if index < 0 {
		// Only reachable when every error overflows or is NaN (weights
		// or values near the float32 limit). llama.cpp then scans the
		// whole grid with an indexing slip that reads past the group,
		// and aborts if that finds nothing either; we scan the grid as
		// intended and fall back to point 0.
		index = 0
		for g, p := range iq1Grid {
			if d2 := iq1GroupError(p, &terms); d2 < best {
				best, index = d2, g
			}
		}
	}
	return index, true
}

// iq1GroupError is the weighted squared error of grid point p, given the
// error terms of each value at each level; summed in value order from
// zero, as ggml does.
func iq1GroupError(p uint16, terms *[8][4]float32) float32 {
	var d2 float32
	for j := range terms {
		d2 += terms[j][p>>(2*j)&3]
	}
	return d2
}

// iq1SortIndex sets idx to the positions of x in ascending order of value,
// equal values keeping their order: the order glibc's qsort (a merge sort
// for arrays this small) gives ggml, which the ties in the search depend
// on.
func iq1SortIndex(x []float32, idx []uint8) {
	for i := range idx {
		idx[i] = uint8(i)
	}
	for i := 1; i < len(idx); i++ {
		k := idx[i]
		j := i
		for ; j > 0 && x[idx[j-1]] > x[k]; j-- {
			idx[j] = idx[j-1]
		}
		idx[j] = k
	}
}

// iq1BlockWeights fills w with the error weights of one 256-element block:
// imatrix value times sqrt(sigma² + x²), sigma² being twice the block's mean
// square, or x² when there is no importance matrix (IQ1_M only).
func iq1BlockWeights(x, qw, w []float32) {
	if qw == nil {
		for i, v := range x {
			w[i] = v * v
		}
		return
	}
	var sumx2 float32
	for _, v := range x {
		sumx2 += float32(v * v)
	}
	// The division by 256 compiles to a multiplication, which must not
	// fuse with the addition below.
	sigma2 := float32(2 * sumx2 / qkK)
	for i, v := range x {
		w[i] = qw[i] * sqrt32(sigma2+float32(v*v))
	}
}

// iq1MaxAbs is the largest magnitude in x.
func iq1MaxAbs(x []float32) float32 {
	m := abs32(x[0])
	for _, v := range x[1:] {
		if a := abs32(v); a > m {
			m = a
		}
	}
	return m
}

// iq1SubScale turns a sub-block scale into its 3-bit multiplier code s,
// the nearest to scale = (2s+1)*d given id = 1/d.
func iq1SubScale(id, scale float32) int32 {
	return clamp(nearestInt(float32(0.5*float32(float32(id*scale)-1))), 0, 7)
}

// quantIQ1SRow encodes whole IQ1_S blocks of x under the per-column
// weights qw (len(qw) == len(x)); ggml's quantize_row_iq1_s_impl.
//
// Per 32-element sub-block, the three quant levels are assigned by
// threshold: with the values sorted, every pair of split points (i1, i2)
// gives the levels -1, 0, +1 to the runs below i1, between and above i2,
// and for both offset signs the least-squares scale and its error follow
// from prefix sums; the best split wins. Groups of eight whose pattern is
// not a grid point are replaced by the best grid neighbour, after which the
// scale is refitted. The block scale is max/15 and each sub-block keeps the
// odd multiple of it nearest its own scale.
func quantIQ1SRow(x, qw []float32, dst []byte) {
	const (
		sub    = 32
		groups = sub / 8
		eps    = 1e-12 // GROUP_MAX_EPS_IQ1_S
	)
	tab := iq1Tables()
	var (
		weights [qkK]float32
		scales  [qkK / sub]float32
		negs    [qkK / sub]bool
		idx     [sub]uint8
		L       [sub]uint8
		sumx    [sub + 1]float32
		sumw    [sub + 1]float32
		index   [groups]int
		// products of the prefix sums below a split point and of the
		// suffix sums above it with the extreme levels, per offset sign
		lowX, lowW, highX, highW [sub + 1][2]float32
	)
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		b := dst[ibl*blockIQ1S : (ibl+1)*blockIQ1S]
		clear(b)
		xbl := x[ibl*qkK : (ibl+1)*qkK]
		iq1BlockWeights(xbl, qw[ibl*qkK:(ibl+1)*qkK], weights[:])
		var maxScale float32
		for ib := range scales {
			xb := xbl[sub*ib : sub*ib+sub]
			w := weights[sub*ib : sub*ib+sub]
			scales[ib], negs[ib] = 0, false
			if iq1MaxAbs(xb) < eps {
				continue
			}
			iq1SortIndex(xb, idx[:])
			for j, i := range idx {
				sumx[j+1] = sumx[j] + float32(w[i]*xb[i])
				sumw[j+1] = sumw[j] + w[i]
			}
			// The level-0 products depend on i1 only and the level-2 ones
			// on i2 only, so they are computed once per split point.
			for j := 0; j <= sub; j++ {
				for s := 0; s < 2; s++ {
					lv := &iq1Levels[s]
					lowX[j][s] = float32(sumx[j] * lv[0])
					lowW[j][s] = float32(float32(sumw[j]*lv[0]) * lv[0])
					highX[j][s] = float32(float32(sumx[sub]-sumx[j]) * lv[2])
					highW[j][s] = float32(float32(float32(sumw[sub]-sumw[j])*lv[2]) * lv[2])
				}
			}
			best := float32(-math.MaxFloat32)
			var scale float32
			i1Best, i2Best, shift := -1, -1, 0
			for i1 := 0; i1 <= sub; i1++ {
				for i2 := i1; i2 <= sub; i2++ {
					x1, w1 := sumx[i2]-sumx[i1], sumw[i2]-sumw[i1]
					for s := 0; s < 2; s++ {
						v := iq1Levels[s][1]
						sumqx := float32(lowX[i1][s]+float32(x1*v)) + highX[i2][s]
						sumq2 := float32(lowW[i1][s]+float32(float32(w1*v)*v)) + highW[i2][s]
						if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
							scale = sumqx / sumq2
							best = float32(scale * sumqx)
							i1Best, i2Best, shift = i1, i2, 1-2*s
						}
					}
				}
			}
			if i1Best < 0 {
				continue
			}
			for j, i := range idx {
				switch {
				case j < i1Best:
					L[i] = 0
				case j < i2Best:
					L[i] = 1
				default:
					L[i] = 2
				}
			}
			if scale < 0 {
				// Mirror the levels so that the scale is positive.
				for j := range L {
					L[j] = 2 - L[j]
				}
				scale, shift = -scale, -shift
			}
			levels := &iq1Levels[(1-shift)/2]
			offGrid := false
			for k := range index {
				var off bool
				index[k], off = tab.gridPoint(iq1Pack(L[8*k:]), xb[8*k:8*k+8], w[8*k:8*k+8], scale, levels)
				offGrid = offGrid || off
			}
			if offGrid {
				var sumqx, sumq2 float32
				for k, g := range index {
					p := iq1Grid[g]
					for j := 0; j < 8; j++ {
						wj := w[8*k+j]
						q := levels[p>>(2*j)&3]
						sumqx += float32(float32(wj*q) * xb[8*k+j])
						sumq2 += float32(float32(wj*q) * q)
					}
				}
				if sumqx > 0 && sumq2 > 0 {
					scale = sumqx / sumq2
				}
			}
			var h uint16
			for k, g := range index {
				b[2+groups*ib+k] = byte(g)
				h |= uint16(g>>8) << (3 * k)
			}
			binary.LittleEndian.PutUint16(b[34+2*ib:], h)
			scales[ib], negs[ib] = scale, shift < 0
			if scale > maxScale {
				maxScale = scale
			}
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 15
		putFP16(b, float32(d*1.125))
		id := 1 / d
		for ib := range scales {
			l := uint16(iq1SubScale(id, scales[ib]))
			if negs[ib] {
				l |= 8
			}
			h := binary.LittleEndian.Uint16(b[34+2*ib:])
			binary.LittleEndian.PutUint16(b[34+2*ib:], h|l<<12)
		}
	}
}

// iq1MSums holds the running sums of the four sign candidates of one IQ1_M
// split: the two groups of a 16-element sub-block choose their offset
// signs independently, and candidate k gives group 0 the sign of bit 1 and
// group 1 that of bit 0 (0: both +1/8, 1: +/-, 2: -/+, 3: both -1/8).
// Entries 0-3 are candidate k's sum of w*v*x, entries 4-7 its sum of w*v*v,
// v being the element's level value under that candidate's offset.
type iq1MSums [8]float32

// add accumulates one element's terms, laid out as the sums are.
func (a *iq1MSums) add(t *iq1MSums) {
	a[0] += t[0]
	a[1] += t[1]
	a[2] += t[2]
	a[3] += t[3]
	a[4] += t[4]
	a[5] += t[5]
	a[6] += t[6]
	a[7] += t[7]
}

// iq1MTail returns start plus the terms in order, each sum kept in a local
// variable so that the additions run in registers (the innermost loop of
// the IQ1_M search).
func iq1MTail(start *iq1MSums, terms []iq1MSums) iq1MSums {
	a0, a1, a2, a3 := start[0], start[1], start[2], start[3]
	a4, a5, a6, a7 := start[4], start[5], start[6], start[7]
	for i := range terms {
		t := &terms[i]
		a0 += t[0]
		a1 += t[1]
		a2 += t[2]
		a3 += t[3]
		a4 += t[4]
		a5 += t[5]
		a6 += t[6]
		a7 += t[7]
	}
	return iq1MSums{a0, a1, a2, a3, a4, a5, a6, a7}
}

// iq1MSplit runs the IQ1_M level search on one 16-element sub-block xb
// with weights w, idx holding its positions in ascending order of value:
// elements below split i1 get level -1, those from i1 below i2 level 0 and
// the rest +1, and of all splits and sign candidates (see iq1MSums) the one
// whose least-squares scale leaves the smallest weighted error wins. It
// returns that split, candidate and scale, or i1 = -1 when no candidate has
// a positive sum of squares.
//
// ggml sums each candidate's terms in sorted order from zero for every
// split. The sums for splits (i1, i2) and (i1, i2+1) agree on their first
// i2 terms, and those for (i1, i1) and (i1+1, i1+1) on their first i1, so
// the shared prefixes are carried over here and only the tail above i2 is
// re-added: the same float32 results with a third of the additions.
func iq1MSplit(xb, w []float32, idx *[16]uint8) (i1Best, i2Best, kBest int, scale float32) {
	const sub = 16
	var terms [3][sub]iq1MSums
	// The terms of the j-th smallest element per level, products
	// rounded as ggml rounds them, set out per candidate.
	for j, i := range idx {
		for l := 0; l < 3; l++ {
			vp, vm := iq1Levels[0][l], iq1Levels[1][l]
			wp, wm := float32(w[i]*vp), float32(w[i]*vm)
			px, mx := float32(wp*xb[i]), float32(wm*xb[i])
			p2, m2 := float32(wp*vp), float32(wm*vm)
			if i < 8 {
				terms[l][j] = iq1MSums{px, px, mx, mx, p2, p2, m2, m2}
			} else {
				terms[l][j] = iq1MSums{px, mx, px, mx, p2, m2, p2, m2}
			}
		}
	}
	best := float32(-math.MaxFloat32)
	i1Best, i2Best, kBest = -1, -1, -1
	var low iq1MSums // terms below i1 at level 0
	for i1 := 0; i1 <= sub; i1++ {
		if i1 > 0 {
			low.add(&terms[0][i1-1])
		}
		mid := low // then the terms from i1 below i2 at level 1
		for i2 := i1; i2 <= sub; i2++ {
			if i2 > i1 {
				mid.add(&terms[1][i2-1])
			}
			acc := iq1MTail(&mid, terms[2][i2:])
			for k := 0; k < 4; k++ {
				qx, q2 := acc[k], acc[4+k]
				if q2 > 0 && float32(qx*qx) > float32(best*q2) {
					scale = qx / q2
					best = float32(scale * qx)
					i1Best, i2Best, kBest = i1, i2, k
				}
			}
		}
	}
	return i1Best, i2Best, kBest, scale
}

// iq1MMasks are the qh bits of the offset signs of candidate k.
var iq1MMasks = [4]byte{0x00, 0x80, 0x08, 0x88}

// quantIQ1MRow encodes whole IQ1_M blocks of x, under per-column weights qw
// or, with qw nil, under x² weights; ggml's quantize_row_iq1_m_impl.
//
// The search is IQ1_S's on 16-element sub-blocks, with the offset sign
// chosen per group of eight, so each split has four candidates
// (iq1MSplit). The fp16 block scale is finally the least-squares fit of
// all 256 values given the chosen points and multipliers.
func quantIQ1MRow(x, qw []float32, dst []byte) {
	const (
		sub    = 16
		groups = sub / 8
		eps    = 1e-7 // GROUP_MAX_EPS_IQ1_M
	)
	tab := iq1Tables()
	var (
		weights [qkK]float32
		scales  [qkK / sub]float32
		shifts  [qkK / sub]int
		idx     [sub]uint8
		L       [sub]uint8
		index   [groups]int
	)
	for ibl := 0; ibl < len(x)/qkK; ibl++ {
		b := dst[ibl*blockIQ1M : (ibl+1)*blockIQ1M]
		clear(b)
		xbl := x[ibl*qkK : (ibl+1)*qkK]
		var qwb []float32
		if qw != nil {
			qwb = qw[ibl*qkK : (ibl+1)*qkK]
		}
		iq1BlockWeights(xbl, qwb, weights[:])
		var maxScale float32
		for ib := range scales {
			xb := xbl[sub*ib : sub*ib+sub]
			w := weights[sub*ib : sub*ib+sub]
			scales[ib], shifts[ib] = 0, 0
			if iq1MaxAbs(xb) < eps {
				continue
			}
			iq1SortIndex(xb, idx[:])
			i1Best, i2Best, kBest, scale := iq1MSplit(xb, w, &idx)
			if i1Best < 0 {
				continue
			}
			for j, i := range idx {
				switch {
				case j < i1Best:
					L[i] = 0
				case j < i2Best:
					L[i] = 1
				default:
					L[i] = 2
				}
			}
			if scale < 0 {
				for j := range L {
					L[j] = 2 - L[j]
				}
				scale, kBest = -scale, 3-kBest
			}
			offGrid := false
			for k := range index {
				var off bool
				index[k], off = tab.gridPoint(iq1Pack(L[8*k:]), xb[8*k:8*k+8], w[8*k:8*k+8], scale, iq1MLevels(kBest, k))
				offGrid = offGrid || off
			}
			if offGrid {
				var sumqx, sumq2 float32
				for k, g := range index {
					levels := iq1MLevels(kBest, k)
					p := iq1Grid[g]
					for j := 0; j < 8; j++ {
						wj := w[8*k+j]
						q := levels[p>>(2*j)&3]
						sumqx += float32(float32(wj*q) * xb[8*k+j])
						sumq2 += float32(float32(wj*q) * q)
					}
				}
				if sumqx > 0 && sumq2 > 0 {
					scale = sumqx / sumq2
				}
			}
			b[2*ib] = byte(index[0])
			b[2*ib+1] = byte(index[1])
			b[32+ib] = byte(index[0]>>8) | byte(index[1]>>8)<<4
			scales[ib], shifts[ib] = scale, kBest
			if scale > maxScale {
				maxScale = scale
			}
		}
		if maxScale == 0 {
			continue
		}
		// Multiplier codes against max/15, then the block scale refitted
		// by least squares over the whole block.
		d := maxScale / 15
		id := 1 / d
		var sc [4]uint16
		var sumqx, sumq2 float32
		for ib := range scales {
			l := iq1SubScale(id, scales[ib])
			sc[ib/4] |= uint16(l) << (3 * (ib % 4))
			b[32+ib] |= iq1MMasks[shifts[ib]]
			xb := xbl[sub*ib : sub*ib+sub]
			w := weights[sub*ib : sub*ib+sub]
			mult := float32(2*l + 1)
			for k := 0; k < groups; k++ {
				levels := iq1MLevels(shifts[ib], k)
				nib := uint16(b[32+ib] >> (4 * k))
				p := iq1Grid[uint16(b[2*ib+k])|(nib&7)<<8]
				for j := 0; j < 8; j++ {
					wj := w[8*k+j]
					q := float32(levels[p>>(2*j)&3] * mult)
					sumqx += float32(float32(wj*q) * xb[8*k+j])
					sumq2 += float32(float32(wj*q) * q)
				}
			}
		}
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		h := Float32ToFP16(float32(d * 1.1125))
		for k := range sc {
			sc[k] |= (h >> (4 * k) & 15) << 12
			binary.LittleEndian.PutUint16(b[48+2*k:], sc[k])
		}
	}
}

// iq1MLevels returns the offset levels of group k (0 or 1) of an IQ1_M
// sub-block with sign candidate kBest (see iq1MSums).
func iq1MLevels(kBest, k int) *[4]float32 {
	return &iq1Levels[kBest>>(1-k)&1]
}

func quantIQ1_M(src []float32, dst []byte) { quantIQ1MRow(src, nil, dst) }

func init() {
	// llama.cpp's IQ1_S quantizer asserts that it has weights, and
	// ggml_quantize_requires_imatrix lists the type.
	codecs[tensor.IQ1_S] = codec{dequant: dequantIQ1_S, weighted: quantIQ1SRow, needsImatrix: "missing quantization weights"}
	codecs[tensor.IQ1_M] = codec{dequant: dequantIQ1_M, quant: quantIQ1_M, weighted: quantIQ1MRow}
}
