package layers

import (
	"math"
	"testing"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/tensor"
)

func TestLinearAndNorm(t *testing.T) {
	w, _ := kernels.NewMatrix(tensor.F32, 2, 3, f32bytes([]float32{1, 2, 3, 4, 5, 6}))
	l := Linear{W: w, B: []float32{10, 20}}
	dst := make([]float32, 4)
	l.Forward(nil, dst, []float32{1, 0, 0, 0, 1, 1}, 2)
	if want := []float32{11, 24, 15, 31}; !equal(dst, want) {
		t.Errorf("Linear = %v, want %v", dst, want)
	}
	x := []float32{3, 4, 0, 5}
	RMSNorm(x, x, []float32{1, 2}, 0, 2)
	s := float32(1 / math.Sqrt(12.5))
	if want := []float32{3 * s, 8 * s, 0, 2 * float32(1/math.Sqrt(12.5)) * 5}; !equal(x, want) {
		t.Errorf("RMSNorm = %v, want %v", x, want)
	}
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		u := math.Float32bits(x)
		b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(u), byte(u>>8), byte(u>>16), byte(u>>24)
	}
	return b
}

func equal(a, b []float32) bool {
	for i := range a {
		if math.Abs(float64(a[i]-b[i])) > 1e-6 {
			return false
		}
	}
	return len(a) == len(b)
}
