package quant

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/ondo-ai/ondo/tensor"
)

// iq3Normal returns n seeded normal values of standard deviation 0.05.
func iq3Normal(seed uint64, n int) []float32 {
	r := rand.New(rand.NewPCG(seed, 3))
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(0.05 * r.NormFloat64())
	}
	return x
}

// TestIQ3Tables checks the generated grids for what the recovery promises
// and the codecs rely on: eight increasing levels (IQ3_S's are the odd
// numbers 1..15), distinct points listed in increasing code order (as
// llama.cpp lists them), and the all-lowest point at index 0, which the
// quantizers store for a group with no usable fit.
func TestIQ3Tables(t *testing.T) {
	for _, tc := range []struct {
		name   string
		levels *[8]uint8
		codes  []uint16
	}{
		{"IQ3_XXS", &iq3xxsLevels, iq3xxsCodes[:]},
		{"IQ3_S", &iq3sLevels, iq3sCodes[:]},
	} {
		for l := 1; l < 8; l++ {
			if tc.levels[l] <= tc.levels[l-1] {
				t.Errorf("%s: levels %v not increasing", tc.name, *tc.levels)
			}
		}
		if tc.codes[0] != 0 {
			t.Errorf("%s: point 0 has code %d, want 0", tc.name, tc.codes[0])
		}
		for p := 1; p < len(tc.codes); p++ {
			if tc.codes[p] <= tc.codes[p-1] || tc.codes[p] >= 4096 {
				t.Errorf("%s: code %d of point %d out of order", tc.name, tc.codes[p], p)
			}
		}
	}
	if iq3sLevels != [8]uint8{1, 3, 5, 7, 9, 11, 13, 15} {
		t.Errorf("IQ3_S levels %v, want the odd numbers 1..15", iq3sLevels)
	}
}

// TestIQ3Neighbours checks the quantizers' lookup tables against a brute
// force search: every code maps to its grid index or is off the grid, and
// an off-grid code's candidates are exactly the points at its nwant nearest
// distinct distances, by distance and then index.
func TestIQ3Neighbours(t *testing.T) {
	for _, s := range []*iq3Search{iq3xxsSearch, iq3sSearch} {
		tab := s.get()
		onGrid := 0
		for u := 0; u < 4096; u++ {
			if p := tab.index[u]; p >= 0 {
				onGrid++
				if int(tab.codes[p]) != u {
					t.Fatalf("grid %d: code %d maps to point %d (code %d)", len(tab.codes), u, p, tab.codes[p])
				}
				continue
			}
			type cand struct{ d2, p int }
			var all []cand
			for p, c := range tab.codes {
				d2 := 0
				for i := 0; i < 4; i++ {
					d := int(c>>(3*i)&7) - int(u>>(3*i)&7)
					d2 += d * d
				}
				all = append(all, cand{d2, p})
			}
			// Stable order by distance keeps indices increasing.
			slices.SortStableFunc(all, func(a, b cand) int { return a.d2 - b.d2 })
			var want []uint16
			distinct := 0
			for i, c := range all {
				if i == 0 || c.d2 != all[i-1].d2 {
					if distinct == tab.nwant {
						break
					}
					distinct++
				}
				want = append(want, uint16(c.p))
			}
			got := tab.near[u]
			if len(got) != len(want) || !bytes.Equal(u16Bytes(got), u16Bytes(want)) {
				t.Fatalf("grid %d, code %d: candidates %v, want %v", len(tab.codes), u, got, want)
			}
		}
		if onGrid != len(tab.codes) {
			t.Errorf("grid %d: %d codes on the grid", len(tab.codes), onGrid)
		}
	}
}

func u16Bytes(v []uint16) []byte {
	b := make([]byte, 0, 2*len(v))
	for _, x := range v {
		b = append(b, byte(x), byte(x>>8))
	}
	return b
}

// TestIQ3RoundTrip bounds the reconstruction error on normal weights
// (measured: IQ3_XXS rel RMSE 0.2145, IQ3_S 0.1675; the bounds leave a
// margin of about 1.2x) and checks that the decoded values are finite.
func TestIQ3RoundTrip(t *testing.T) {
	x := iq3Normal(1, 64*256)
	var sum2 float64
	for _, v := range x {
		sum2 += float64(v) * float64(v)
	}
	rms := math.Sqrt(sum2 / float64(len(x)))
	for _, tc := range []struct {
		typ     tensor.Type
		maxRMSE float64
	}{
		{tensor.IQ3_XXS, 0.26},
		{tensor.IQ3_S, 0.2},
	} {
		q := make([]byte, len(x)/256*tc.typ.TypeSize())
		if err := Quantize(tc.typ, x, q); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(x))
		if err := Dequantize(tc.typ, q, y); err != nil {
			t.Fatal(err)
		}
		var se float64
		for i := range x {
			d := float64(y[i]) - float64(x[i])
			if math.IsNaN(d) || math.IsInf(d, 0) {
				t.Fatalf("%v: element %d decodes to %g", tc.typ, i, y[i])
			}
			se += d * d
		}
		rel := math.Sqrt(se/float64(len(x))) / rms
		t.Logf("%v: rel RMSE %.4f", tc.typ, rel)
		if rel > tc.maxRMSE {
			t.Errorf("%v: rel RMSE %.4f, limit %.2f", tc.typ, rel, tc.maxRMSE)
		}
	}
}

// TestIQ3Imatrix checks that an importance matrix steers the encoding: the
// bytes change, and the error weighted by that matrix drops below the
// unweighted encoding's.
func TestIQ3Imatrix(t *testing.T) {
	const cols = 1024
	x := iq3Normal(2, 32*cols)
	r := rand.New(rand.NewPCG(5, 6))
	im := make([]float32, cols)
	for i := range im {
		im[i] = float32(math.Exp(2 * r.NormFloat64()))
	}
	for _, typ := range []tensor.Type{tensor.IQ3_XXS, tensor.IQ3_S} {
		n := len(x) / 256 * typ.TypeSize()
		plain, weighted := make([]byte, n), make([]byte, n)
		if err := Quantize(typ, x, plain); err != nil {
			t.Fatal(err)
		}
		if err := QuantizeWeighted(typ, x, im, weighted); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(plain, weighted) {
			t.Fatalf("%v: the importance matrix changed nothing", typ)
		}
		werr := func(q []byte) float64 {
			y := make([]float32, len(x))
			if err := Dequantize(typ, q, y); err != nil {
				t.Fatal(err)
			}
			var e float64
			for i := range x {
				d := float64(y[i]) - float64(x[i])
				e += float64(im[i%cols]) * d * d
			}
			return e
		}
		ep, ew := werr(plain), werr(weighted)
		t.Logf("%v: imatrix-weighted error %.4g without the matrix, %.4g with it", typ, ep, ew)
		if ew >= 0.9*ep {
			t.Errorf("%v: weighted error %.4g with the matrix, %.4g without", typ, ew, ep)
		}
	}
}

// TestIQ3SZeroGroup pins a quirk of llama.cpp's IQ3_S encoder that the
// golden data confirms: an all-zero group of 32 does not advance the qs and
// signs positions, so the next group's indices land in the zero group's
// slots and the last group's slots stay empty, while qh keeps each group's
// ninth bits in place.
func TestIQ3SZeroGroup(t *testing.T) {
	x := iq3Normal(3, 256)
	for i := 0; i < 32; i++ {
		x[i] = 0
	}
	q := make([]byte, blockIQ3S)
	if err := Quantize(tensor.IQ3_S, x, q); err != nil {
		t.Fatal(err)
	}
	// Group 1 on its own in its usual place, for comparison.
	y := make([]float32, 256)
	copy(y[32:64], x[32:64])
	q1 := make([]byte, blockIQ3S)
	if err := Quantize(tensor.IQ3_S, y, q1); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(q[2:10], q1[2:10]) || !bytes.Equal(q[74:78], q1[74:78]) {
		t.Errorf("group 1 not stored in group 0's slots:\n% x\n% x", q[2:10], q1[2:10])
	}
	if !bytes.Equal(q[58:66], make([]byte, 8)) || !bytes.Equal(q[102:106], make([]byte, 4)) {
		t.Errorf("last group's slots not empty: % x | % x", q[58:66], q[102:106])
	}
}

// BenchmarkIQ3 times both directions on 64Ki elements; SetBytes counts the
// float32 side.
func BenchmarkIQ3(b *testing.B) {
	const n = 1 << 16
	x := iq3Normal(4, n)
	for _, typ := range []tensor.Type{tensor.IQ3_XXS, tensor.IQ3_S} {
		q := make([]byte, n/256*typ.TypeSize())
		y := make([]float32, n)
		b.Run(typ.String()+"/dequantize", func(b *testing.B) {
			if err := Quantize(typ, x, q); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(4 * n)
			b.ReportAllocs()
			for b.Loop() {
				if err := Dequantize(typ, q, y); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(typ.String()+"/quantize", func(b *testing.B) {
			b.SetBytes(4 * n)
			b.ReportAllocs()
			for b.Loop() {
				if err := Quantize(typ, x, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
