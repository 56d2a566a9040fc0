package quant_test

import (
	"math"
	"testing"

	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// TestMXFP4ScaleCodebook checks the exported pieces a dot kernel builds on
// against Dequantize for every scale byte and code, and the scale's edge
// values: the subnormals 2^-128 and 2^-127 for bytes 0 and 1, and 2^127
// (not NaN) for 255.
func TestMXFP4ScaleCodebook(t *testing.T) {
	want := map[uint8]float64{0: 0x1p-128, 1: 0x1p-127, 2: 0x1p-126, 127: 0.5, 128: 1, 255: 0x1p127}
	for e, w := range want {
		if got := quant.MXFP4Scale(e); float64(got) != w {
			t.Errorf("MXFP4Scale(%d) = %g, want %g", e, got, w)
		}
	}
	cb := quant.MXFP4Codebook()
	if cb != [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12} {
		t.Errorf("MXFP4Codebook() = %v", cb)
	}
	block := make([]byte, 17)
	y := make([]float32, 32)
	for e := 0; e < 256; e++ {
		block[0] = byte(e)
		for j := 0; j < 16; j++ {
			block[1+j] = byte(j) | byte(15-j)<<4
		}
		if err := quant.Dequantize(tensor.MXFP4, block, y); err != nil {
			t.Fatal(err)
		}
		s := quant.MXFP4Scale(byte(e))
		for j := 0; j < 16; j++ {
			lo, hi := float32(cb[j])*s, float32(cb[15-j])*s
			if math.Float32bits(y[j]) != math.Float32bits(lo) || math.Float32bits(y[j+16]) != math.Float32bits(hi) {
				t.Fatalf("e=%d j=%d: Dequantize gives %g, %g; codebook·scale %g, %g", e, j, y[j], y[j+16], lo, hi)
			}
		}
	}
}

// TestMXFP4ExponentNearPowersOfTwo pins down the scale byte for a block
// maximum just below each power of two 2^k. llama.cpp takes
// floor(log2f(amax)), and a correctly rounded log2f returns k itself for
// the n largest floats below 2^k whose logarithm lies within half a float32
// spacing of k; log2(2^k·(1-n·2^-24)) ≈ k - n·2^-24/ln 2, so that n is
// floor(ln 2 · h · 2^24) for the half spacing h below k. Those blocks get
// the byte of 2^k, k+125 (modulo 256), the next float down that of 2^(k-1).
func TestMXFP4ExponentNearPowersOfTwo(t *testing.T) {
	x := make([]float32, 32)
	b := make([]byte, 17)
	scaleByte := func(v float32) byte {
		x[5] = v
		if err := quant.Quantize(tensor.MXFP4, x, b); err != nil {
			t.Fatal(err)
		}
		return b[0]
	}
	for k := -125; k <= 128; k++ {
		kf := float32(k)
		h := float64(kf-math.Nextafter32(kf, float32(math.Inf(-1)))) / 2
		if k < 0 {
			h = float64(math.Nextafter32(-kf, float32(math.Inf(1)))+kf) / 2
		}
		n := uint32(math.Floor(math.Ln2 * h * (1 << 24)))
		top := uint32(k+127) << 23 // the bits of 2^k (+Inf for k = 128)
		if k < 128 {
			if got, want := scaleByte(math.Float32frombits(top)), byte(k+125); got != want {
				t.Errorf("amax 2^%d: scale byte %d, want %d", k, got, want)
			}
		}
		if n > 0 {
			v := math.Float32frombits(top - n)
			if got, want := scaleByte(v), byte(k+125); got != want {
				t.Errorf("amax %g (2^%d less %d steps): scale byte %d, want %d", v, k, n, got, want)
			}
		}
		v := math.Float32frombits(top - n - 1)
		if got, want := scaleByte(v), byte(k+124); got != want {
			t.Errorf("amax %g (2^%d less %d steps): scale byte %d, want %d", v, k, n+1, got, want)
		}
	}
}

// BenchmarkDequantMXFP4 decodes 2880×32 elements (32 rows of a gpt-oss
// expert matrix); SetBytes counts the float32 output.
func BenchmarkDequantMXFP4(b *testing.B) {
	const n = 2880 * 32
	q, _ := roundTrip(b, tensor.MXFP4, randomWeights(5, n))
	y := make([]float32, n)
	b.SetBytes(4 * n)
	for b.Loop() {
		if err := quant.Dequantize(tensor.MXFP4, q, y); err != nil {
			b.Fatal(err)
		}
	}
}
