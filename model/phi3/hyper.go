package phi3

import (
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/layers"
)

// Hyper holds the Phi-3 hyperparameters, read from the phi3.* metadata.
type Hyper struct {
	Context int // context_length: the context trained for (131072 for the 128k models)
	Embd    int // embedding_length
	FFN     int // feed_forward_length: half the rows of the fused ffn_up
	Layers  int // block_count
	Heads   int // attention.head_count
	KVHeads int // attention.head_count_kv (default Heads)
	HeadDim int // Embd/Heads
	Eps     float32

	// OrigCtx is rope.scaling.original_context_length (default Context),
	// the context of pre-training: a cache longer than this rotates with
	// the long LongRoPE factors, any other with the short ones, as in
	// llama.cpp.
	OrigCtx int
	// SlidingWindow is attention.sliding_window (0 when absent). It is
	// read and checked but not applied: llama.cpp evaluates every Phi-3
	// layer with full causal attention and only warns that the window is
	// ignored ("Phi SWA is currently disabled", llama.cpp PR 13676), and
	// we give the logits llama.cpp gives.
	SlidingWindow int

	// Rope is the rotation without frequency factors: NeoX pairing over
	// rope.dimension_count dimensions (fewer than HeadDim for partial
	// rotary models such as Phi-4-mini; the rest of each head is left
	// alone), base rope.freq_base, and cos and sin multiplied by
	// rope.scaling.attn_factor, LongRoPE's magnitude correction
	// sqrt(1 + ln(Context/OrigCtx)/ln(OrigCtx)) as the converter stores it.
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
	keyLen := m.IntOr("attention.key_length", 0)
	valueLen := m.IntOr("attention.value_length", 0)
	h.Eps = m.Float("attention.layer_norm_rms_epsilon")
	h.SlidingWindow = m.IntOr("attention.sliding_window", 0)
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
		return bad("mixture-of-experts models (expert_count %d) are not supported; Phi-3.5-MoE files are architecture phimoe", experts)
	case h.Embd%h.Heads != 0:
		return bad("head_count %d does not divide embedding_length %d", h.Heads, h.Embd)
	case !(h.Eps >= 0) || math.IsInf(float64(h.Eps), 0):
		return bad("layer_norm_rms_epsilon %v is not a non-negative number", h.Eps)
	case h.SlidingWindow < 0:
		return bad("attention.sliding_window %d is negative", h.SlidingWindow)
	}
	h.HeadDim = h.Embd / h.Heads
	// The fused attn_qkv holds embedding_length query rows, so the head
	// size is fixed by the embedding.
	if keyLen != 0 && keyLen != h.HeadDim {
		return bad("key_length %d differs from embedding_length/head_count %d", keyLen, h.HeadDim)
	}
	if valueLen != 0 && valueLen != h.HeadDim {
		return bad("value_length %d differs from embedding_length/head_count %d", valueLen, h.HeadDim)
	}
	if ropeDims == 0 {
		ropeDims = h.HeadDim
	}
	if ropeDims > h.HeadDim {
		return bad("rope.dimension_count %d exceeds the head dimension %d", ropeDims, h.HeadDim)
	}
	r, err := layers.NewRope(ropeDims, true, base, h.Context, rs)
	if err != nil {
		return bad("%v", err)
	}
	h.Rope = r
	h.OrigCtx = r.OrigCtx
	return h, nil
}
