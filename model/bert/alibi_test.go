package bert

import (
	"math"
	"testing"
)

// TestAlibiSlopes checks jina-bert-v2's ALiBi slopes against ggml's rule:
// for 8 heads 2^−1 … 2^−8; for 12 heads the first 8 as for 8, then the
// odd powers of 2^−0.5.
func TestAlibiSlopes(t *testing.T) {
	for _, tc := range []struct {
		heads int
		want  []float64
	}{
		{8, []float64{0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625}},
		{12, []float64{0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625,
			math.Pow(2, -0.5), math.Pow(2, -1.5), math.Pow(2, -2.5), math.Pow(2, -3.5)}},
	} {
		got := alibiSlopes(tc.heads, alibiMaxBias)
		for h, w := range tc.want {
			if math.Abs(float64(got[h])-w) > 1e-6*w { // float32 powers of a float32 base
				t.Errorf("%d heads: slope of head %d is %v, want %v", tc.heads, h, got[h], w)
			}
		}
	}
}
