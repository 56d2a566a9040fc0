package qwen3moe

import (
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/layers"
)

// maxExperts is llama.cpp's LLAMA_MAX_EXPERTS.
const maxExperts = 1024

// Hyper holds the Qwen3-MoE hyperparameters, read from the qwen3moe.*
// metadata.
type Hyper struct {
	Context int // context_length: the context trained for
	Embd    int // embedding_length
	Layers  int // block_count
	Heads   int // attention.head_count
	KVHeads int // attention.head_count_kv (default Heads)
	// HeadDim is attention.key_length (default Embd/Heads); Qwen3-30B-A3B
	// has 32 heads of 128 over an embedding of 2048.
	HeadDim int
	Eps     float32 // attention.layer_norm_rms_epsilon, also of the q/k norms

	Experts     int // expert_count
	ExpertsUsed int // expert_used_count: experts per token
	// ExpertFFN is expert_feed_forward_length, the hidden size of one
	// expert; when absent llama.cpp takes feed_forward_length divided by
	// expert_used_count.
	ExpertFFN int

	// Pooling is pooling_type, how Embed pools by default.
	Pooling model.Pooling

	// Rope is the rotation as applied: NeoX pairing, base rope.freq_base,
	// scaling resolved as llama.cpp does.
	Rope kernels.Rope
}

// readHyper reads and validates the hyperparameters.
func readHyper(f *gguf.File) (Hyper, error) {
	m := model.NewMeta(f, arch)
	var h Hyper
	h.Context = m.Int("context_length")
	h.Embd = m.Int("embedding_length")
	h.Layers = m.Int("block_count")
	h.Heads = m.Int("attention.head_count")
	h.KVHeads = m.IntOr("attention.head_count_kv", h.Heads)
	h.HeadDim = m.IntOr("attention.key_length", 0)
	valueLen := m.IntOr("attention.value_length", 0)
	h.Eps = m.Float("attention.layer_norm_rms_epsilon")
	h.Experts = m.Int("expert_count")
	h.ExpertsUsed = m.Int("expert_used_count")
	h.ExpertFFN = m.IntOr("expert_feed_forward_length", 0)
	ffn := 0
	if h.ExpertFFN == 0 {
		ffn = m.Int("feed_forward_length")
	}
	h.Pooling = m.ReadPooling()
	ropeDims := m.IntOr("rope.dimension_count", 0)
	base := m.FloatOr("rope.freq_base", 10000)
	var rs layers.RopeScaling
	rs.Type = m.StringOr("rope.scaling.type", "linear")
	rs.Factor = m.FloatOr("rope.scaling.factor", 0)
	if rs.Factor == 0 {
		rs.Factor = m.FloatOr("rope.scale_linear", 0) // the older key
	}
	rs.AttnFactor = m.FloatOr("rope.scaling.attn_factor", 0)
	rs.OrigCtx = m.IntOr("rope.scaling.original_context_length", 0)
	if err := m.Err(); err != nil {
		return h, err
	}

	bad := func(format string, args ...any) (Hyper, error) {
		return h, fmt.Errorf(arch+": "+format, args...)
	}
	switch {
	case h.Embd <= 0:
		return bad("embedding_length %d is not positive", h.Embd)
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
	case h.Experts <= 0 || h.Experts > maxExperts:
		return bad("expert_count %d is not between 1 and %d", h.Experts, maxExperts)
	case h.ExpertsUsed <= 0 || h.ExpertsUsed > h.Experts:
		return bad("expert_used_count %d is not between 1 and expert_count %d", h.ExpertsUsed, h.Experts)
	case h.ExpertFFN < 0:
		return bad("expert_feed_forward_length %d is negative", h.ExpertFFN)
	case h.ExpertFFN == 0 && ffn < h.ExpertsUsed:
		return bad("feed_forward_length %d is too small for %d experts per token (and expert_feed_forward_length is absent)", ffn, h.ExpertsUsed)
	case h.HeadDim < 0:
		return bad("key_length %d is negative", h.HeadDim)
	case h.HeadDim == 0 && h.Embd%h.Heads != 0:
		return bad("head_count %d does not divide embedding_length %d (and key_length is absent)", h.Heads, h.Embd)
	case !(h.Eps >= 0) || math.IsInf(float64(h.Eps), 0):
		return bad("layer_norm_rms_epsilon %v is not a non-negative number", h.Eps)
	}
	if h.ExpertFFN == 0 {
		h.ExpertFFN = ffn / h.ExpertsUsed
	}
	if h.HeadDim == 0 {
		h.HeadDim = h.Embd / h.Heads
	}
	if valueLen != 0 && valueLen != h.HeadDim {
		return bad("value_length %d differs from key_length %d", valueLen, h.HeadDim)
	}
	if ropeDims == 0 {
		ropeDims = h.HeadDim
	}
	if ropeDims != h.HeadDim {
		return bad("rope.dimension_count %d differs from the head dimension %d", ropeDims, h.HeadDim)
	}
	r, err := layers.NewRope(ropeDims, true, base, h.Context, rs)
	if err != nil {
		return bad("%v", err)
	}
	h.Rope = r
	return h, nil
}
