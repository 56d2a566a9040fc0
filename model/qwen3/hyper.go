package qwen3

import (
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/layers"
)

// Hyper holds the Qwen3 hyperparameters, read from the qwen3.* metadata.
type Hyper struct {
	Context int // context_length: the context trained for
	Embd    int // embedding_length
	FFN     int // feed_forward_length
	Layers  int // block_count
	Heads   int // attention.head_count
	KVHeads int // attention.head_count_kv (default Heads)
	// HeadDim is attention.key_length (default Embd/Heads). Qwen3 sets it
	// apart from the embedding: Qwen3-0.6B has 16 heads of 128 over an
	// embedding of 1024, so its query projection widens the stream.
	HeadDim int
	Eps     float32 // attention.layer_norm_rms_epsilon, also of the q/k norms

	// Rope is the rotation as applied: NeoX pairing (element i with
	// i+HeadDim/2), base rope.freq_base, and scaling resolved as llama.cpp
	// does.
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
	ropeDims := m.IntOr("rope.dimension_count", 0)
	experts := m.IntOr("expert_count", 0)
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
	case experts > 0:
		return bad("mixture-of-experts models (expert_count %d) are not supported; Qwen3-MoE files are architecture qwen3moe", experts)
	case h.HeadDim < 0:
		return bad("key_length %d is negative", h.HeadDim)
	case h.HeadDim == 0 && h.Embd%h.Heads != 0:
		return bad("head_count %d does not divide embedding_length %d (and key_length is absent)", h.Heads, h.Embd)
	case !(h.Eps >= 0) || math.IsInf(float64(h.Eps), 0):
		return bad("layer_norm_rms_epsilon %v is not a non-negative number", h.Eps)
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
