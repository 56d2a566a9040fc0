package quant

import (
	"encoding/binary"
	"math"
	"sync"

	"github.com/ondo-ai/ondo/tensor"
)

// IQ3_XXS and IQ3_S: 3-bit "lattice" quants. A super-block of 256 elements
// is split into 8 groups of 32, each into 8 quads of 4 elements. A quad's
// magnitudes are one point of a fixed grid (256 points for IQ3_XXS, 512 for
// IQ3_S), stored as its index; signs are kept separately, and each group of
// 32 has a 4-bit scale on top of the block's fp16 d.
//
//	IQ3_XXS  d @0 | qs[64] @2 | ss[8] (uint32) @66                          (98)
//	IQ3_S    d @0 | qs[64] @2 | qh[8] @66 | signs[32] @74 | scales[4] @106 (110)
//
// IQ3_XXS: qs[8g+k] is quad k of group g. Word ss[g] holds in bits 7m..7m+6
// the signs of elements 8m..8m+6 of the group (bit set: negative); the sign
// of element 8m+7 is implied, making the number of negatives in each eight
// even. Bits 28-31 are the scale s, giving the group factor d*(0.5+s)*0.5.
//
// IQ3_S: the index of quad k of group g is qs[8g+k] plus bit k of qh[g] as
// its ninth bit; signs[4g+m] holds all eight signs of elements 8m..8m+7;
// the nibble of scales[g/2] (low for even g) is s, and the group factor
// is d*(1+2s).
//
// The grids come from iq3_tables.go (generated): a point is four levels
// out of eight. The quantizers work with every element's level number l in
// 0..7 and its odd value 2l+1, as llama.cpp's do.

const (
	blockIQ3XXS = 98
	blockIQ3S   = 110
)

// iq3xxsGrid and iq3sGrid are the decoded grid points as float32 (exact
// small integers), so the decoders convert nothing per element.
var (
	iq3xxsGrid = func() (g [256][4]float32) { expandIQ3Grid(g[:], &iq3xxsLevels, iq3xxsCodes[:]); return }()
	iq3sGrid   = func() (g [512][4]float32) { expandIQ3Grid(g[:], &iq3sLevels, iq3sCodes[:]); return }()
)

// expandIQ3Grid turns the compact grid (eight levels plus a 12-bit level
// code per point) into the points' four values each.
func expandIQ3Grid(g [][4]float32, levels *[8]uint8, codes []uint16) {
	for p, c := range codes {
		for i := 0; i < 4; i++ {
			g[p][i] = float32(levels[c>>(3*i)&7])
		}
	}
}

// iq3SignF is the factor that sign bit 0 or 1 multiplies a value by.
var iq3SignF = [2]float32{1, -1}

func dequantIQ3_XXS(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockIQ3XXS : (i+1)*blockIQ3XXS]
		y := dst[i*qkK : (i+1)*qkK]
		d := fp16At(b)
		qs := b[2:66]
		ss := b[66:98]
		for g := 0; g < 8; g++ {
			w := binary.LittleEndian.Uint32(ss[4*g:])
			// The same two roundings as ggml: d*(0.5+s), then *0.5.
			dg := float32(d*(0.5+float32(w>>28))) * 0.5
			q := qs[8*g : 8*g+8]
			for m := 0; m < 4; m++ {
				s := signsWithParity[w>>(7*m)&127]
				p1 := &iq3xxsGrid[q[2*m]]
				p2 := &iq3xxsGrid[q[2*m+1]]
				out := y[32*g+8*m : 32*g+8*m+8]
				for j := 0; j < 4; j++ {
					out[j] = dg * p1[j] * iq3SignF[s>>j&1]
					out[j+4] = dg * p2[j] * iq3SignF[s>>(j+4)&1]
				}
			}
		}
	}
}

func dequantIQ3_S(src []byte, dst []float32) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*blockIQ3S : (i+1)*blockIQ3S]
		y := dst[i*qkK : (i+1)*qkK]
		d := fp16At(b)
		qs := b[2:66]
		qh := b[66:74]
		signs := b[74:106]
		scales := b[106:110]
		for g := 0; g < 8; g++ {
			sc := scales[g/2] >> (4 * (g % 2)) & 0x0f
			dg := d * float32(1+2*int32(sc))
			q := qs[8*g : 8*g+8]
			h := uint(qh[g])
			for m := 0; m < 4; m++ {
				s := signs[4*g+m]
				p1 := &iq3sGrid[(uint(q[2*m])|(h>>(2*m)&1)<<8)&511]
				p2 := &iq3sGrid[(uint(q[2*m+1])|(h>>(2*m+1)&1)<<8)&511]
				out := y[32*g+8*m : 32*g+8*m+8]
				for j := 0; j < 4; j++ {
					out[j] = dg * p1[j] * iq3SignF[s>>j&1]
					out[j+4] = dg * p2[j] * iq3SignF[s>>(j+4)&1]
				}
			}
		}
	}
}

// ---- quantization ----

// iq3Search is what the quantizers need to know about one grid: the
// points' odd values 2l+1, the grid index of every possible quad of level
// numbers (as its 12-bit code) and, for each code not on the grid, the
// grid points to try instead. It is built on first use, as llama.cpp
// builds the same tables in iq3xs_init_impl.
type iq3Search struct {
	once  sync.Once
	codes []uint16 // the generated grid
	nwant int      // how many of the nearest distinct distances the candidates span

	point [512][4]float32 // odd values 2l+1 of each grid point (256 used by IQ3_XXS)
	index [4096]int16     // grid index of a code, or -1 when off the grid
	near  [4096][]uint16  // candidates of an off-grid code, nearest first
}

var (
	iq3xxsSearch = &iq3Search{codes: iq3xxsCodes[:], nwant: 2}
	iq3sSearch   = &iq3Search{codes: iq3sCodes[:], nwant: 3}
)

// get returns the tables, building them on the first call.
func (t *iq3Search) get() *iq3Search {
	t.once.Do(t.build)
	return t
}

// build fills the tables. An off-grid code's candidates are all grid points
// whose squared distance from it (in odd values) is one of the nwant
// smallest distinct distances, ordered by distance and then by index: the
// order of llama.cpp's neighbour lists, which decides ties in the search.
func (t *iq3Search) build() {
	n := len(t.codes)
	for i := range t.index {
		t.index[i] = -1
	}
	for p, c := range t.codes {
		for i := 0; i < 4; i++ {
			t.point[p][i] = float32(2*(c>>(3*i)&7) + 1)
		}
		t.index[c] = int16(p)
	}
	dist := make([]int32, n)
	var backing []uint16
	var spans [4096][2]int
	for u := range t.index {
		if t.index[u] >= 0 {
			continue
		}
		// Distances in level steps: (2a+1 - (2b+1))² = 4(a-b)², a common
		// factor that changes no order.
		nearest := make([]int32, 0, t.nwant)
		for p, c := range t.codes {
			var d2 int32
			for i := 0; i < 4; i++ {
				diff := int32(c>>(3*i)&7) - int32(u>>(3*i)&7)
				d2 += diff * diff
			}
			dist[p] = d2
			nearest = insertDistinct(nearest, d2, t.nwant)
		}
		start := len(backing)
		for _, want := range nearest {
			for p, d2 := range dist {
				if d2 == want {
					backing = append(backing, uint16(p))
				}
			}
		}
		spans[u] = [2]int{start, len(backing)}
	}
	for u, s := range spans {
		if t.index[u] < 0 {
			t.near[u] = backing[s[0]:s[1]:s[1]]
		}
	}
}

// insertDistinct adds v to the sorted list of distinct values s, which
// keeps only its max smallest entries.
func insertDistinct(s []int32, v int32, max int) []int32 {
	i := 0
	for i < len(s) && s[i] < v {
		i++
	}
	if i < len(s) && s[i] == v || i == max {
		return s
	}
	if len(s) < max {
		s = append(s, 0)
	}
	copy(s[i+1:], s[i:len(s)-1])
	s[i] = v
	return s
}

// bestNeighbour picks among the candidates cand the grid point that, times
// scale, is closest to xval under the weights w (the first one on ties),
// stores its level numbers in L and returns its index.
func (t *iq3Search) bestNeighbour(cand []uint16, xval, w *[4]float32, scale float32, L *[4]int8) int {
	best := float32(math.MaxFloat32)
	bi := -1
	for _, p := range cand {
		g := &t.point[p&511]
		var d2 float32
		for i := 0; i < 4; i++ {
			diff := float32(scale*g[i]) - xval[i]
			d2 += float32(float32(w[i]*diff) * diff)
		}
		if d2 < best {
			best, bi = d2, int(p)
		}
	}
	if bi < 0 {
		// Only non-finite input gets here (llama.cpp aborts).
		bi = int(cand[0])
	}
	c := t.codes[bi]
	for i := 0; i < 4; i++ {
		L[i] = int8(c >> (3 * i) & 7)
	}
	return bi
}

// iq3Code packs four level numbers into a grid code.
func iq3Code(L *[4]int8) uint16 {
	return uint16(L[0]) | uint16(L[1])<<3 | uint16(L[2])<<6 | uint16(L[3])<<9
}

// iq3RoundQuad rounds four magnitudes times id to level numbers (the level
// whose odd value 2l+1 is nearest, clamped to 0..7) and returns their code.
func iq3RoundQuad(x *[4]float32, id float32, L *[4]int8) uint16 {
	for i := 0; i < 4; i++ {
		l := nearestInt(float32(0.5 * (float32(id*x[i]) - 1)))
		L[i] = int8(clamp(l, 0, 7))
	}
	return iq3Code(L)
}

// iq3Group is the scratch and result of quantizing one group of 32.
type iq3Group struct {
	xval, weight, waux [32]float32
	L, Laux            [32]int8
	onGrid, onGridAux  [8]bool
	signs              [4]uint8  // per eight: sign bits (7 for IQ3_XXS)
	idx                [8]uint16 // grid index per quad
}

// quantize fits the group xb with per-element weights (already set in
// g.weight) and returns its scale, leaving the quads' grid indices in g.idx
// and the signs in g.signs. ok is false for a group llama.cpp treats as
// all zeros, whose indices and signs it does not store.
//
// It follows ggml's quantize_row_iq3_xxs_impl (xxs) and
// quantize_row_iq3_s_impl: magnitudes are fitted and signs kept apart
// (IQ3_XXS flips the least important element of an eight with an odd
// number of negatives, as only even counts can be stored). A range of
// trial scales around max/15 is tried: the magnitudes are rounded to level
// numbers, a quad off the grid is replaced by its best candidate
// neighbour, and the trial with the best least-squares fit wins. Quads
// still off the grid are then redone against that scale (IQ3_S redoes
// every quad) and the scale refitted.
func (g *iq3Group) quantize(t *iq3Search, xxs bool, xb []float32) (scale float32, ok bool) {
	for i := range g.waux {
		g.waux[i] = sqrt32(g.weight[i])
	}
	for k := 0; k < 4; k++ {
		if xxs {
			g.signs[k] = evenSigns(xb[8*k:8*k+8], g.weight[8*k:8*k+8], g.xval[8*k:8*k+8])
			continue
		}
		var s uint8
		for i := 8 * k; i < 8*k+8; i++ {
			if xb[i] >= 0 {
				g.xval[i] = xb[i]
			} else {
				g.xval[i] = -xb[i]
				s |= 1 << (i - 8*k)
			}
		}
		g.signs[k] = s
	}
	max := g.xval[0]
	for _, v := range g.xval[1:] {
		if !(max > v) {
			max = v
		}
	}
	g.L = [32]int8{}
	if xxs && max < 1e-8 || !xxs && max == 0 {
		return 0, false
	}

	const kMaxQ = 8
	lo, hi := -9, 9
	if xxs {
		lo, hi = -15, 15
	}
	var best float32
	scale = max / (2*kMaxQ - 1)
	for k := range g.onGrid {
		g.onGrid[k] = xxs
	}
	for is := lo; is <= hi; is++ {
		id := (2*kMaxQ - 1 + float32(float32(is)*0.2)) / max
		thisScale := 1 / id
		for k := 0; k < 8; k++ {
			x, w, Lk := g.quad(k, &g.Laux)
			u := iq3RoundQuad(x, id, Lk)
			g.onGridAux[k] = t.index[u] >= 0
			if !g.onGridAux[k] {
				t.bestNeighbour(t.near[u], x, w, thisScale, Lk)
			}
		}
		sumqx, sumq2 := g.sums(&g.Laux)
		if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
			scale = sumqx / sumq2
			best = float32(scale * sumqx)
			g.L = g.Laux
			g.onGrid = g.onGridAux
		}
	}
	offGrid := 0
	for _, on := range g.onGrid {
		if !on {
			offGrid++
		}
	}
	if offGrid > 0 && scale > 0 {
		id := 1 / scale
		for k := 0; k < 8; k++ {
			if xxs && g.onGrid[k] {
				continue
			}
			var tmp [4]int8
			x, w, Lk := g.quad(k, &g.L)
			u := iq3RoundQuad(x, id, &tmp)
			if t.index[u] >= 0 {
				*Lk = tmp
			} else {
				t.bestNeighbour(t.near[u], x, w, scale, Lk)
			}
		}
		sumqx, sumq2 := g.sums(&g.L)
		if sumq2 > 0 {
			scale = sumqx / sumq2
		}
	}
	if scale < 0 {
		// Cannot happen for IQ3_S; for IQ3_XXS only with a flipped
		// element dominating. The stored scale is unsigned, so flip
		// every sign instead.
		scale = -scale
		for k := range g.signs {
			g.signs[k] = ^g.signs[k]
			if xxs {
				g.signs[k] &= 127
			}
		}
	}
	for k := 0; k < 8; k++ {
		// Every quad is on the grid now (all zeros is a grid point).
		g.idx[k] = uint16(t.index[iq3Code((*[4]int8)(g.L[4*k:]))])
	}
	return scale, true
}

// quad returns quad k's magnitudes, square-root weights and, out of L,
// level numbers.
func (g *iq3Group) quad(k int, L *[32]int8) (x, w *[4]float32, Lk *[4]int8) {
	return (*[4]float32)(g.xval[4*k:]), (*[4]float32)(g.waux[4*k:]), (*[4]int8)(L[4*k:])
}

// sums returns Σ w·x·q and Σ w·q² over the group for the odd values q of
// the level numbers L.
func (g *iq3Group) sums(L *[32]int8) (sumqx, sumq2 float32) {
	for i := range L {
		w := g.weight[i]
		q := float32(2*int32(L[i]) + 1)
		sumqx += float32(float32(w*g.xval[i]) * q)
		sumq2 += float32(float32(w*q) * q)
	}
	return sumqx, sumq2
}

// iq3Sigma2 is twice the mean square of the block x, the σ² of the
// importance weights.
func iq3Sigma2(x []float32) float32 {
	var sumx2 float32
	for _, v := range x {
		sumx2 += float32(v * v)
	}
	return 2 * sumx2 / qkK
}

// setWeights sets the weights of the group xb: x² without an importance
// matrix (qw nil), else qw·sqrt(σ² + x²).
func (g *iq3Group) setWeights(xb, qw []float32, sigma2 float32) {
	if qw == nil {
		for i, v := range xb {
			g.weight[i] = v * v
		}
		return
	}
	for i, v := range xb {
		g.weight[i] = qw[i] * sqrt32(sigma2+float32(v*v))
	}
}

// iq3GroupScale is a group's 4-bit scale s against the block factor's
// inverse id: the nearest odd multiple 2s+1, clamped to 0..15.
func iq3GroupScale(id, scale float32) uint32 {
	return uint32(clamp(nearestInt(float32(0.5*(float32(id*scale)-1))), 0, 15))
}

// quantIQ3XXSRows encodes whole blocks as IQ3_XXS; qw is the importance
// matrix of a single row (nil without one).
func quantIQ3XXSRows(src, qw []float32, dst []byte) {
	t := iq3xxsSearch.get()
	var g iq3Group
	var scales [8]float32
	for ibl := 0; ibl < len(src)/qkK; ibl++ {
		x := src[ibl*qkK : (ibl+1)*qkK]
		b := dst[ibl*blockIQ3XXS : (ibl+1)*blockIQ3XXS]
		var w []float32
		var sigma2 float32
		if qw != nil {
			w = qw[ibl*qkK : (ibl+1)*qkK]
			sigma2 = iq3Sigma2(x)
		}
		clear(b)
		qs := b[2:66]
		ss := b[66:98]
		var words [8]uint32
		var maxScale float32
		for ib := 0; ib < 8; ib++ {
			xb := x[32*ib : 32*ib+32]
			if w != nil {
				g.setWeights(xb, w[32*ib:32*ib+32], sigma2)
			} else {
				g.setWeights(xb, nil, 0)
			}
			scale, ok := g.quantize(t, true, xb)
			scales[ib] = scale
			if !ok {
				continue
			}
			for k := 0; k < 8; k++ {
				qs[8*ib+k] = byte(g.idx[k])
			}
			words[ib] = uint32(g.signs[0]) | uint32(g.signs[1])<<7 | uint32(g.signs[2])<<14 | uint32(g.signs[3])<<21
			if !(maxScale > scale) {
				maxScale = scale
			}
		}
		if maxScale == 0 {
			clear(b)
			continue
		}
		d := maxScale / 31
		putFP16(b, d*1.0125)
		id := 1 / d
		for ib := 0; ib < 8; ib++ {
			binary.LittleEndian.PutUint32(ss[4*ib:], words[ib]|iq3GroupScale(id, scales[ib])<<28)
		}
	}
}

// quantIQ3SRows encodes whole blocks as IQ3_S; qw is the importance matrix
// of a single row (nil without one).
//
// One quirk of llama.cpp's encoder is kept for byte-exactness: a group of
// all zeros does not advance its qs and signs positions, so the groups
// after it store their indices and signs one group early (while the ninth
// index bits in qh stay in place) and the last slots stay zero.
func quantIQ3SRows(src, qw []float32, dst []byte) {
	t := iq3sSearch.get()
	var g iq3Group
	var scales [8]float32
	for ibl := 0; ibl < len(src)/qkK; ibl++ {
		x := src[ibl*qkK : (ibl+1)*qkK]
		b := dst[ibl*blockIQ3S : (ibl+1)*blockIQ3S]
		var w []float32
		var sigma2 float32
		if qw != nil {
			w = qw[ibl*qkK : (ibl+1)*qkK]
			sigma2 = iq3Sigma2(x)
		}
		clear(b)
		qs := b[2:66]
		qh := b[66:74]
		signs := b[74:106]
		slot := 0 // where the next stored group's qs and signs go
		var maxScale float32
		for ib := 0; ib < 8; ib++ {
			xb := x[32*ib : 32*ib+32]
			if w != nil {
				g.setWeights(xb, w[32*ib:32*ib+32], sigma2)
			} else {
				g.setWeights(xb, nil, 0)
			}
			scale, ok := g.quantize(t, false, xb)
			scales[ib] = scale
			if !ok {
				continue
			}
			for k := 0; k < 8; k++ {
				qs[8*slot+k] = byte(g.idx[k])
				qh[ib] |= byte(g.idx[k]>>8) << k
			}
			copy(signs[4*slot:4*slot+4], g.signs[:])
			slot++
			if !(maxScale > scale) {
				maxScale = scale
			}
		}
		if maxScale == 0 {
			continue
		}
		d := maxScale / 31
		putFP16(b, d*1.033)
		id := 1 / d
		for ib := 0; ib < 8; ib += 2 {
			b[106+ib/2] = byte(iq3GroupScale(id, scales[ib]) | iq3GroupScale(id, scales[ib+1])<<4)
		}
	}
}

func quantIQ3_XXS(src []float32, dst []byte) { quantIQ3XXSRows(src, nil, dst) }

func quantIQ3_S(src []float32, dst []byte) { quantIQ3SRows(src, nil, dst) }

func init() {
	codecs[tensor.IQ3_XXS] = codec{dequant: dequantIQ3_XXS, quant: quantIQ3_XXS, weighted: quantIQ3XXSRows}
	codecs[tensor.IQ3_S] = codec{dequant: dequantIQ3_S, quant: quantIQ3_S, weighted: quantIQ3SRows}
}
