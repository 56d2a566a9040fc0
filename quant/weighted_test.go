package quant_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// weightedOlderTypes are the older codecs with an importance-matrix
// quantizer of their own (llama.cpp's quantize_row_*_impl).
var weightedOlderTypes = []tensor.Type{
	tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1,
	tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K,
	tensor.IQ4_NL, tensor.IQ4_XS,
}

// lognormalMatrix returns cols seeded importance weights exp(σ·N(0,1)),
// spread like activations' mean squares.
func lognormalMatrix(seed uint64, cols int, sigma float64) []float32 {
	r := rand.New(rand.NewPCG(seed, 0x5851f42d4c957f2d))
	im := make([]float32, cols)
	for i := range im {
		im[i] = float32(math.Exp(sigma * r.NormFloat64()))
	}
	return im
}

// TestWeightedOlderImprove checks that the importance matrix steers each
// older codec: the encoding changes, and the error weighted by that matrix
// falls below that of the encoding without it. (Byte-exactness with
// llama.cpp is TestGoldenQuantize's job; this catches a matrix that is read
// from the wrong columns or not at all, even where the golden data might
// happen to agree.)
func TestWeightedOlderImprove(t *testing.T) {
	const cols, rows = 1024, 16
	x := randomWeights(11, rows*cols)
	im := lognormalMatrix(12, cols, 2)
	for _, typ := range weightedOlderTypes {
		size, err := typ.RowSize(int64(len(x)))
		if err != nil {
			t.Fatal(err)
		}
		plain, weighted := make([]byte, size), make([]byte, size)
		if err := quant.Quantize(typ, x, plain); err != nil {
			t.Fatal(err)
		}
		if err := quant.QuantizeWeighted(typ, x, im, weighted); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(plain, weighted) {
			t.Errorf("%v: the importance matrix changed nothing", typ)
			continue
		}
		werr := func(q []byte) float64 {
			y := make([]float32, len(x))
			if err := quant.Dequantize(typ, q, y); err != nil {
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
		t.Logf("%v: imatrix-weighted error %.4g without the matrix, %.4g with it (%.0f%%)", typ, ep, ew, 100*ew/ep)
		if ew >= 0.8*ep {
			t.Errorf("%v: weighted error %.4g with the matrix, %.4g without", typ, ew, ep)
		}
	}
}

// TestWeightedRowsIndependent checks that QuantizeWeighted on several rows
// writes what it writes for each row alone, with the matrix applied to
// every row from its first column.
func TestWeightedRowsIndependent(t *testing.T) {
	const cols, rows = 512, 3
	x := randomWeights(13, rows*cols)
	im := lognormalMatrix(14, cols, 1.5)
	for _, typ := range weightedOlderTypes {
		rowSize, _ := typ.RowSize(cols)
		all := make([]byte, rows*int(rowSize))
		if err := quant.QuantizeWeighted(typ, x, im, all); err != nil {
			t.Fatal(err)
		}
		for r := 0; r < rows; r++ {
			one := make([]byte, rowSize)
			if err := quant.QuantizeWeighted(typ, x[r*cols:(r+1)*cols], im, one); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(one, all[r*int(rowSize):(r+1)*int(rowSize)]) {
				t.Errorf("%v: row %d differs when quantized alone", typ, r)
			}
		}
	}
}

// TestWeightedIgnored checks the types whose llama.cpp quantizer ignores an
// importance matrix (ggml_quantize_chunk converts F32, F16 and BF16 without
// looking at it; quantize_q8_0 discards it): they encode as without one.
// Q8_K, which ggml_quantize_chunk does not handle at all, is refused.
func TestWeightedIgnored(t *testing.T) {
	const cols = 256
	x := randomWeights(15, 2*cols)
	im := lognormalMatrix(16, cols, 1.5)
	for _, typ := range []tensor.Type{tensor.F32, tensor.F16, tensor.BF16, tensor.Q8_0} {
		size, _ := typ.RowSize(int64(len(x)))
		plain, weighted := make([]byte, size), make([]byte, size)
		if err := quant.Quantize(typ, x, plain); err != nil {
			t.Fatal(err)
		}
		if err := quant.QuantizeWeighted(typ, x, im, weighted); err != nil {
			t.Fatalf("%v: %v", typ, err)
		}
		if !bytes.Equal(plain, weighted) {
			t.Errorf("%v: the importance matrix changed the encoding", typ)
		}
	}
	err := quant.QuantizeWeighted(tensor.Q8_K, x, im, make([]byte, 2*292))
	want := "quant: quantize: type Q8_K with an importance matrix not supported"
	if err == nil || err.Error() != want {
		t.Errorf("Q8_K: got error %v, want %q", err, want)
	}
}

// TestWeightedZeroMatrix quantizes under an all-zero importance matrix, which
// llama.cpp accepts (only non-finite entries are rejected): every search then
// sees zero weights everywhere. The golden data has zero columns but no
// all-zero matrix; here the result must at least decode to finite values.
func TestWeightedZeroMatrix(t *testing.T) {
	const cols = 512
	x := randomWeights(17, 2*cols)
	im := make([]float32, cols)
	for _, typ := range weightedOlderTypes {
		size, _ := typ.RowSize(int64(len(x)))
		q := make([]byte, size)
		if err := quant.QuantizeWeighted(typ, x, im, q); err != nil {
			t.Fatal(err)
		}
		y := make([]float32, len(x))
		if err := quant.Dequantize(typ, q, y); err != nil {
			t.Fatal(err)
		}
		for i, v := range y {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				t.Errorf("%v: element %d decodes to %v", typ, i, v)
				break
			}
		}
	}
}

// BenchmarkQuantizeWeighted encodes 64Ki elements (16 rows of 4096) under an
// importance matrix; compare with BenchmarkQuantize.
func BenchmarkQuantizeWeighted(b *testing.B) {
	const cols, n = 4096, 1 << 16
	x := randomWeights(4, n)
	im := lognormalMatrix(5, cols, 1.5)
	for _, typ := range weightedOlderTypes {
		b.Run(typ.String(), func(b *testing.B) {
			size, _ := typ.RowSize(n)
			q := make([]byte, size)
			b.SetBytes(4 * n)
			for b.Loop() {
				if err := quant.QuantizeWeighted(typ, x, im, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
