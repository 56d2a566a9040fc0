package quant_test

import (
	"testing"

	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// benchTypes are the supported types, cheapest encodings last.
var benchTypes = []tensor.Type{
	tensor.F32, tensor.F16, tensor.BF16, tensor.Q8_0, tensor.Q8_K, tensor.Q6_K,
	tensor.Q5_0, tensor.Q5_1, tensor.Q5_K, tensor.Q4_0, tensor.Q4_1, tensor.Q4_K,
	tensor.IQ4_NL, tensor.IQ4_XS, tensor.Q3_K, tensor.Q2_K,
}

// BenchmarkDequantize decodes 64Ki elements (a few weight rows). SetBytes
// counts the float32 output, so MB/s compares types directly: divide by 4
// for elements per microsecond.
func BenchmarkDequantize(b *testing.B) {
	const n = 1 << 16
	x := randomWeights(3, n)
	for _, typ := range benchTypes {
		b.Run(typ.String(), func(b *testing.B) {
			q, _ := roundTrip(b, typ, x)
			y := make([]float32, n)
			b.SetBytes(4 * n)
			for b.Loop() {
				if err := quant.Dequantize(typ, q, y); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkQuantize encodes 64Ki elements; SetBytes counts the float32 input.
func BenchmarkQuantize(b *testing.B) {
	const n = 1 << 16
	x := randomWeights(4, n)
	for _, typ := range benchTypes {
		b.Run(typ.String(), func(b *testing.B) {
			q, _ := roundTrip(b, typ, x)
			b.SetBytes(4 * n)
			for b.Loop() {
				if err := quant.Quantize(typ, x, q); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
