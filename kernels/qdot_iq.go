package kernels

import (
	"encoding/binary"

	"github.com/ondo-ai/ondo/quant"
)

// Portable twins of the low-bit types: MXFP4 (against Q8_0), the ternary
// TQ1_0 and TQ2_0 and the lattice types IQ1_S … IQ3_S (against Q8_K), as
// ggml pairs them.
//
// They follow qdot.go's scheme: per block, eight exact int32 lanes, lane k
// holding the products of elements 4k..4k+3 of each 32-element run (times
// the run's integer sub-block scale where there is one), then one fused
// multiply-add per lane by the block's float32 scale. What each type adds
// beyond that is spelled out at its twin, because the lanes are part of the
// result: a correction term (an offset times activation sums) goes into
// the lane where the assembly puts it, so that both compute the same eight
// integers.
//
// The IQ types scale their grid values by odd integers 2s+1 and a power of
// two (1/8 for IQ2 and IQ1, 1/4 for IQ3_XXS, 1 for IQ3_S), as ggml's AVX2
// kernels do; here the power of two goes into the block scale first,
// s = (dw·2^-k)·dx, which is exact before the one rounding of the product.

// The grids, copied once from package quant and laid out as the assembly
// reads them (it addresses these variables by name).
var (
	iq2xxsGrid = quant.IQ2XXSGrid() // 256 points of 8 magnitudes
	iq2xsGrid  = quant.IQ2XSGrid()  // 512
	iq2sGrid   = quant.IQ2SGrid()   // 1024
	iq3xxsGrid = quant.IQ3XXSGrid() // 256 points of 4 magnitudes
	iq3sGrid   = quant.IQ3SGrid()   // 512

	// iq1Grid holds the IQ1 points with every coordinate plus one (0, 1 or
	// 2), unsigned, so that VPMADDUBSW can take them as they are.
	iq1Grid = func() (g [2048][8]uint8) {
		for i, p := range quant.IQ1Grid() {
			for j, c := range p {
				g[i][j] = uint8(c + 1)
			}
		}
		return g
	}()

	// e8m0Half[e] is the float32 factor of an MXFP4 block with scale byte
	// e (its codebook values being doubled).
	e8m0Half = func() (t [256]float32) {
		for e := range t {
			t[e] = quant.MXFP4Scale(uint8(e))
		}
		return t
	}()

	mxfp4Values = quant.MXFP4Codebook()
)

// evenSigns expands the 7-bit sign codes of IQ2_XXS, IQ2_XS and IQ3_XXS to
// their eight sign bits: the eighth is the parity of the seven (bit j set:
// element j is negative).
func evenSigns(c uint32) uint8 {
	c &= 127
	p := c ^ c>>4
	p ^= p >> 2
	p ^= p >> 1
	return uint8(c | (p&1)<<7)
}

// signed8 returns the sums of g[i]·x[i] over elements 0-3 and 4-7 of a
// group of eight, each product negated where bit i of the sign byte s is
// set; g holds unsigned magnitudes, x the group's activation quants.
func signed8(g *[8]uint8, s uint8, x *[8]byte) (lo, hi int32) {
	for i := range 4 {
		m := -int32(s >> uint(i) & 1) // 0, or -1 to negate: (p^m)-m
		lo += (int32(g[i])*int32(int8(x[i])) ^ m) - m
		m = -int32(s >> uint(i+4) & 1)
		hi += (int32(g[i+4])*int32(int8(x[i+4])) ^ m) - m
	}
	return lo, hi
}

// signed4x2 is signed8 for a group made of two 4-element grid points.
func signed4x2(g0, g1 *[4]uint8, s uint8, x *[8]byte) (lo, hi int32) {
	for i := range 4 {
		m := -int32(s >> uint(i) & 1)
		lo += (int32(g0[i])*int32(int8(x[i])) ^ m) - m
		m = -int32(s >> uint(i+4) & 1)
		hi += (int32(g1[i])*int32(int8(x[i+4])) ^ m) - m
	}
	return lo, hi
}

// unsigned8 returns the sums of u[i]·x[i] over elements 0-3 and 4-7 of a
// group of eight.
func unsigned8(u *[8]uint8, x *[8]byte) (lo, hi int32) {
	for i := range 4 {
		lo += int32(u[i]) * int32(int8(x[i]))
		hi += int32(u[i+4]) * int32(int8(x[i+4]))
	}
	return lo, hi
}

// group returns group l (elements 8l..8l+7) of the run at x.
func group(x []byte, l int) *[8]byte { return (*[8]byte)(x[8*l : 8*l+8]) }

// addLanes finishes a block: acc[k] = fma(float32(L[k]), s, acc[k]).
func addLanes(L *[8]int32, s float32, acc *[8]float32) {
	for k := range 8 {
		acc[k] = fma32(float32(L[k]), s, acc[k])
	}
}

// dotMXFP4: MXFP4 (e @0 | qs[16] @1, nibbles laid out as Q4_0's) against
// Q8_0, lanes as dotIQ4_NL's with the doubled E2M1 codebook, and the block
// scale e8m0Half[e]·dx. (The narrow assembly takes the codebook plus 12,
// unsigned, and the record's bias -12·Σx: the same lanes.)
func dotMXFP4(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*17 : b*17+17 : b*17+17]
		x := v.quants(b, 32)
		s := e8m0Half[blk[0]] * v.scale(b)
		q := blk[1:17]
		for k := range 4 {
			var lo, hi int32
			for i := 4 * k; i < 4*k+4; i++ {
				lo += int32(mxfp4Values[q[i]&15]) * int32(int8(x[i]^v.flip))
				hi += int32(mxfp4Values[q[i]>>4]) * int32(int8(x[16+i]^v.flip))
			}
			acc[k] = fma32(float32(lo), s, acc[k])
			acc[k+4] = fma32(float32(hi), s, acc[k+4])
		}
	}
}

// ternaryLanes finishes the lanes of a ternary block whose trits t (0..2,
// or 3 in a malformed TQ2_0 byte) stand for t-1: L[k] = lane k of Σ t·x
// minus the 32-element activation sum of run k (bsums 2k and 2k+1), and
// adds them to acc by dw·dx.
func ternaryLanes(t *[256]uint8, x, bs []byte, s float32, acc *[8]float32) {
	var L [8]int32
	x = x[:256]
	for c := range 8 {
		for l := range 4 {
			lo, hi := unsigned8((*[8]uint8)(t[32*c+8*l:]), group(x[32*c:], l))
			L[2*l] += lo
			L[2*l+1] += hi
		}
	}
	for k := range 8 {
		L[k] -= bsum(bs, 2*k) + bsum(bs, 2*k+1)
	}
	addLanes(&L, s, acc)
}

// dotTQ2_0: TQ2_0 (qs[64] @0 | d @64) against Q8_K; element 32c+m (run
// c = 4g+l) is bits 2l..2l+1 of qs[32g+m]. Lanes: see ternaryLanes.
func dotTQ2_0(w []byte, v *xview, nb int, acc *[8]float32) {
	var t [256]uint8
	for b := 0; b < nb; b++ {
		blk := w[b*66 : b*66+66 : b*66+66]
		for g := range 2 {
			q := (*[32]byte)(blk[32*g:])
			for m, u := range q {
				t[128*g+m] = u & 3
				t[128*g+32+m] = u >> 2 & 3
				t[128*g+64+m] = u >> 4 & 3
				t[128*g+96+m] = u >> 6
			}
		}
		ternaryLanes(&t, v.quants(b, 256), v.bsums(b), fp16le(blk[64:])*v.scale(b), acc)
	}
}

// tq1Pow3 brings trit k of a TQ1_0 byte to the front (modulo 256).
var tq1Pow3 = [5]uint8{1, 3, 9, 27, 81}

// tq1Trit returns trit k of a TQ1_0 byte q: (3·(q·3^k mod 256)) >> 8.
func tq1Trit(q uint8, k int) uint8 {
	return uint8(uint16(q*tq1Pow3[k]) * 3 >> 8)
}

// dotTQ1_0: TQ1_0 (qs[48] @0 | qh[4] @48 | d @52) against Q8_K, trits laid
// out as quant's decoder reads them. Lanes: see ternaryLanes.
func dotTQ1_0(w []byte, v *xview, nb int, acc *[8]float32) {
	var t [256]uint8
	for b := 0; b < nb; b++ {
		blk := w[b*54 : b*54+54 : b*54+54]
		for k := range 5 {
			for m, q := range blk[0:32] {
				t[32*k+m] = tq1Trit(q, k)
			}
			for m, q := range blk[32:48] {
				t[160+16*k+m] = tq1Trit(q, k)
			}
			if k < 4 {
				for m, q := range blk[48:52] {
					t[240+4*k+m] = tq1Trit(q, k)
				}
			}
		}
		ternaryLanes(&t, v.quants(b, 256), v.bsums(b), fp16le(blk[52:])*v.scale(b), acc)
	}
}

// dotIQ2_XXS: per 32-element run ib, 8 bytes at 2+8ib: four grid indices,
// then a uint32 of four 7-bit sign codes and the scale s in bits 28-31.
// L[k] = Σ_ib (2s+1)·lane k; block scale (dw/8)·dx.
func dotIQ2_XXS(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*66 : b*66+66 : b*66+66]
		x := v.quants(b, 256)
		var L [8]int32
		for ib := range 8 {
			q := blk[2+8*ib : 10+8*ib]
			aux := binary.LittleEndian.Uint32(q[4:])
			ls := int32(2*(aux>>28) + 1)
			xs := x[32*ib : 32*ib+32]
			for l := range 4 {
				lo, hi := signed8(&iq2xxsGrid[q[l]], evenSigns(aux>>(7*l)), group(xs, l))
				L[2*l] += ls * lo
				L[2*l+1] += ls * hi
			}
		}
		addLanes(&L, fp16le(blk)*0.125*v.scale(b), acc)
	}
}

// dotIQ2_XS: per run ib, four uint16 at 2+8ib (9-bit grid index, 7-bit
// sign code) and the scale byte at 66+ib: low nibble for elements 0-15
// (lanes 0-3), high for 16-31. Lanes and block scale as dotIQ2_XXS.
func dotIQ2_XS(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*74 : b*74+74 : b*74+74]
		x := v.quants(b, 256)
		var L [8]int32
		for ib := range 8 {
			sc := blk[66+ib]
			ls := [2]int32{int32(2*(sc&15) + 1), int32(2*(sc>>4) + 1)}
			xs := x[32*ib : 32*ib+32]
			for l := range 4 {
				q := uint32(binary.LittleEndian.Uint16(blk[2+8*ib+2*l:]))
				lo, hi := signed8(&iq2xsGrid[q&511], evenSigns(q>>9), group(xs, l))
				L[2*l] += ls[l/2] * lo
				L[2*l+1] += ls[l/2] * hi
			}
		}
		addLanes(&L, fp16le(blk)*0.125*v.scale(b), acc)
	}
}

// dotIQ2_S: grid index qs[4ib+l] (@2) plus bits 2l..2l+1 of qh[ib] (@66)
// as bits 8-9, eight sign bits in signs[4ib+l] (@34), scales as IQ2_XS's
// (@74). Lanes and block scale as dotIQ2_XXS.
func dotIQ2_S(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*82 : b*82+82 : b*82+82]
		x := v.quants(b, 256)
		var L [8]int32
		for ib := range 8 {
			h := uint(blk[66+ib])
			sc := blk[74+ib]
			ls := [2]int32{int32(2*(sc&15) + 1), int32(2*(sc>>4) + 1)}
			xs := x[32*ib : 32*ib+32]
			for l := range 4 {
				idx := uint(blk[2+4*ib+l]) | (h>>(2*l)&3)<<8
				lo, hi := signed8(&iq2sGrid[idx], blk[34+4*ib+l], group(xs, l))
				L[2*l] += ls[l/2] * lo
				L[2*l+1] += ls[l/2] * hi
			}
		}
		addLanes(&L, fp16le(blk)*0.125*v.scale(b), acc)
	}
}

// dotIQ3_XXS: grid indices qs[8ib+j] (@2) of quads, and per run a uint32
// at 66+4ib with four 7-bit sign codes (one per eight elements) and the
// scale s in bits 28-31. L[k] = Σ_ib (2s+1)·lane k; block scale (dw/4)·dx.
func dotIQ3_XXS(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*98 : b*98+98 : b*98+98]
		x := v.quants(b, 256)
		var L [8]int32
		for ib := range 8 {
			aux := binary.LittleEndian.Uint32(blk[66+4*ib:])
			ls := int32(2*(aux>>28) + 1)
			q := blk[2+8*ib : 10+8*ib]
			xs := x[32*ib : 32*ib+32]
			for m := range 4 {
				lo, hi := signed4x2(&iq3xxsGrid[q[2*m]], &iq3xxsGrid[q[2*m+1]], evenSigns(aux>>(7*m)), group(xs, m))
				L[2*m] += ls * lo
				L[2*m+1] += ls * hi
			}
		}
		addLanes(&L, fp16le(blk)*0.25*v.scale(b), acc)
	}
}

// dotIQ3_S: quad j of run ib has grid index qs[8ib+j] (@2) plus bit j of
// qh[ib] (@66) as bit 8; signs[4ib+m] (@74) holds the eight signs of
// elements 8m..8m+7; the nibble of scales[ib/2] (@106, low for even ib) is
// s. L[k] = Σ_ib (2s+1)·lane k; block scale dw·dx.
func dotIQ3_S(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*110 : b*110+110 : b*110+110]
		x := v.quants(b, 256)
		var L [8]int32
		for ib := range 8 {
			h := uint(blk[66+ib])
			ls := int32(2*(blk[106+ib/2]>>(4*(ib%2))&15) + 1)
			q := blk[2+8*ib : 10+8*ib]
			xs := x[32*ib : 32*ib+32]
			for m := range 4 {
				i0 := uint(q[2*m]) | (h>>uint(2*m)&1)<<8
				i1 := uint(q[2*m+1]) | (h>>uint(2*m+1)&1)<<8
				lo, hi := signed4x2(&iq3sGrid[i0], &iq3sGrid[i1], blk[74+4*ib+m], group(xs, m))
				L[2*m] += ls * lo
				L[2*m+1] += ls * hi
			}
		}
		addLanes(&L, fp16le(blk)*v.scale(b), acc)
	}
}

// dotIQ1_S: group l of run ib is grid point qs[4ib+l] (@2) plus bits
// 3l..3l+2 of the uint16 qh[ib] (@34) as bits 8-10; qh[ib] also holds the
// scale s (bits 12-14) and the offset's sign (bit 15 set: -1/8). An
// element is worth d·(2s+1)·(c+δ/8), c ∈ {-1, 0, 1}, δ = ±1, so 8/d times
// it is the integer (2s+1)·(8(c+1) + δ-8). The first part goes into the
// lanes run by run (grid stored as c+1); the second, (2s+1)·(δ-8) times
// run ib's activation sum (bsums 2ib, 2ib+1), into lane ib. Block scale
// (dw/8)·dx.
func dotIQ1_S(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*50 : b*50+50 : b*50+50]
		x, bs := v.quants(b, 256), v.bsums(b)
		var L [8]int32
		for ib := range 8 {
			h := uint(binary.LittleEndian.Uint16(blk[34+2*ib:]))
			ls := int32(2*(h>>12&7) + 1)
			xs := x[32*ib : 32*ib+32]
			for l := range 4 {
				lo, hi := unsigned8(&iq1Grid[uint(blk[2+4*ib+l])|(h>>(3*l)&7)<<8], group(xs, l))
				L[2*l] += 8 * ls * lo
				L[2*l+1] += 8 * ls * hi
			}
			delta := int32(1)
			if h&0x8000 != 0 {
				delta = -1
			}
			L[ib] += ls * (delta - 8) * (bsum(bs, 2*ib) + bsum(bs, 2*ib+1))
		}
		addLanes(&L, fp16le(blk)*0.125*v.scale(b), acc)
	}
}

// iq1MScales returns IQ1_M's fp16 block scale, reassembled from the top
// nibbles of its four scale words (@48), and the sixteen 3-bit sub-block
// scales as 2s+1.
func iq1MScales(sc []byte) (d float32, ls [16]int32) {
	var h uint16
	for w := range 4 {
		u := binary.LittleEndian.Uint16(sc[2*w:])
		h |= u >> 12 << (4 * w)
		for k := range 4 {
			ls[4*w+k] = int32(2*(u>>(3*k)&7) + 1)
		}
	}
	return quant.FP16ToFloat32(h), ls
}

// dotIQ1_M: sixteen 16-element sub-blocks of two groups of eight; group j
// of sub-block ib is grid point qs[2ib+j] (@0) plus bits 4j..4j+2 of
// qh[ib] (@32), whose bit 4j+3 is the group's offset sign (set: -1/8).
// 8/d times an element is (2s+1)·(8c+δ) = (2s+1)·(u-9) with u = 8(c+1) +
// δ+1 ∈ [0, 18]: lanes take (2s+1)·u·x run by run (lanes 0-3 of run c from
// sub-block 2c, 4-7 from 2c+1), and lane k then loses 9·((2s+1)·bsum) of
// sub-blocks 2k and 2k+1. Block scale (d/8)·dx.
func dotIQ1_M(w []byte, v *xview, nb int, acc *[8]float32) {
	for b := 0; b < nb; b++ {
		blk := w[b*56 : b*56+56 : b*56+56]
		x, bs := v.quants(b, 256), v.bsums(b)
		d, ls := iq1MScales(blk[48:56])
		var L [8]int32
		for c := range 8 {
			xs := x[32*c : 32*c+32]
			for j := range 4 { // group j of the run: sub-block 2c+j/2
				h := uint(blk[32+2*c+j/2]) >> (4 * (j % 2))
				xg := group(xs, j)
				lo, hi := unsigned8(&iq1Grid[uint(blk[4*c+j])|(h&7)<<8], xg)
				lo, hi = 8*lo, 8*hi
				if h&8 == 0 { // u = 8(c+1) + 2
					for i := range 4 {
						lo += 2 * int32(int8(xg[i]))
						hi += 2 * int32(int8(xg[i+4]))
					}
				}
				L[2*j] += ls[2*c+j/2] * lo
				L[2*j+1] += ls[2*c+j/2] * hi
			}
		}
		for k := range 8 {
			L[k] -= 9 * (ls[2*k]*bsum(bs, 2*k) + ls[2*k+1]*bsum(bs, 2*k+1))
		}
		addLanes(&L, d*0.125*v.scale(b), acc)
	}
}
