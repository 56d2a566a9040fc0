package quant_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// TestTernaryExact checks that weights already ternary (-a, 0, +a with a
// representable in fp16) survive TQ1_0 and TQ2_0 exactly. The trits are
// random over 64 blocks, so every one of the 243 five-trit bytes of TQ1_0
// occurs (each misses with odds of about e^-12), and every position of a
// block sees all three values.
func TestTernaryExact(t *testing.T) {
	const a = 0.375
	r := rand.New(rand.NewPCG(7, 11))
	x := make([]float32, 64*256)
	for i := range x {
		x[i] = float32(r.IntN(3)-1) * a
	}
	for _, typ := range []tensor.Type{tensor.TQ1_0, tensor.TQ2_0} {
		_, y := roundTrip(t, typ, x)
		for i := range x {
			if math.Float32bits(y[i]) != math.Float32bits(x[i]) {
				t.Fatalf("%v: element %d: %g became %g", typ, i, x[i], y[i])
			}
		}
	}
}

// BenchmarkDequantTernary decodes 64Ki elements of each ternary type;
// SetBytes counts the float32 output.
func BenchmarkDequantTernary(b *testing.B) {
	const n = 1 << 16
	x := randomWeights(6, n)
	for _, typ := range []tensor.Type{tensor.TQ1_0, tensor.TQ2_0} {
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
