package quant

import (
	"bytes"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/tensor"
)

var iq2Types = []tensor.Type{tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S}

// TestIQ2Tables checks the generated grids and the computed sign table, and
// that each decoder reads a crafted block (fp16 scale 8, sub-block scales 0,
// so a group scale of 1) as the grid points it names, with signs applied.
func TestIQ2Tables(t *testing.T) {
	for i, s := range signsWithParity {
		if int(s&127) != i || bits.OnesCount8(s)%2 != 0 {
			t.Fatalf("signsWithParity[%d] = %#x", i, s)
		}
	}
	grids := map[tensor.Type][]uint16{
		tensor.IQ2_XXS: iq2XXSGridPacked[:], tensor.IQ2_XS: iq2XSGridPacked[:], tensor.IQ2_S: iq2SGridPacked[:],
	}
	for _, typ := range iq2Types {
		packed := grids[typ]
		seen := map[uint16]bool{}
		for j, u := range packed {
			if seen[u] || u > 0xaaaa {
				t.Fatalf("%v point %d = %#x repeated or out of range", typ, j, u)
			}
			for i := 0; i < 8; i++ {
				if u>>(2*i)&3 == 3 {
					t.Fatalf("%v point %d = %#x has level 3", typ, j, u)
				}
			}
			seen[u] = true
		}
		if !seen[0] {
			t.Errorf("%v grid lacks the all-lowest point", typ)
		}

		// Group g of block b names point 32b+g, with a sign code (XXS,
		// XS) or mask (S) that varies with the point.
		rowSize := typ.TypeSize()
		raw := make([]byte, len(packed)/32*rowSize)
		want := make([]float32, len(packed)*8)
		levels := [3]float32{8, 25, 43}
		for j, u := range packed {
			b := raw[j/32*rowSize:]
			b[0], b[1] = 0x00, 0x48 // 8.0
			g := j % 32
			code := uint8(j*37) & 127
			var mask uint8
			switch typ {
			case tensor.IQ2_XXS:
				b[2+8*(g/4)+g%4] = byte(j)
				aux := uint32(code) << (7 * (g % 4))
				for k := 0; k < 4; k++ {
					b[6+8*(g/4)+k] |= byte(aux >> (8 * k))
				}
				mask = signsWithParity[code]
			case tensor.IQ2_XS:
				v := uint16(j) | uint16(code)<<9
				b[2+2*g], b[3+2*g] = byte(v), byte(v>>8)
				mask = signsWithParity[code]
			case tensor.IQ2_S:
				mask = uint8(j * 53)
				b[2+g] = byte(j)
				b[66+g/4] |= byte(j>>8) << (2 * (g % 4))
				b[34+g] = mask
			}
			for i := 0; i < 8; i++ {
				v := levels[u>>(2*i)&3]
				if mask>>i&1 != 0 {
					v = -v
				}
				want[8*j+i] = v
			}
		}
		got := make([]float32, len(want))
		if err := Dequantize(typ, raw, got); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%v element %d (point %d) = %g, want %g", typ, i, i/8, got[i], want[i])
			}
		}
	}
}

// TestIQ2Neighbours rebuilds every neighbour list by sorting all grid points
// by (distance, index), as ggml does, and compares.
func TestIQ2Neighbours(t *testing.T) {
	lattices := []struct {
		name  string
		lat   *iq2Lattice
		nwant int
	}{
		{"IQ2_XXS", iq2LatticeXXS(), 2}, {"IQ2_XS", iq2LatticeXS(), 2}, {"IQ2_S", iq2LatticeS(), 1},
	}
	step := 3 // a third of the vectors, every digit pattern still varying
	if testing.Short() {
		step = 31
	}
	for _, tc := range lattices {
		lat := tc.lat
		type cand struct{ d2, j int }
		cands := make([]cand, len(lat.levels))
		for v := 0; v < 6561; v += step {
			var u uint16
			var pos [8]int
			for i, t := 0, v; i < 8; i, t = i+1, t/3 {
				u |= uint16(t%3) << (2 * i)
				pos[i] = 2*(t%3) + 1
			}
			k := lat.index[u]
			if k >= 0 {
				if packLevels(lat.levels[k][:]) != u {
					t.Fatalf("%s: index[%#x] = %d, a different point", tc.name, u, k)
				}
				continue
			}
			for j, p := range lat.levels {
				d2 := 0
				for i := range p {
					e := 2*int(p[i]) + 1 - pos[i]
					d2 += e * e
				}
				cands[j] = cand{d2, j}
			}
			slices.SortFunc(cands, func(a, b cand) int {
				if a.d2 != b.d2 {
					return a.d2 - b.d2
				}
				return a.j - b.j
			})
			var want []uint16
			have := 1
			for i, c := range cands {
				if i > 0 && c.d2 > cands[i-1].d2 {
					if have == tc.nwant {
						break
					}
					have++
				}
				want = append(want, uint16(c.j))
			}
			o := int(-1 - k)
			got := lat.neighbours[o+1 : o+1+int(lat.neighbours[o])]
			if !slices.Equal(got, want) {
				t.Fatalf("%s: neighbours of %#x = %v, want %v", tc.name, u, got, want)
			}
		}
	}
}

// iq2Encode quantizes x (rows of len(imatrix)) as typ, under imatrix when
// it is not nil, and decodes the result.
func iq2Encode(t *testing.T, typ tensor.Type, x, imatrix []float32) ([]byte, []float32) {
	t.Helper()
	size, err := typ.RowSize(int64(len(x)))
	if err != nil {
		t.Fatal(err)
	}
	q := make([]byte, size)
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

func iq2Gaussian(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(0.05 * r.NormFloat64())
	}
	return x
}

// TestIQ2RoundTrip bounds the relative RMS error on Gaussian weights (about
// 1.3x what the encoders reach: IQ2_XXS .344, IQ2_XS .300, IQ2_S .249
// under a flat importance matrix, IQ2_S .247 without one) and checks
// degenerate rows. These formats have no zero level and only 4-bit
// sub-block scales, so (as in llama.cpp) zeros next to a spike decode to a
// fifth of it and constants are only roughly kept, IQ2_XXS's worst (its grid
// has no all-equal point above the lowest): what is required is that zero
// rows decode to zeros, nothing overflows, constants keep their sign and
// come within constTol, and a spike within 10%.
func TestIQ2RoundTrip(t *testing.T) {
	const cols = 1024
	x := iq2Gaussian(1, 64*cols)
	flat := make([]float32, cols)
	for i := range flat {
		flat[i] = 1
	}
	rel := func(x, y []float32) float64 {
		var se, ss float64
		for i := range x {
			d := float64(y[i] - x[i])
			se += d * d
			ss += float64(x[i]) * float64(x[i])
		}
		return math.Sqrt(se / ss)
	}
	tests := []struct {
		typ      tensor.Type
		imatrix  []float32
		max      float64
		constTol float64
	}{
		{tensor.IQ2_XXS, flat, 0.45, 0.75}, {tensor.IQ2_XS, flat, 0.39, 0.1},
		{tensor.IQ2_S, flat, 0.33, 0.1}, {tensor.IQ2_S, nil, 0.33, 0.1},
	}
	for _, tc := range tests {
		_, y := iq2Encode(t, tc.typ, x, tc.imatrix)
		if e := rel(x, y); e > tc.max {
			t.Errorf("%v (imatrix %v): relative RMS error %.4f > %.2f", tc.typ, tc.imatrix != nil, e, tc.max)
		}

		spike := make([]float32, cols)
		spike[7] = 100
		edge := map[string][]float32{
			"zeros": make([]float32, cols), "constant": slices.Repeat([]float32{0.5}, cols),
			"negative": slices.Repeat([]float32{-3}, cols), "tiny": slices.Repeat([]float32{1e-20}, cols),
			"spike": spike,
		}
		for name, in := range edge {
			_, y := iq2Encode(t, tc.typ, in, tc.imatrix)
			for i, v := range y {
				in := float64(in[i])
				d := math.Abs(float64(v) - in)
				bad := math.IsNaN(float64(v)) || math.IsInf(float64(v), 0)
				switch name {
				case "zeros":
					bad = bad || v != 0
				case "constant", "negative":
					bad = bad || d > tc.constTol*math.Abs(in)
				case "spike":
					bad = bad || in != 0 && d > 0.1*in
				}
				if bad {
					t.Fatalf("%v %s: element %d = %g, input %g", tc.typ, name, i, v, in)
				}
			}
		}
	}
}

// TestIQ2Imatrix checks that the importance matrix steers the encoders:
// weighting half the columns 100 times more changes the bytes and lowers
// the error on those columns.
func TestIQ2Imatrix(t *testing.T) {
	const cols = 512
	x := iq2Gaussian(2, 32*cols)
	flat := make([]float32, cols)
	heavy := make([]float32, cols)
	for i := range flat {
		flat[i] = 1
		heavy[i] = 1
		if i%2 == 0 {
			heavy[i] = 100
		}
	}
	heavyErr := func(y []float32) float64 {
		var se float64
		for i := 0; i < len(x); i += 2 {
			d := float64(y[i] - x[i])
			se += d * d
		}
		return se
	}
	for _, typ := range iq2Types {
		qFlat, yFlat := iq2Encode(t, typ, x, flat)
		qHeavy, yHeavy := iq2Encode(t, typ, x, heavy)
		if bytes.Equal(qFlat, qHeavy) {
			t.Errorf("%v: the importance matrix does not change the encoding", typ)
		}
		if a, b := heavyErr(yHeavy), heavyErr(yFlat); a >= 0.9*b {
			t.Errorf("%v: error on the weighted columns %.4g, not below %.4g without weighting", typ, a, b)
		}
	}
}

// TestIQ2NeedsImatrix checks that IQ2_XXS and IQ2_XS, like in llama.cpp,
// are only quantized with an importance matrix, while IQ2_S is either way.
func TestIQ2NeedsImatrix(t *testing.T) {
	x := iq2Gaussian(3, 256)
	for _, typ := range []tensor.Type{tensor.IQ2_XXS, tensor.IQ2_XS} {
		err := Quantize(typ, x, make([]byte, typ.TypeSize()))
		if err == nil || !strings.Contains(err.Error(), "needs an importance matrix: missing quantization weights") {
			t.Errorf("%v without importance matrix: error %v", typ, err)
		}
		if QuantizeSupported(typ) || !DequantizeSupported(typ) {
			t.Errorf("%v: QuantizeSupported %v, DequantizeSupported %v", typ, QuantizeSupported(typ), DequantizeSupported(typ))
		}
	}
	if !QuantizeSupported(tensor.IQ2_S) {
		t.Error("IQ2_S quantization without an importance matrix not supported")
	}
}

// TestIQ2DequantizeAllocs requires the decoders to run without allocating.
func TestIQ2DequantizeAllocs(t *testing.T) {
	for _, typ := range iq2Types {
		q, _ := iq2Encode(t, typ, iq2Gaussian(4, 1024), slices.Repeat([]float32{1}, 1024))
		y := make([]float32, 1024)
		if n := testing.AllocsPerRun(10, func() { _ = Dequantize(typ, q, y) }); n != 0 {
			t.Errorf("%v: %v allocations per Dequantize", typ, n)
		}
	}
}
