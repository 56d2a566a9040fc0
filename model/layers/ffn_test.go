package layers

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/quant"
)

// gelu64 is the tanh approximation of GELU in float64.
func gelu64(x float64) float64 {
	return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*x*(1+0.044715*x*x)))
}

func roundFP16(x float64) float32 { return quant.FP16ToFloat32(quant.Float32ToFP16(float32(x))) }

// gelu32 is ggml_gelu_f32 transcribed: its float32 operations in C order.
func gelu32(x float32) float32 {
	a := float32(0.044715) * x
	inner := float32(1 + float32(a*x))
	arg := float32(float32(0.7978845608028654)*x) * inner
	t := float32(math.Tanh(float64(arg)))
	return float32(float32(0.5)*x) * float32(1+t)
}

// TestGELU checks GELU against ggml's definition: for every fp16 input, the
// fp16 rounding of ggml_gelu_f32 (its table), 0 at or below −10 and the
// input at or above 10; and that this stays within an fp16 step of the
// float64 function, except in the far negative tail, where float32's
// 1 + tanh cancels, as it does in ggml.
func TestGELU(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		x := quant.FP16ToFloat32(uint16(h))
		if math.IsNaN(float64(x)) {
			continue
		}
		got := GELU(x)
		var want float32
		switch {
		case x <= -10:
			want = 0
		case x >= 10:
			want = x
		default:
			want = roundFP16(float64(gelu32(x)))
		}
		if got != want {
			t.Fatalf("GELU(%v) = %v, want %v", x, got, want)
		}
		exact := gelu64(float64(x))
		if x > -10 && x < 10 && math.Abs(float64(got)-exact) > max(1e-3*math.Abs(exact), 1e-6) {
			t.Errorf("GELU(%v) = %v, float64 %v", x, got, exact)
		}
	}
	// Between fp16 values, the input is rounded to fp16 first.
	r := rand.New(rand.NewPCG(2, 2))
	for i := 0; i < 10000; i++ {
		x := float32(r.NormFloat64() * 4)
		if got, want := GELU(x), GELU(roundFP16(float64(x))); got != want && x > -10 && x < 10 {
			t.Fatalf("GELU(%v) = %v, GELU(fp16) = %v", x, got, want)
		}
	}
	for _, c := range []struct{ x, want float32 }{{-10, 0}, {-1e6, 0}, {10, 10}, {123.5, 123.5}, {0, 0}} {
		if got := GELU(c.x); got != c.want {
			t.Errorf("GELU(%v) = %v, want %v", c.x, got, c.want)
		}
	}
}

func BenchmarkGELU(b *testing.B) {
	x := make([]float32, 4096)
	for i := range x {
		x[i] = float32(i%200-100) * 0.07
	}
	b.ReportAllocs()
	b.SetBytes(int64(4 * len(x)))
	for b.Loop() {
		for i, v := range x {
			x[i] = GELU(v) + v*0
		}
	}
}
