package kernels

import (
	"fmt"
	"math"
)

// Rope describes a rotary position embedding with ggml's parameters
// (ggml_rope_ext). Pair i of a head (i < Dims/2) is rotated by the angle
// pos · Base^(-2i/Dims), adjusted by linear scaling, YaRN and per-frequency
// factors as configured. Dimensions past Dims are left alone.
type Rope struct {
	// Dims is the number of rotated dimensions per head (n_rot), even.
	Dims int
	// NeoX selects the pairing: false rotates adjacent elements (2i, 2i+1),
	// llama's "normal" layout; true rotates (i, i+Dims/2), the GPT-NeoX
	// layout Qwen, Gemma and Phi-3 use.
	NeoX bool
	// Base is the frequency base (rope.freq_base, default 10000).
	Base float32
	// FreqScale multiplies every angle: 1/factor for linear and YaRN
	// scaling; 0 means 1.
	FreqScale float32
	// ExtFactor is YaRN's extrapolation mix: 0 disables YaRN, 1 is full.
	ExtFactor float32
	// AttnFactor scales cos and sin (YaRN's magnitude correction); 0 means 1.
	AttnFactor float32
	// BetaFast and BetaSlow bound YaRN's correction range (32 and 1 in
	// llama.cpp).
	BetaFast, BetaSlow float32
	// OrigCtx is the context length the model was trained with, for YaRN.
	OrigCtx int
	// Factors, when non-nil, divides the base angle of pair i by Factors[i]
	// (Llama 3.1's rope_freqs tensor); it needs Dims/2 entries.
	Factors []float32
}

// Validate reports parameters the rotation cannot use.
func (r *Rope) Validate() error {
	switch {
	case r.Dims <= 0 || r.Dims%2 != 0:
		return fmt.Errorf("rope: dimension count %d is not a positive even number", r.Dims)
	case !(r.Base > 0) || math.IsInf(float64(r.Base), 0):
		return fmt.Errorf("rope: frequency base %v is not a positive number", r.Base)
	case r.FreqScale < 0 || r.FreqScale != r.FreqScale:
		return fmt.Errorf("rope: frequency scale %v is negative", r.FreqScale)
	case r.Factors != nil && len(r.Factors) < r.Dims/2:
		return fmt.Errorf("rope: %d frequency factors for %d dimensions, want %d", len(r.Factors), r.Dims, r.Dims/2)
	case r.ExtFactor != 0 && r.OrigCtx <= 0:
		return fmt.Errorf("rope: YaRN needs the original context length, got %d", r.OrigCtx)
	}
	return nil
}

// Table writes the cos/sin pairs for position pos into cs[0:Dims]:
// cs[2i] = cos θᵢ and cs[2i+1] = sin θᵢ, both times the magnitude scale.
// Computing it once per token serves every head of q and k.
//
// The float32 steps are ggml's rope_cache_init and rope_yarn: the angle
// starts at pos and is multiplied by Base^(-2/Dims) once per pair.
func (r *Rope) Table(cs []float32, pos int) {
	cs = cs[:r.Dims]
	freqScale := r.FreqScale
	if freqScale == 0 {
		freqScale = 1
	}
	mscale := r.AttnFactor
	if mscale == 0 {
		mscale = 1
	}
	thetaScale := powf(r.Base, -2/float32(r.Dims))
	var corr [2]float32
	if r.ExtFactor != 0 {
		corr = yarnCorrDims(r.Dims, r.OrigCtx, r.Base, r.BetaFast, r.BetaSlow)
		mscale *= 1 + 0.1*logf(1/freqScale)
	}
	theta := float32(pos)
	for i0 := 0; i0 < r.Dims; i0 += 2 {
		extrap := theta
		if r.Factors != nil {
			extrap = theta / r.Factors[i0/2]
		}
		t := freqScale * extrap
		if r.ExtFactor != 0 {
			mix := yarnRamp(corr[0], corr[1], i0) * r.ExtFactor
			t = float32(t*(1-mix)) + float32(extrap*mix)
		}
		cs[i0] = float32(math.Cos(float64(t))) * mscale
		cs[i0+1] = float32(math.Sin(float64(t))) * mscale
		theta *= thetaScale
	}
}

// Apply rotates each of the heads of x (consecutive runs of headDim
// elements) by the angles in cs, a table from [Rope.Table].
func (r *Rope) Apply(x []float32, heads, headDim int, cs []float32) {
	n := r.Dims
	cs = cs[:n]
	for h := 0; h < heads; h++ {
		v := x[h*headDim : h*headDim+n]
		if r.NeoX {
			half := n / 2
			for i := 0; i < half; i++ {
				c, s := cs[2*i], cs[2*i+1]
				x0, x1 := v[i], v[i+half]
				v[i] = float32(x0*c) - float32(x1*s)
				v[i+half] = float32(x0*s) + float32(x1*c)
			}
			continue
		}
		for i := 0; i < n; i += 2 {
			c, s := cs[i], cs[i+1]
			x0, x1 := v[i], v[i+1]
			v[i] = float32(x0*c) - float32(x1*s)
			v[i+1] = float32(x0*s) + float32(x1*c)
		}
	}
}

// yarnRamp is ggml's rope_yarn_ramp: 1 below the correction range, 0 above
// it, linear between. i0/2 is an integer division, as in C.
func yarnRamp(low, high float32, i0 int) float32 {
	y := (float32(i0/2) - low) / max(0.001, high-low)
	return 1 - min(1, max(0, y))
}

// yarnCorrDims is ggml_rope_yarn_corr_dims: the first and last dimension
// YaRN interpolates between.
func yarnCorrDims(dims, origCtx int, base, betaFast, betaSlow float32) [2]float32 {
	corrDim := func(beta float32) float32 {
		return float32(dims) * logf(float32(origCtx)/(beta*2*float32(math.Pi))) / (2 * logf(base))
	}
	start := float32(math.Floor(float64(corrDim(betaFast))))
	end := float32(math.Ceil(float64(corrDim(betaSlow))))
	return [2]float32{max(0, start), min(float32(dims-1), end)}
}

func powf(x, y float32) float32 { return float32(math.Pow(float64(x), float64(y))) }
func logf(x float32) float32    { return float32(math.Log(float64(x))) }
