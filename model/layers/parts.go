package layers

import (
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/kernels"
)

// SplitRows returns views of consecutive row ranges of m, one per entry of
// rows, which must add up to m.Rows. A fused projection (attn_qkv: query,
// key and value stacked; Phi-3's ffn_up: gate then up) becomes matrices of
// its own this way: each output row of a matrix product is the dot product
// of one weight row with the input, so the parts compute exactly what the
// fused matrix does, without copying weights or splitting outputs.
func SplitRows(m *kernels.Matrix, rows ...int) ([]*kernels.Matrix, error) {
	total := 0
	for _, r := range rows {
		if r <= 0 {
			return nil, fmt.Errorf("layers: split of %d rows into %v", m.Rows, rows)
		}
		total += r
	}
	if total != m.Rows {
		return nil, fmt.Errorf("layers: split of %d rows into %v", m.Rows, rows)
	}
	parts := make([]*kernels.Matrix, len(rows))
	lo := 0
	for i, r := range rows {
		p, err := m.Slice(lo, r)
		if err != nil {
			return nil, err
		}
		parts[i] = p
		lo += r
	}
	return parts, nil
}

// SplitLinear splits a fused projection and its bias, if any, into
// consecutive parts of the given output sizes (see [SplitRows]).
func SplitLinear(l Linear, rows ...int) ([]Linear, error) {
	ws, err := SplitRows(l.W, rows...)
	if err != nil {
		return nil, err
	}
	if l.B != nil && len(l.B) != l.W.Rows {
		return nil, fmt.Errorf("layers: bias of %d for %d rows", len(l.B), l.W.Rows)
	}
	parts := make([]Linear, len(rows))
	lo := 0
	for i, w := range ws {
		parts[i].W = w
		if l.B != nil {
			parts[i].B = l.B[lo : lo+w.Rows : lo+w.Rows]
		}
		lo += w.Rows
	}
	return parts, nil
}

// HeadRMSNorm normalises every head of the n rows of x in place: each row
// holds heads runs of len(w) elements, and each run is RMS-normalised and
// scaled by w on its own (Qwen3's attn_q_norm and attn_k_norm).
func HeadRMSNorm(x, w []float32, eps float32, heads, n int) {
	RMSNorm(x, x, w, eps, heads*n)
}

// RopeScaling is a model's rope.* metadata as stored, before llama.cpp's
// rules turn it into a rotation.
type RopeScaling struct {
	// Type is rope.scaling.type: "none", "linear" (the default), "yarn", or
	// "longrope", which llama.cpp evaluates as linear scaling with the
	// frequency factors of separate tensors (Phi-3).
	Type string
	// Factor is rope.scaling.factor (or the older rope.scale_linear); 0
	// means no scaling.
	Factor float32
	// AttnFactor is rope.scaling.attn_factor, a multiplier of cos and sin
	// (Phi-3's LongRoPE magnitude correction); 0 means 1.
	AttnFactor float32
	// OrigCtx is rope.scaling.original_context_length; 0 means the trained
	// context.
	OrigCtx int
	// BetaFast and BetaSlow bound YaRN's correction range; 0 means
	// llama.cpp's defaults, 32 and 1.
	BetaFast, BetaSlow float32
	// LogMul is rope.scaling.yarn_log_multiplier (mscale_all_dim); when
	// set, YaRN's magnitude is get_mscale(f, 1)/get_mscale(f, LogMul) as
	// in llama.cpp instead of get_mscale(f, 1).
	LogMul float32
}

// NewRope resolves the rotation of dims dimensions per head with frequency
// base base for a model trained with context ctx, the way llama.cpp's
// llama_context does: the scaling factor becomes a frequency scale, YaRN
// gets its magnitude correction (with the one ggml applies inside the
// rotation cancelled), and the attention factor multiplies the result.
// Errors name the metadata key at fault, without the architecture.
func NewRope(dims int, neox bool, base float32, ctx int, s RopeScaling) (kernels.Rope, error) {
	finite := func(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }
	switch {
	case !(s.Factor >= 0) || !finite(s.Factor):
		return kernels.Rope{}, fmt.Errorf("rope.scaling.factor %v is not a non-negative number", s.Factor)
	case !(s.AttnFactor >= 0) || !finite(s.AttnFactor):
		return kernels.Rope{}, fmt.Errorf("rope.scaling.attn_factor %v is not a non-negative number", s.AttnFactor)
	case s.OrigCtx < 0:
		return kernels.Rope{}, fmt.Errorf("rope.scaling.original_context_length %d is negative", s.OrigCtx)
	case !(base > 0) || !finite(base):
		return kernels.Rope{}, fmt.Errorf("rope.freq_base %v is not a positive number", base)
	case dims <= 0 || dims%2 != 0:
		return kernels.Rope{}, fmt.Errorf("rope.dimension_count %d is not a positive even number", dims)
	}
	r := kernels.Rope{Dims: dims, NeoX: neox, Base: base, FreqScale: 1, AttnFactor: 1, BetaFast: 32, BetaSlow: 1}
	if s.BetaFast != 0 {
		r.BetaFast = s.BetaFast
	}
	if s.BetaSlow != 0 {
		r.BetaSlow = s.BetaSlow
	}
	if s.Factor != 0 {
		r.FreqScale = 1 / s.Factor
	}
	r.OrigCtx = s.OrigCtx
	if r.OrigCtx == 0 {
		r.OrigCtx = ctx
	}
	switch s.Type {
	case "", "linear", "longrope":
	case "none":
		r.FreqScale = 1
	case "yarn":
		r.ExtFactor = 1
		// llama.cpp's magnitude 1+0.1·ln f (1 when f <= 1), divided by the
		// same correction that ggml's rope_yarn multiplies in again.
		f := 1 / r.FreqScale
		lnf := float32(math.Log(float64(f)))
		mscale := float32(1)
		if f > 1 {
			mscale = 0.1*lnf + 1
			if s.LogMul != 0 {
				mscale /= float32(0.1*s.LogMul)*lnf + 1
			}
		}
		r.AttnFactor = mscale * (1 / (1 + 0.1*lnf))
	default:
		return kernels.Rope{}, fmt.Errorf("rope.scaling.type %q is not supported", s.Type)
	}
	if s.AttnFactor != 0 {
		r.AttnFactor *= s.AttnFactor
	}
	if err := r.Validate(); err != nil {
		return kernels.Rope{}, err
	}
	return r, nil
}
