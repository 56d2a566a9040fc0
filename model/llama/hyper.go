package llama

import (
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
)

// Hyper holds the Llama hyperparameters, read from the llama.* metadata.
type Hyper struct {
	Context   int // context_length: the context trained for
	Embd      int // embedding_length
	FFN       int // feed_forward_length
	Layers    int // block_count
	Heads     int // attention.head_count
	KVHeads   int // attention.head_count_kv (default Heads)
	HeadDim   int // attention.key_length (default Embd/Heads)
	Eps       float32
	RopeDims  int    // rope.dimension_count (default HeadDim)
	RopeScale string // rope.scaling.type: none, linear or yarn

	// Experts and ExpertsUsed are expert_count and expert_used_count of a
	// mixture-of-experts model (Mixtral); 0 for a dense one. Each expert
	// is a SwiGLU of feed_forward_length.
	Experts, ExpertsUsed int
	// Pooling is pooling_type, how Embed pools by default.
	Pooling model.Pooling

	// Rope holds the rotary embedding exactly as it is applied: base,
	// scaling, YaRN parameters and frequency factors resolved the way
	// llama.cpp resolves them.
	Rope kernels.Rope
}

// readHyper reads and validates the hyperparameters.
func readHyper(f *gguf.File) (Hyper, error) {
	m := model.NewMeta(f, arch)
	var h Hyper
	h.Context = m.Int("context_length")
	h.Embd = m.Int("embedding_length")
	h.FFN = m.Int("feed_forward_length")
	h.Layers = m.Int("block_count")
	h.Heads = m.Int("attention.head_count")
	h.KVHeads = m.IntOr("attention.head_count_kv", h.Heads)
	h.HeadDim = m.IntOr("attention.key_length", 0)
	valueLen := m.IntOr("attention.value_length", 0)
	h.Eps = m.Float("attention.layer_norm_rms_epsilon")
	h.RopeDims = m.IntOr("rope.dimension_count", 0)
	h.Experts = m.IntOr("expert_count", 0)
	if h.Experts > 0 {
		h.ExpertsUsed = m.Int("expert_used_count")
	}
	h.Pooling = m.ReadPooling()
	base := m.FloatOr("rope.freq_base", 10000)
	h.RopeScale = m.StringOr("rope.scaling.type", "linear")
	factor := m.FloatOr("rope.scaling.factor", 0)
	if factor == 0 {
		factor = m.FloatOr("rope.scale_linear", 0) // the older key
	}
	ropeAttn := m.FloatOr("rope.scaling.attn_factor", 1)
	origCtx := m.IntOr("rope.scaling.original_context_length", 0)
	betaFast := m.FloatOr("rope.scaling.yarn_beta_fast", 32)
	betaSlow := m.FloatOr("rope.scaling.yarn_beta_slow", 1)
	if err := m.Err(); err != nil {
		return h, err
	}

	bad := func(format string, args ...any) (Hyper, error) {
		return h, fmt.Errorf(arch+": "+format, args...)
	}
	switch {
	case h.Embd <= 0:
		return bad("embedding_length %d is not positive", h.Embd)
	case h.FFN <= 0:
		return bad("feed_forward_length %d is not positive", h.FFN)
	case h.Layers <= 0:
		return bad("block_count %d is not positive", h.Layers)
	case h.Context <= 0:
		return bad("context_length %d is not positive", h.Context)
	case h.Heads <= 0:
		return bad("head_count %d is not positive", h.Heads)
	case h.KVHeads <= 0:
		return bad("head_count_kv %d is not positive", h.KVHeads)
	case h.Heads%h.KVHeads != 0:
		return bad("head_count_kv %d does not divide head_count %d", h.KVHeads, h.Heads)
	case h.Experts < 0:
		return bad("expert_count %d is negative", h.Experts)
	case h.Experts > 0 && (h.ExpertsUsed <= 0 || h.ExpertsUsed > h.Experts):
		return bad("expert_used_count %d is not between 1 and expert_count %d", h.ExpertsUsed, h.Experts)
	case h.HeadDim < 0:
		return bad("key_length %d is negative", h.HeadDim)
	case h.HeadDim == 0 && h.Embd%h.Heads != 0:
		return bad("head_count %d does not divide embedding_length %d", h.Heads, h.Embd)
	case !(h.Eps >= 0) || math.IsInf(float64(h.Eps), 0):
		return bad("layer_norm_rms_epsilon %v is not a non-negative number", h.Eps)
	}
	if h.HeadDim == 0 {
		h.HeadDim = h.Embd / h.Heads
	}
	if valueLen != 0 && valueLen != h.HeadDim {
		return bad("value_length %d differs from key_length %d", valueLen, h.HeadDim)
	}
	if h.RopeDims == 0 {
		h.RopeDims = h.HeadDim
	}
	if h.RopeDims != h.HeadDim {
		return bad("rope.dimension_count %d differs from the head dimension %d", h.RopeDims, h.HeadDim)
	}
	if !(factor >= 0) || math.IsInf(float64(factor), 0) {
		return bad("rope.scaling.factor %v is not a non-negative number", factor)
	}

	// Resolve the rotation the way llama.cpp's llama_context does.
	h.Rope = kernels.Rope{Dims: h.RopeDims, Base: base, FreqScale: 1, AttnFactor: 1, BetaFast: betaFast, BetaSlow: betaSlow}
	if factor != 0 {
		h.Rope.FreqScale = 1 / factor
	}
	if origCtx == 0 {
		origCtx = h.Context
	}
	h.Rope.OrigCtx = origCtx
	switch h.RopeScale {
	case "none":
		h.Rope.FreqScale = 1
	case "linear":
	case "yarn":
		h.Rope.ExtFactor = 1
		f := 1 / h.Rope.FreqScale
		mscale := float32(1)
		if f > 1 {
			mscale = float32(0.1*logf(f)) + 1
		}
		// ggml multiplies by 1+0.1·ln(f) again inside rope_yarn; llama.cpp
		// cancels that here.
		h.Rope.AttnFactor = mscale * (1 / (float32(0.1*logf(f)) + 1))
	default:
		return bad("rope.scaling.type %q is not supported", h.RopeScale)
	}
	h.Rope.AttnFactor *= ropeAttn
	if err := h.Rope.Validate(); err != nil {
		return bad("%v", err)
	}
	return h, nil
}

func logf(x float32) float32 { return float32(math.Log(float64(x))) }
