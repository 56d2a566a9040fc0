package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// directRope rotates one head in float64 straight from the definition:
// pair i (elements 2i, 2i+1, or i, i+d/2 for NeoX) by the angle
// pos·base^(-2i/d)/factor_i·freqScale, YaRN-blended where configured.
func directRope(x []float32, r *Rope, pos int) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	scale := float64(r.FreqScale)
	if scale == 0 {
		scale = 1
	}
	mag := float64(r.AttnFactor)
	if mag == 0 {
		mag = 1
	}
	var low, high float64
	if r.ExtFactor != 0 {
		corr := func(beta float64) float64 {
			return float64(r.Dims) * math.Log(float64(r.OrigCtx)/(beta*2*math.Pi)) / (2 * math.Log(float64(r.Base)))
		}
		low = math.Max(0, math.Floor(corr(float64(r.BetaFast))))
		high = math.Min(float64(r.Dims-1), math.Ceil(corr(float64(r.BetaSlow))))
		mag *= 1 + 0.1*math.Log(1/scale)
	}
	for i := 0; i < r.Dims/2; i++ {
		extrap := float64(pos) * math.Pow(float64(r.Base), -2*float64(i)/float64(r.Dims))
		if r.Factors != nil {
			extrap /= float64(r.Factors[i])
		}
		theta := extrap * scale
		if r.ExtFactor != 0 {
			y := (float64(i) - low) / math.Max(0.001, high-low)
			mix := (1 - math.Min(1, math.Max(0, y))) * float64(r.ExtFactor)
			theta = theta*(1-mix) + extrap*mix
		}
		a, b := 2*i, 2*i+1
		if r.NeoX {
			a, b = i, i+r.Dims/2
		}
		c, s := math.Cos(theta)*mag, math.Sin(theta)*mag
		out[a], out[b] = float64(x[a])*c-float64(x[b])*s, float64(x[a])*s+float64(x[b])*c
	}
	return out
}

func TestRope(t *testing.T) {
	cases := []struct {
		name    string
		r       Rope
		headDim int
	}{
		{"normal", Rope{Dims: 64, Base: 10000}, 64},
		{"neox", Rope{Dims: 64, Base: 10000, NeoX: true}, 64},
		{"partial normal", Rope{Dims: 16, Base: 10000}, 24},
		{"partial neox", Rope{Dims: 16, Base: 10000, NeoX: true}, 24},
		{"base 500000", Rope{Dims: 128, Base: 500000}, 128},
		{"linear", Rope{Dims: 32, Base: 10000, FreqScale: 0.25}, 32},
		{"factors", Rope{Dims: 8, Base: 10000, Factors: []float32{1, 1.5, 4, 8}}, 8},
		{"yarn", Rope{Dims: 64, Base: 10000, FreqScale: 0.125, ExtFactor: 1, AttnFactor: 1, BetaFast: 32, BetaSlow: 1, OrigCtx: 512}, 64},
		{"yarn neox attn", Rope{Dims: 32, Base: 1e6, FreqScale: 0.25, ExtFactor: 1, AttnFactor: 0.9, BetaFast: 32, BetaSlow: 1, OrigCtx: 4096, NeoX: true}, 32},
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.r.Validate(); err != nil {
				t.Fatal(err)
			}
			const heads = 3
			cs := make([]float32, tc.r.Dims)
			worst := 0.0
			defer func() { t.Logf("worst error/tol %.3g", worst) }()
			for _, pos := range []int{0, 1, 7, 100, 1000, 30000} {
				x := randVec(rng, heads*tc.headDim, 1)
				got := append([]float32(nil), x...)
				tc.r.Table(cs, pos)
				tc.r.Apply(got, heads, tc.headDim, cs)
				// The angle is pos times a product of float32 factors,
				// so its error grows with pos: allow a few ulps of it.
				tol := 2e-6 + 4e-7*float64(pos)*float64(tc.r.Dims)/64
				for h := 0; h < heads; h++ {
					want := directRope(x[h*tc.headDim:(h+1)*tc.headDim], &tc.r, pos)
					for i, w := range want {
						g := float64(got[h*tc.headDim+i])
						if i >= tc.r.Dims && g != w {
							t.Fatalf("pos %d head %d: element %d past the rotated dims changed", pos, h, i)
						}
						worst = max(worst, math.Abs(g-w)/tol)
						if math.Abs(g-w) > tol {
							t.Fatalf("pos %d head %d element %d: %v, want %v (tol %.2g)", pos, h, i, g, w, tol)
						}
					}
				}
			}
		})
	}
}

func TestRopeValidate(t *testing.T) {
	bad := []Rope{
		{Dims: 0, Base: 10000},
		{Dims: 7, Base: 10000},
		{Dims: 8, Base: 0},
		{Dims: 8, Base: float32(math.NaN())},
		{Dims: 8, Base: 10000, FreqScale: -1},
		{Dims: 8, Base: 10000, Factors: []float32{1, 2}},
		{Dims: 8, Base: 10000, ExtFactor: 1},
	}
	for _, r := range bad {
		if r.Validate() == nil {
			t.Errorf("%+v accepted", r)
		}
	}
}
