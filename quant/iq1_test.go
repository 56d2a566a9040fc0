package quant

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/tensor"
)

// iq1Normal returns n seeded normal values with standard deviation 0.05.
func iq1Normal(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x1a1b))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(0.05 * r.NormFloat64())
	}
	return x
}

// iq1Encode quantizes x as typ (under imatrix when it is not nil) and
// decodes it again.
func iq1Encode(t *testing.T, typ tensor.Type, x, imatrix []float32) ([]byte, []float32) {
	t.Helper()
	q := make([]byte, len(x)/qkK*typ.TypeSize())
	var err error
	if imatrix != nil {
		err = QuantizeWeighted(typ, x, imatrix, q)
	} else {
		err = Quantize(typ, x, q)
	}
	if err != nil {
		t.Fatal(err)
	}
	y := make([]float32, len(x))
	if err := Dequantize(typ, q, y); err != nil {
		t.Fatal(err)
	}
	return q, y
}

// TestIQ1Grid checks the generated grid (2048 distinct ternary points that
// include all -1 and all +1) and that both decoders read crafted blocks
// (block scale 1, multiplier 1) as the points they name plus the offset of
// the sign bits.
func TestIQ1Grid(t *testing.T) {
	seen := map[uint16]bool{}
	for i, p := range iq1Grid {
		if seen[p] || !iq1Ternary(p) {
			t.Fatalf("grid point %d = %#x repeated or not ternary", i, p)
		}
		seen[p] = true
	}
	if !seen[0] || !seen[iq1MaxCode] {
		t.Error("grid lacks the all -1 or all +1 point")
	}
	want := func(e, j int, neg bool) float32 {
		v := float32(int(iq1Grid[e]>>(2*j)&3) - 1)
		if neg {
			return v - iq1Delta
		}
		return v + iq1Delta
	}
	y := make([]float32, qkK)
	for blk := 0; blk < iq1GridSize/32; blk++ {
		// IQ1_S: sub-blocks with an odd index get the negative offset.
		var s [blockIQ1S]byte
		s[1] = 0x3c
		for sub := 0; sub < 8; sub++ {
			h := uint16(sub%2) << 15
			for g := 0; g < 4; g++ {
				e := 32*blk + 4*sub + g
				s[2+4*sub+g] = byte(e)
				h |= uint16(e>>8) << (3 * g)
			}
			s[34+2*sub], s[35+2*sub] = byte(h), byte(h>>8)
		}
		dequantIQ1_S(s[:], y)
		for i, v := range y {
			if w := want(32*blk+i/8, i%8, i/32%2 == 1); v != w {
				t.Fatalf("IQ1_S block %d element %d = %g, want %g", blk, i, v, w)
			}
		}
		// IQ1_M: every third group gets the negative offset.
		var m [blockIQ1M]byte
		m[53], m[55] = 0xc0, 0x30 // fp16 1.0 in the top nibbles
		for g := 0; g < 32; g++ {
			e := 32*blk + g
			m[g] = byte(e)
			nib := byte(e >> 8)
			if g%3 == 0 {
				nib |= 8
			}
			m[32+g/2] |= nib << (4 * (g % 2))
		}
		dequantIQ1_M(m[:], y)
		for i, v := range y {
			if w := want(32*blk+i/8, i%8, i/8%3 == 0); v != w {
				t.Fatalf("IQ1_M block %d element %d = %g, want %g", blk, i, v, w)
			}
		}
	}
}

// TestIQ1Neighbours checks the quantizers' pattern map and neighbour lists
// against their definition: grid points map to themselves, and every other
// ternary pattern lists, in order of squared distance and then index,
// exactly the grid points at its three smallest distances.
func TestIQ1Neighbours(t *testing.T) {
	s := iq1Tables()
	dist := func(a, b uint16) int {
		d := 0
		for j := 0; j < 8; j++ {
			x := int(a>>(2*j)&3) - int(b>>(2*j)&3)
			d += x * x
		}
		return d
	}
	offGrid := 0
	for c := 0; c <= iq1MaxCode; c++ {
		if !iq1Ternary(uint16(c)) {
			continue
		}
		code := s.code[c]
		if code >= 0 {
			if iq1Grid[code] != uint16(c) {
				t.Fatalf("pattern %#x maps to grid point %d = %#x", c, code, iq1Grid[code])
			}
			continue
		}
		offGrid++
		list := s.neighbours[-code-1:]
		list = list[1 : 1+int(list[0])]
		var levels []int
		for i, g := range list {
			d := dist(uint16(c), iq1Grid[g])
			if i > 0 {
				prev := dist(uint16(c), iq1Grid[list[i-1]])
				if d < prev || d == prev && g <= list[i-1] {
					t.Fatalf("pattern %#x: neighbours out of order at %d", c, i)
				}
			}
			if len(levels) == 0 || levels[len(levels)-1] != d {
				levels = append(levels, d)
			}
		}
		if len(levels) != 3 {
			t.Fatalf("pattern %#x: %d distinct distances, want 3", c, len(levels))
		}
		n := 0
		for _, p := range iq1Grid {
			if dist(uint16(c), p) <= levels[2] {
				n++
			}
		}
		if n != len(list) {
			t.Fatalf("pattern %#x: %d grid points within distance² %d, %d listed", c, n, levels[2], len(list))
		}
	}
	if offGrid != 6561-iq1GridSize {
		t.Errorf("%d off-grid patterns, want %d", offGrid, 6561-iq1GridSize)
	}
}

// iq1MSplitDirect is the IQ1_M split search as ggml writes it: every
// split's four candidate sums added up from zero in sorted order.
func iq1MSplitDirect(xb, w []float32, idx *[16]uint8) (i1Best, i2Best, kBest int, scale float32) {
	best := float32(-math.MaxFloat32)
	i1Best, i2Best, kBest = -1, -1, -1
	for i1 := 0; i1 <= 16; i1++ {
		for i2 := i1; i2 <= 16; i2++ {
			var qx, q2 [4]float32
			for j, i := range idx {
				l := 2
				if j < i1 {
					l = 0
				} else if j < i2 {
					l = 1
				}
				for k := 0; k < 4; k++ {
					v := iq1MLevels(k, int(i/8))[l]
					qx[k] += float32(float32(w[i]*v) * xb[i])
					q2[k] += float32(float32(w[i]*v) * v)
				}
			}
			for k := 0; k < 4; k++ {
				if q2[k] > 0 && float32(qx[k]*qx[k]) > float32(best*q2[k]) {
					scale = qx[k] / q2[k]
					best = float32(scale * qx[k])
					i1Best, i2Best, kBest = i1, i2, k
				}
			}
		}
	}
	return i1Best, i2Best, kBest, scale
}

// TestIQ1MSplit requires the prefix-sharing IQ1_M search to give exactly
// the direct search's split, candidate and scale bits, on sub-blocks with
// ties, zeros, one sign only and zero weights.
func TestIQ1MSplit(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var xb, w [16]float32
	var idx [16]uint8
	for trial := 0; trial < 3000; trial++ {
		for i := range xb {
			g := r.NormFloat64()
			switch trial % 5 {
			case 0:
				xb[i] = float32(g)
			case 1:
				xb[i] = float32(r.IntN(5)-2) * 0.25 // many ties
			case 2:
				xb[i] = float32(math.Abs(g)) + 0.1 // one sign
			case 3:
				if r.IntN(3) == 0 {
					xb[i] = float32(g)
				} else {
					xb[i] = 0
				}
			default:
				xb[i] = float32(g * math.Pow(10, float64(r.IntN(5)-2)))
			}
			w[i] = xb[i] * xb[i]
			if trial%2 == 1 {
				w[i] = float32(r.ExpFloat64())
				if r.IntN(8) == 0 {
					w[i] = 0
				}
			}
		}
		iq1SortIndex(xb[:], idx[:])
		a1, a2, ak, as := iq1MSplit(xb[:], w[:], &idx)
		b1, b2, bk, bs := iq1MSplitDirect(xb[:], w[:], &idx)
		if a1 != b1 || a2 != b2 || ak != bk || math.Float32bits(as) != math.Float32bits(bs) {
			t.Fatalf("trial %d: split (%d, %d, %d, %g), direct (%d, %d, %d, %g)\nx %v\nw %v",
				trial, a1, a2, ak, as, b1, b2, bk, bs, xb, w)
		}
	}
}

// TestIQ1SortIndex checks the stable ascending order the searches rely on.
func TestIQ1SortIndex(t *testing.T) {
	x := []float32{0.5, -1, 0.5, 0, -1, 2, 0, 0.5}
	idx := make([]uint8, len(x))
	iq1SortIndex(x, idx)
	if want := []uint8{1, 4, 3, 6, 0, 2, 7, 5}; !slices.Equal(idx, want) {
		t.Errorf("order %v, want %v", idx, want)
	}
}

// TestIQ1RoundTrip bounds the reconstruction error on Gaussian data (about
// 1.2x what the encoders reach) and checks the degenerate rows: zeros
// decode to zeros and nothing decodes to NaN or infinity.
func TestIQ1RoundTrip(t *testing.T) {
	const cols = 1024
	x := iq1Normal(1, 32*cols)
	flat := slices.Repeat([]float32{1}, cols)
	tests := []struct {
		typ     tensor.Type
		imatrix []float32
		max     float64
	}{
		// Measured: IQ1_S 0.484, IQ1_M 0.450 with a flat matrix and
		// 0.581 without one (its x² weights favour the large values).
		{tensor.IQ1_S, flat, 0.58}, {tensor.IQ1_M, flat, 0.54}, {tensor.IQ1_M, nil, 0.70},
	}
	for _, tc := range tests {
		_, y := iq1Encode(t, tc.typ, x, tc.imatrix)
		var se, ss float64
		for i := range x {
			d := float64(y[i] - x[i])
			se += d * d
			ss += float64(x[i]) * float64(x[i])
		}
		if e := math.Sqrt(se / ss); e > tc.max {
			t.Errorf("%v (imatrix %v): relative RMS error %.4f > %.2f", tc.typ, tc.imatrix != nil, e, tc.max)
		}
		spike := make([]float32, cols)
		spike[7] = 100
		for name, in := range map[string][]float32{
			"zeros": make([]float32, cols), "constant": slices.Repeat([]float32{0.5}, cols),
			"tiny": slices.Repeat([]float32{1e-20}, cols), "spike": spike,
			"huge": slices.Repeat([]float32{6e4}, cols),
		} {
			_, y := iq1Encode(t, tc.typ, in, tc.imatrix)
			for i, v := range y {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || name == "zeros" && v != 0 {
					t.Fatalf("%v %s: element %d = %g", tc.typ, name, i, v)
				}
			}
		}
	}
}

// TestIQ1Imatrix checks that the importance matrix steers both encoders:
// weighting half the columns 100 times more changes the bytes and lowers
// the error on those columns.
func TestIQ1Imatrix(t *testing.T) {
	const cols = 512
	x := iq1Normal(2, 32*cols)
	flat := slices.Repeat([]float32{1}, cols)
	heavy := slices.Clone(flat)
	for i := 0; i < cols; i += 2 {
		heavy[i] = 100
	}
	heavyErr := func(y []float32) float64 {
		var se float64
		for i := 0; i < len(x); i += 2 {
			d := float64(y[i] - x[i])
			se += d * d
		}
		return se
	}
	for _, typ := range []tensor.Type{tensor.IQ1_S, tensor.IQ1_M} {
		qFlat, yFlat := iq1Encode(t, typ, x, flat)
		qHeavy, yHeavy := iq1Encode(t, typ, x, heavy)
		if bytes.Equal(qFlat, qHeavy) {
			t.Errorf("%v: the importance matrix does not change the encoding", typ)
		}
		if a, b := heavyErr(yHeavy), heavyErr(yFlat); a >= 0.9*b {
			t.Errorf("%v: error on the weighted columns %.4g, not below %.4g without weighting", typ, a, b)
		}
	}
}

// TestIQ1SNeedsImatrix checks that IQ1_S, as in llama.cpp, is quantized
// only with an importance matrix, and IQ1_M either way.
func TestIQ1SNeedsImatrix(t *testing.T) {
	x := iq1Normal(3, qkK)
	err := Quantize(tensor.IQ1_S, x, make([]byte, blockIQ1S))
	if err == nil || !strings.Contains(err.Error(), "needs an importance matrix: missing quantization weights") {
		t.Errorf("IQ1_S without importance matrix: error %v", err)
	}
	if QuantizeSupported(tensor.IQ1_S) || !DequantizeSupported(tensor.IQ1_S) {
		t.Errorf("IQ1_S: QuantizeSupported %v, DequantizeSupported %v",
			QuantizeSupported(tensor.IQ1_S), DequantizeSupported(tensor.IQ1_S))
	}
	if !QuantizeSupported(tensor.IQ1_M) {
		t.Error("IQ1_M quantization without an importance matrix not supported")
	}
}

// TestIQ1DequantizeAllocs requires the decoders to run without allocating.
func TestIQ1DequantizeAllocs(t *testing.T) {
	for _, typ := range []tensor.Type{tensor.IQ1_S, tensor.IQ1_M} {
		q, _ := iq1Encode(t, typ, iq1Normal(4, 1024), slices.Repeat([]float32{1}, 1024))
		y := make([]float32, 1024)
		if n := testing.AllocsPerRun(10, func() { _ = Dequantize(typ, q, y) }); n != 0 {
			t.Errorf("%v: %v allocations per Dequantize", typ, n)
		}
	}
}
