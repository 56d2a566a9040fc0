package quant_test

import (
	"bytes"
	"math"
	"testing"

	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// Hand-built blocks with hand-computed values. The scales are chosen so
// that every expected value is exactly representable, and so that each test
// exercises a different part of the packing: nibble order, 5th/high bits,
// packed 6-bit scales and mins, negative and zero scales.
//
// fp16 constants used below: 0x3c00 = 1, 0x3800 = 0.5, 0x4000 = 2,
// 0xbc00 = -1, 0xc000 = -2, 0xb400 = -0.25.

// perSub fills n elements, element e getting vals[e/sub] (a sub-block's
// value when all its quants are the default one), then applies overrides.
func perSub(n, sub int, vals []float32, over map[int]float32) []float32 {
	out := make([]float32, n)
	for e := range out {
		out[e] = vals[e/sub]
	}
	for e, v := range over {
		out[e] = v
	}
	return out
}

func repeat(v float32, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = v
	}
	return out
}

type blockCase struct {
	name string
	typ  tensor.Type
	raw  []byte
	want []float32
}

func blockCases() []blockCase {
	var cases []blockCase
	add := func(name string, typ tensor.Type, raw []byte, want []float32) {
		cases = append(cases, blockCase{name, typ, raw, want})
	}

	// Plain types.
	add("F32", tensor.F32,
		[]byte{0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x80},
		[]float32{1.5, -2, float32(math.Copysign(0, -1))})
	add("F16", tensor.F16,
		[]byte{0x00, 0x3c, 0x00, 0xc0, 0x01, 0x00, 0xff, 0x7b, 0x55, 0x35},
		[]float32{1, -2, 1.0 / (1 << 24), 65504, 0.333251953125})
	add("BF16", tensor.BF16,
		[]byte{0x80, 0x3f, 0x40, 0xc0, 0x49, 0x40},
		[]float32{1, -3, 3.140625})

	// Q8_0: d = 0.5, then a second block with d = -0.25.
	{
		b := make([]byte, 68)
		b[0], b[1] = 0x00, 0x38
		b[2], b[3], b[4], b[5], b[6] = 0x00, 0x01, 0xff, 0x7f, 0x80 // 0, 1, -1, 127, -128
		b[34], b[35] = 0x00, 0xb4
		b[36], b[37] = 0x04, 0xfc // 4, -4
		want := make([]float32, 64)
		copy(want, []float32{0, 0.5, -0.5, 63.5, -64})
		want[32], want[33] = -1, 1
		add("Q8_0", tensor.Q8_0, b, want)
	}

	// Q4_0: value (q-8)*d; d = 2, then d = -1. Byte j: element j low,
	// j+16 high.
	{
		b := make([]byte, 36)
		b[0], b[1] = 0x00, 0x40
		for j := 2; j < 18; j++ {
			b[j] = 0x88
		}
		b[2] = 0x0f // e0: q 15 -> 14; e16: q 0 -> -16
		b[4] = 0x79 // e2: q 9 -> 2;   e18: q 7 -> -2
		b[18], b[19] = 0x00, 0xbc
		for j := 20; j < 36; j++ {
			b[j] = 0x88
		}
		b[20] = 0x0f // e32: (15-8)*-1 = -7; e48: (0-8)*-1 = 8
		want := make([]float32, 64)
		want[0], want[16], want[2], want[18] = 14, -16, 2, -2
		want[32], want[48] = -7, 8
		add("Q4_0", tensor.Q4_0, b, want)
	}

	// Q4_1: value q*d + m with d = 0.5, m = -2; default q 4 -> 0.
	{
		b := make([]byte, 20)
		b[0], b[1], b[2], b[3] = 0x00, 0x38, 0x00, 0xc0
		for j := 4; j < 20; j++ {
			b[j] = 0x44
		}
		b[4] = 0xf0 // e0: q 0 -> -2;    e16: q 15 -> 5.5
		b[5] = 0x21 // e1: q 1 -> -1.5;  e17: q 2 -> -1
		add("Q4_1", tensor.Q4_1, b, perSub(32, 32, []float32{0},
			map[int]float32{0: -2, 16: 5.5, 1: -1.5, 17: -1}))
	}

	// Q5_0: value (q-16)*d, d = 1; qh bit j = 5th bit of element j.
	{
		b := make([]byte, 22)
		b[0], b[1] = 0x00, 0x3c
		b[2], b[3], b[4], b[5] = 0x01, 0x00, 0x01, 0x80 // bits 0, 16, 31
		b[6] = 0x3f                                     // e0: 15|16 -> 15; e16: 3|16 -> 3
		b[21] = 0x00                                    // e15: 0 -> -16;   e31: 0|16 -> 0
		add("Q5_0", tensor.Q5_0, b, perSub(32, 32, []float32{-16},
			map[int]float32{0: 15, 16: 3, 31: 0}))
	}

	// Q5_1: value q*d + m, d = 0.5, m = 1; 5th bits for elements 1, 17.
	{
		b := make([]byte, 24)
		b[0], b[1], b[2], b[3] = 0x00, 0x38, 0x00, 0x3c
		b[4], b[5], b[6], b[7] = 0x02, 0x00, 0x02, 0x00
		b[9] = 0xf1 // e1: 1|16 = 17 -> 9.5; e17: 15|16 = 31 -> 16.5
		add("Q5_1", tensor.Q5_1, b, perSub(32, 32, []float32{1},
			map[int]float32{1: 9.5, 17: 16.5}))
	}

	// IQ4_NL: value d * codebook[q], d = 0.5.
	{
		b := make([]byte, 18)
		b[0], b[1] = 0x00, 0x38
		b[2] = 0xf0 // e0: -127 -> -63.5; e16: 113 -> 56.5
		b[3] = 0x87 // e1: -10 -> -5;     e17: 1 -> 0.5
		add("IQ4_NL", tensor.IQ4_NL, b, perSub(32, 32, []float32{-63.5},
			map[int]float32{0: -63.5, 16: 56.5, 1: -5, 17: 0.5}))
	}

	// Q2_K: value d*sc*q - dmin*m per 16-element sub-block; d = 1,
	// dmin = 0.5. Scale byte: low nibble sc, high nibble m.
	//   sb0: 0x21 sc 1 m 2 -> q - 1      sb1: 0x03 sc 3 m 0 -> 3q
	//   sb2: 0x05 -> 5q                   sb8: 0x12 sc 2 m 1 -> 2q - 0.5
	//   others 0xf0: sc 0 (zero scale), m 15 -> -7.5
	// Quant of element e: qs[32*(e/128) + e%32] bits 2*((e%128)/32).
	{
		b := make([]byte, 84)
		for j := 0; j < 16; j++ {
			b[j] = 0xf0
		}
		b[0], b[1], b[2], b[8] = 0x21, 0x03, 0x05, 0x12
		b[80], b[81], b[82], b[83] = 0x00, 0x3c, 0x00, 0x38
		b[16+0] = 0xe7  // e0 q 3 -> 2; e32 q 1 -> 5; e64 q 2 -> -7.5; e96 q 3 -> -7.5
		b[16+16] = 0x02 // e16 q 2 -> 6
		b[16+32] = 0x01 // e128 q 1 -> 1.5
		subs := []float32{-1, 0, 0, -7.5, -7.5, -7.5, -7.5, -7.5, -0.5, -7.5, -7.5, -7.5, -7.5, -7.5, -7.5, -7.5}
		add("Q2_K", tensor.Q2_K, b, perSub(256, 16, subs,
			map[int]float32{0: 2, 32: 5, 64: -7.5, 96: -7.5, 16: 6, 128: 1.5}))
	}

	// Q3_K: value d * s * q with q in -4..3 (2 low bits + hmask bit; a
	// clear hmask bit subtracts 4) and 6-bit scales s biased by 32.
	// d = 0.5. Scales: s0 = 1 (raw 33), s1 = -2 (30), s8 = -32 (0),
	// s9 = 31 (63), s15 = 5 (37), others 0 (32).
	// Bytes 0-7: low nibbles of s0-7 | low nibbles of s8-15 << 4.
	// Byte 8+k: top 2 bits of s_k, s_k+4, s_k+8, s_k+12.
	{
		b := make([]byte, 110)
		sc := b[96:108]
		copy(sc, []byte{0x01, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x00, 0x50, 0x8a, 0xb9, 0xaa, 0xaa})
		b[108], b[109] = 0x00, 0x38
		// Element e: qs[32 + 32*(e/128) + e%32] bits 2*((e%128)/32),
		// hmask[e%32] bit e/32.
		b[0] = 0x11     // hmask: e0 (bit 0), e128 (bit 4)
		b[16] = 0x10    // hmask: e144 (bit 4)
		b[32+0] = 0x03  // e0: 3 with high bit -> 3 -> 0.5*1*3
		b[32+16] = 0x01 // e16: 1, no high bit -> -3 -> 0.5*-2*-3
		b[32+32] = 0x02 // e128: 2 with high bit -> 0.5*-32*2
		b[32+48] = 0x03 // e144: 3 with high bit -> 0.5*31*3
		b[32+63] = 0x40 // e255: 1, no high bit -> -3 -> 0.5*5*-3
		subs := make([]float32, 16)
		subs[0], subs[1], subs[8], subs[9], subs[15] = -2, 4, 64, -62, -10 // 0.5*s*-4
		add("Q3_K", tensor.Q3_K, b, perSub(256, 16, subs,
			map[int]float32{0: 1.5, 16: 3, 128: -32, 144: 46.5, 255: -7.5}))
	}

	// Q4_K / Q5_K share the packed 6-bit scales and mins. d = 0.5,
	// dmin = 1; value 0.5*sc*q - m per 32-element sub-block.
	//   sb: 0      1       2      3      4        5      6      7
	//   sc: 1      63      0      2      17       2      2      48
	//   m:  2      0       5      0      35       0      0      63
	// Bytes 0-3: sc0-3 | top 2 bits of sc4-7 << 6; bytes 4-7: m0-3 | top
	// 2 bits of m4-7 << 6; bytes 8-11: low nibbles of sc4-7 | m4-7 << 4.
	kScales := []byte{0x41, 0x3f, 0x00, 0xc2, 0x82, 0x00, 0x05, 0xc0, 0x31, 0x02, 0x02, 0xf0}
	kSubs := []float32{-2, 0, -5, 0, -35, 0, 0, -63} // all quants 0
	{
		b := make([]byte, 144)
		b[0], b[1], b[2], b[3] = 0x00, 0x38, 0x00, 0x3c
		copy(b[4:16], kScales)
		qs := b[16:]
		// 32-byte chunk k: low nibbles sub-block 2k, high 2k+1.
		qs[0] = 0x1f   // e0: 15 -> 7.5-2;  e32: 1 -> 31.5
		qs[32] = 0x09  // e64: zero scale -> -5
		qs[64] = 0x08  // e128: 8 -> 68-35
		qs[127] = 0xf0 // e255: 15 -> 360-63
		add("Q4_K", tensor.Q4_K, b, perSub(256, 32, kSubs,
			map[int]float32{0: 5.5, 32: 31.5, 64: -5, 128: 33, 255: 297}))
	}
	{
		b := make([]byte, 176)
		b[0], b[1], b[2], b[3] = 0x00, 0x38, 0x00, 0x3c
		copy(b[4:16], kScales)
		qh := b[16:48] // qh[l] bit j: 5th bit of element 32j + l
		ql := b[48:]
		qh[0] = 0x03   // e0, e32
		qh[8] = 0x40   // e200
		qh[31] = 0x80  // e255
		ql[0] = 0x1f   // e0: 15|16 = 31 -> 15.5-2; e32: 1|16 = 17 -> 535.5
		ql[32] = 0x09  // e64: zero scale -> -5
		ql[64] = 0x08  // e128: 8 -> 33
		ql[127] = 0xf0 // e255: 15|16 = 31 -> 744-63
		// e200 (sb 6): low nibble 0 | 16 -> 0.5*2*16
		add("Q5_K", tensor.Q5_K, b, perSub(256, 32, kSubs,
			map[int]float32{0: 13.5, 32: 535.5, 64: -5, 128: 33, 200: 16, 255: 681}))
	}

	// Q6_K: value d * sc * (q - 32), q = 4 low bits | 2 high bits << 4,
	// int8 scales per 16 elements, d = 0.5. Scales: sc0 = 1, sc1 = -1,
	// sc2 = 127, sc8 = -128, sc15 = 3, others 2. All-zero quants give
	// q - 32 = -32.
	// Element e = 128h + 32g + l: low bits in ql[64h + 32*(g%2) + l]
	// (low nibble for g < 2, high for g >= 2), high bits in
	// qh[32h + l] bits 2g.
	{
		b := make([]byte, 210)
		sc := b[192:208]
		for j := range sc {
			sc[j] = 2
		}
		sc[0], sc[1], sc[2], sc[8], sc[15] = 1, 0xff, 127, 0x80, 3
		b[208], b[209] = 0x00, 0x38
		ql, qh := b[0:128], b[128:192]
		ql[0] = 0xaf            // e0 low 15; e64 low 10
		qh[0] = 0xdb            // e0 hi 3 -> 63; e32 hi 2; e64 hi 1 -> 26; e96 hi 3
		ql[16] = 0x01           // e16 low 1
		qh[16] = 0x02           // e16 hi 2 -> 33
		ql[32] = 0x35           // e32 low 5 -> 37; e96 low 3 -> 51
		ql[64] = 0x0f           // e128 low 15
		qh[32] = 0x03           // e128 hi 3 -> 63
		ql[127] = 0x70          // e255 low 7
		qh[63] = 0x80           // e255 hi 2 -> 39
		subs := repeat(-32, 16) // -16 * 2
		subs[0], subs[1], subs[2], subs[8], subs[15] = -16, 16, -2032, 2048, -48
		add("Q6_K", tensor.Q6_K, b, perSub(256, 16, subs, map[int]float32{
			0:   15.5,  // 0.5*1*31
			16:  -0.5,  // 0.5*-1*1
			32:  317.5, // 0.5*127*5
			64:  -6,    // 0.5*2*-6
			96:  19,    // 0.5*2*19
			128: -1984, // 0.5*-128*31
			255: 10.5,  // 0.5*3*7
		}))
	}

	// Q8_K: float32 d = 0.25, int8 quants, then bsums (ignored).
	{
		b := make([]byte, 292)
		b[0], b[1], b[2], b[3] = 0x00, 0x00, 0x80, 0x3e
		b[4], b[5], b[6] = 0x7f, 0x80, 0xff
		b[260] = 0x55 // bsums are not part of the values
		want := make([]float32, 256)
		want[0], want[1], want[2] = 31.75, -32, -0.25
		add("Q8_K", tensor.Q8_K, b, want)
	}

	// IQ4_XS: value d * (ls-32) * codebook[q] with 6-bit ls per 32
	// elements; d = 0.5. ls: sb0 33 (+1), sb1 0 (-32), sb2 63 (+31),
	// others 34 (+2). scales_l: two low nibbles per byte; scales_h: 2 top
	// bits per sub-block.
	{
		b := make([]byte, 136)
		b[0], b[1] = 0x00, 0x38
		b[2], b[3] = 0xb2, 0xaa // scales_h 0xaab2
		b[4], b[5], b[6], b[7] = 0x01, 0x2f, 0x22, 0x22
		qs := b[8:]
		qs[0] = 0x8f  // e0: 113 -> 56.5; e16: 1 -> 0.5
		qs[16] = 0x07 // e32: -10 -> 0.5*-32*-10
		qs[47] = 0xc0 // sub-block 2, byte 15: e79 low 0 (default); e95 high 12: 53 -> 0.5*31*53
		subs := []float32{-63.5, 2032, -1968.5, -127, -127, -127, -127, -127}
		add("IQ4_XS", tensor.IQ4_XS, b, perSub(256, 32, subs,
			map[int]float32{0: 56.5, 16: 0.5, 32: 160, 95: 821.5}))
	}

	// TQ2_0: 2-bit digits q, value (q-1)·d, d = 1 at byte 64. Byte j of
	// each 32-byte half holds elements 4·32·half + 32·l + j in bits 2l.
	// All digits 1 (0x55 → 0) but byte 0 = 0x1b: digits 3, 2, 1, 0.
	{
		b := make([]byte, 66)
		for j := range 64 {
			b[j] = 0x55
		}
		b[0] = 0x1b
		b[64], b[65] = 0x00, 0x3c
		want := make([]float32, 256)
		want[0], want[32], want[64], want[96] = 2, 1, 0, -1
		add("TQ2_0", tensor.TQ2_0, b, want)
	}

	// TQ1_0: five base-3 digits per byte, stored as ⌈digits·256/243⌉ and
	// read back as digit n = (byte·3ⁿ mod 256)·3 >> 8; value (digit-1)·d,
	// d = 0.5 at byte 52. Byte 0 = 255 holds the digits 2,2,2,2,2
	// (elements 0, 32, 64, 96, 128); every other byte 0: digits 0.
	{
		b := make([]byte, 54)
		b[0] = 255
		b[52], b[53] = 0x00, 0x38
		want := repeatF(-0.5, 256)
		for n := range 5 {
			want[32*n] = 0.5
		}
		add("TQ1_0", tensor.TQ1_0, b, want)
	}

	// MXFP4: an E8M0 byte e (scale 2^(e-128), the halved convention)
	// and 16 bytes of E2M1 codes (0, 1, 2, 3, 4, 6, 8, 12, then the
	// same negated: halved values), element j low nibble, j+16 high.
	// e = 129: scale 2.
	{
		b := make([]byte, 17)
		b[0] = 129
		b[1] = 0xf7 // e0: 12·2; e16: -12·2
		b[2] = 0x91 // e1: 1·2;  e17: -1·2
		want := make([]float32, 32)
		want[0], want[16], want[1], want[17] = 24, -24, 2, -2
		add("MXFP4", tensor.MXFP4, b, want)
	}

	// IQ2_XXS: eight groups of 32, each 4 grid indices (bytes) and a word
	// of four 7-bit sign indices plus a 4-bit scale s: values
	// d·(0.5+s)/4·grid·sign. Grid point 0 is all 8s; sign index 1 is the
	// byte 0b10000001 (odd parity fixed by bit 7): elements 0 and 7
	// negative. d = 1; group 0 s = 3 (→ ±7), the others s = 0 (→ 1).
	{
		b := make([]byte, 66)
		b[0], b[1] = 0x00, 0x3c
		b[6], b[9] = 0x01, 0x30 // group 0's word 0x30000001
		want := repeatF(1, 256)
		for j := range 32 {
			want[j] = 7
		}
		want[0], want[7] = -7, -7
		add("IQ2_XXS", tensor.IQ2_XXS, b, want)
	}
	return cases
}

// latticeFromGolden are the grid types whose decoders only the golden
// vectors check (their grids are recovered from llama.cpp's library by the
// generators in testdata/): IQ2_XXS, above, shows the layout.
var latticeFromGolden = map[tensor.Type]bool{tensor.IQ2_XS: true, tensor.IQ2_S: true,
	tensor.IQ3_XXS: true, tensor.IQ3_S: true, tensor.IQ1_S: true, tensor.IQ1_M: true}

func repeatF(v float32, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = v
	}
	return x
}

func TestDequantizeHandBlocks(t *testing.T) {
	covered := map[tensor.Type]bool{}
	for _, tc := range blockCases() {
		covered[tc.typ] = true
		got := make([]float32, len(tc.want))
		if err := quant.Dequantize(tc.typ, tc.raw, got); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: element %d = %g, want %g", tc.name, i, got[i], tc.want[i])
			}
		}
	}
	for _, typ := range allTypes {
		if quant.DequantizeSupported(typ) && !covered[typ] && !latticeFromGolden[typ] {
			t.Errorf("no hand-built block for %v", typ)
		}
	}
}

// TestQuantizeHandBlocks checks quantizer output bytes worked out by hand
// from the reference algorithms.
func TestQuantizeHandBlocks(t *testing.T) {
	type qcase struct {
		name string
		typ  tensor.Type
		in   []float32
		want []byte
	}
	var cases []qcase

	// Q8_0: amax 127 -> d = 1 (0x3c00); quants round half away from zero.
	{
		in := make([]float32, 32)
		copy(in, []float32{127, -63.5, 0, 1, 2.5, -2.5, 0.49})
		want := make([]byte, 34)
		copy(want, []byte{0x00, 0x3c, 0x7f, 0xc0, 0x00, 0x01, 0x03, 0xfd, 0x00})
		cases = append(cases, qcase{"Q8_0 unit scale", tensor.Q8_0, in, want})
	}
	// Q8_0 zeros: d = 0/127 = +0, quants 0.
	cases = append(cases, qcase{"Q8_0 zeros", tensor.Q8_0, make([]float32, 32), make([]byte, 34)})

	// Q4_0: the largest magnitude, -8, maps to quant 0, so d = -8/-8 = 1;
	// quant = trunc(x/d + 8.5), clamped to 15.
	{
		in := make([]float32, 32)
		copy(in, []float32{-8, 7, 0.5, -0.5, 7.6})
		in[16] = 3 // high nibble of byte 0
		want := make([]byte, 18)
		want[0], want[1] = 0x00, 0x3c
		for j := 2; j < 18; j++ {
			want[j] = 0x88 // zeros -> trunc(8.5) = 8
		}
		want[2] = 0xb0 // e0 -8 -> 0; e16 3 -> 11
		want[3] = 0x8f // e1 7 -> 15
		want[4] = 0x89 // e2 0.5 -> 9
		want[5] = 0x88 // e3 -0.5 -> 8
		want[6] = 0x8f // e4 7.6 -> 16 clamped to 15
		cases = append(cases, qcase{"Q4_0 unit scale", tensor.Q4_0, in, want})
	}
	// Q4_0 zeros: d = 0/-8 = -0 (fp16 0x8000), every quant 8.
	{
		want := make([]byte, 18)
		want[1] = 0x80
		for j := 2; j < 18; j++ {
			want[j] = 0x88
		}
		cases = append(cases, qcase{"Q4_0 zeros", tensor.Q4_0, make([]float32, 32), want})
	}
	// Q4_1: min -1, max 14 -> d = 1, m = -1 (0xbc00); q = trunc(x+1+0.5).
	{
		in := repeat(0, 32)
		in[0], in[1], in[16] = -1, 14, 2.4
		want := make([]byte, 20)
		want[0], want[1], want[2], want[3] = 0x00, 0x3c, 0x00, 0xbc
		for j := 4; j < 20; j++ {
			want[j] = 0x11
		}
		want[4] = 0x30 // e0 -> 0, e16 2.4 -> 3
		want[5] = 0x1f // e1 14 -> 15
		cases = append(cases, qcase{"Q4_1", tensor.Q4_1, in, want})
	}
	// Q5_0: max -16 -> d = 1; q = trunc(x + 16.5) clamped to 31; 5th bits
	// to qh.
	{
		in := repeat(0, 32)
		in[0], in[1], in[17] = -16, 15, -1
		want := make([]byte, 22)
		want[0], want[1] = 0x00, 0x3c
		// q: e0 0, e1 31, e17 15, all others 16 (5th bit set).
		// qh: every bit except 0 (e0) and 17 (e17).
		want[2], want[3], want[4], want[5] = 0xfe, 0xff, 0xfd, 0xff
		for j := 6; j < 22; j++ {
			want[j] = 0x00
		}
		want[7] = 0xff // e1 31 -> low 15; e17 15 -> 15
		cases = append(cases, qcase{"Q5_0", tensor.Q5_0, in, want})
	}
	// Q6_K and IQ4_XS zero blocks: all bytes zero except where noted.
	cases = append(cases, qcase{"Q6_K zeros", tensor.Q6_K, make([]float32, 256), make([]byte, 210)})
	cases = append(cases, qcase{"Q8_K zeros", tensor.Q8_K, make([]float32, 256), make([]byte, 292)})
	// IQ4_NL zeros: scale 0, and every quant is the codebook index nearest
	// to 0, index 8 (value 1).
	{
		want := make([]byte, 18)
		for j := 2; j < 18; j++ {
			want[j] = 0x88
		}
		cases = append(cases, qcase{"IQ4_NL zeros", tensor.IQ4_NL, make([]float32, 32), want})
	}
	// F16 and BF16 rows.
	cases = append(cases, qcase{"F16", tensor.F16, []float32{1, -2, 65520}, []byte{0x00, 0x3c, 0x00, 0xc0, 0x00, 0x7c}})
	cases = append(cases, qcase{"BF16", tensor.BF16, []float32{1, -3}, []byte{0x80, 0x3f, 0x40, 0xc0}})

	for _, tc := range cases {
		got := make([]byte, len(tc.want))
		if err := quant.Quantize(tc.typ, tc.in, got); err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !bytes.Equal(got, tc.want) {
			t.Errorf("%s:\n got % x\nwant % x", tc.name, got, tc.want)
		}
	}
}

// allTypes lists every type id ggml defines.
var allTypes = []tensor.Type{
	tensor.F32, tensor.F16, tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1, tensor.Q8_0, tensor.Q8_1,
	tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K, tensor.Q8_K, tensor.IQ2_XXS,
	tensor.IQ2_XS, tensor.IQ3_XXS, tensor.IQ1_S, tensor.IQ4_NL, tensor.IQ3_S, tensor.IQ2_S, tensor.IQ4_XS,
	tensor.I8, tensor.I16, tensor.I32, tensor.I64, tensor.F64, tensor.IQ1_M, tensor.BF16, tensor.TQ1_0,
	tensor.TQ2_0, tensor.MXFP4,
}

func TestSupported(t *testing.T) {
	want := map[tensor.Type]bool{
		tensor.F32: true, tensor.F16: true, tensor.BF16: true,
		tensor.Q4_0: true, tensor.Q4_1: true, tensor.Q5_0: true, tensor.Q5_1: true, tensor.Q8_0: true,
		tensor.Q2_K: true, tensor.Q3_K: true, tensor.Q4_K: true, tensor.Q5_K: true, tensor.Q6_K: true,
		tensor.Q8_K: true, tensor.IQ4_NL: true, tensor.IQ4_XS: true,
		tensor.IQ2_XXS: true, tensor.IQ2_XS: true, tensor.IQ2_S: true, tensor.IQ3_XXS: true, tensor.IQ3_S: true,
		tensor.IQ1_S: true, tensor.IQ1_M: true, tensor.TQ1_0: true, tensor.TQ2_0: true, tensor.MXFP4: true,
	}
	// llama.cpp refuses these without an importance matrix
	// (QuantizeWeighted encodes them).
	needsImatrix := map[tensor.Type]bool{tensor.IQ2_XXS: true, tensor.IQ2_XS: true, tensor.IQ1_S: true}
	for _, typ := range allTypes {
		if got := quant.DequantizeSupported(typ); got != want[typ] {
			t.Errorf("DequantizeSupported(%v) = %v", typ, got)
		}
		if got := quant.QuantizeSupported(typ); got != (want[typ] && !needsImatrix[typ]) {
			t.Errorf("QuantizeSupported(%v) = %v", typ, got)
		}
	}
	if quant.DequantizeSupported(tensor.Type(1000)) || quant.QuantizeSupported(tensor.Type(1<<31)) {
		t.Error("out-of-range type id reported as supported")
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"dequant unsupported", quant.Dequantize(tensor.Q8_1, make([]byte, 36), make([]float32, 32)),
			"quant: dequantize: type Q8_1 not supported"},
		{"quant unsupported", quant.Quantize(tensor.Q8_1, make([]float32, 32), make([]byte, 36)),
			"quant: quantize: type Q8_1 not supported"},
		{"quant needs an importance matrix", quant.Quantize(tensor.IQ2_XXS, make([]float32, 256), make([]byte, 66)),
			"quant: quantize: type IQ2_XXS needs an importance matrix: missing quantization weights (ggml_quantize_requires_imatrix: very low-bit quantization without an importance matrix gives garbage)"},
		{"weighted unsupported", quant.QuantizeWeighted(tensor.Q8_K, make([]float32, 256), make([]float32, 256), make([]byte, 292)),
			"quant: quantize: type Q8_K with an importance matrix not supported"},
		{"weighted ragged rows", quant.QuantizeWeighted(tensor.IQ2_S, make([]float32, 512), make([]float32, 384), make([]byte, 164)),
			"quant: quantize IQ2_S: 512 values are not whole rows of the importance matrix's 384 columns (a multiple of 256)"},
		{"weighted bad weight", quant.QuantizeWeighted(tensor.IQ2_S, make([]float32, 256), append(make([]float32, 255), -1), make([]byte, 82)),
			"quant: quantize IQ2_S: importance matrix column 255 is -1, want a finite weight ≥ 0"},
		{"quant unknown", quant.Quantize(tensor.Type(99), make([]float32, 256), make([]byte, 66)),
			"quant: quantize: type type(99) not supported"},
		{"K-quant row", quant.Quantize(tensor.Q4_K, make([]float32, 100), make([]byte, 144)),
			"quant: Q4_K rows must be a multiple of 256 elements, got 100"},
		{"legacy row", quant.Quantize(tensor.Q8_0, make([]float32, 33), make([]byte, 34)),
			"quant: Q8_0 rows must be a multiple of 32 elements, got 33"},
		{"quant dst size", quant.Quantize(tensor.Q6_K, make([]float32, 512), make([]byte, 210)),
			"quant: quantize Q6_K: dst has 210 bytes, want 420 for 512 elements"},
		{"dequant block multiple", quant.Dequantize(tensor.Q4_K, make([]byte, 144), make([]float32, 100)),
			"quant: dequantize Q4_K: 100 elements is not a multiple of the block size 256"},
		{"dequant src size", quant.Dequantize(tensor.Q4_0, make([]byte, 17), make([]float32, 32)),
			"quant: dequantize Q4_0: src has 17 bytes, want 18 for 32 elements"},
		{"dequant F16 src size", quant.Dequantize(tensor.F16, make([]byte, 5), make([]float32, 2)),
			"quant: dequantize F16: src has 5 bytes, want 4 for 2 elements"},
	}
	for _, tc := range tests {
		if tc.err == nil || tc.err.Error() != tc.want {
			t.Errorf("%s: got error %v, want %q", tc.name, tc.err, tc.want)
		}
	}
	// Empty input is fine.
	if err := quant.Dequantize(tensor.Q4_K, nil, nil); err != nil {
		t.Errorf("empty dequantize: %v", err)
	}
	if err := quant.Quantize(tensor.Q4_K, nil, nil); err != nil {
		t.Errorf("empty quantize: %v", err)
	}
}
