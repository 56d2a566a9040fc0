package gemma3

import (
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
)

// Hyper holds the Gemma 3 hyperparameters, read from the gemma3.* metadata
// with llama.cpp's defaults for the optional keys.
type Hyper struct {
	Context int // context_length: the context trained for
	Embd    int // embedding_length
	FFN     int // feed_forward_length
	Layers  int // block_count
	Heads   int // attention.head_count
	KVHeads int // attention.head_count_kv (default Heads)
	HeadDim int // attention.key_length (default Embd/Heads)
	Eps     float32

	// Window is attention.sliding_window: a token of a sliding layer
	// attends to itself and the Window−1 positions before. Absent or 0,
	// no layer slides.
	Window int
	// Sliding marks the sliding-window layers, from
	// attention.sliding_window_pattern: a period p (default 6) makes layer
	// l slide when l mod p < p−1, so every p-th layer is global; 0 makes
	// every layer slide. An array of booleans marks each layer itself.
	Sliding []bool

	// FinalSoftcap is final_logit_softcapping; 0 (the default) is none.
	// Gemma 3 has no attention-logit soft-capping.
	FinalSoftcap float32

	// QueryScale multiplies the queries before attention:
	// 1/√query_pre_attn_scalar. GGUF does not store the scalar; like
	// llama.cpp we use the head dimension, and embedding_length/head_count
	// for the 62-layer (27B) shape, whose scalar that is.
	QueryScale float32

	// Rope is the rotation of the global layers: rope.freq_base (default
	// 10000) with the model's scaling (linear, by 8 in Gemma 3 4B and
	// larger). RopeLocal is that of the sliding layers:
	// rope.freq_base_swa (default 10000) and no scaling. GPT-NeoX pairing.
	Rope, RopeLocal kernels.Rope
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
	base := m.FloatOr("rope.freq_base", 10000)
	baseLocal := m.FloatOr("rope.freq_base_swa", 10000)
	scaling := m.StringOr("rope.scaling.type", "linear")
	factor := m.FloatOr("rope.scaling.factor", 0)
	if factor == 0 {
		factor = m.FloatOr("rope.scale_linear", 0) // the older key
	}
	h.Window = m.IntOr("attention.sliding_window", 0)
	h.FinalSoftcap = m.FloatOr("final_logit_softcapping", 0)
	experts := m.IntOr("expert_count", 0)
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
		return bad("attention.head_count %d is not positive", h.Heads)
	case h.KVHeads <= 0:
		return bad("attention.head_count_kv %d is not positive", h.KVHeads)
	case h.Heads%h.KVHeads != 0:
		return bad("attention.head_count_kv %d does not divide attention.head_count %d", h.KVHeads, h.Heads)
	case experts > 0:
		return bad("mixture-of-experts models (expert_count %d) are not supported", experts)
	case h.HeadDim < 0:
		return bad("attention.key_length %d is negative", h.HeadDim)
	case h.HeadDim == 0 && h.Embd%h.Heads != 0:
		return bad("attention.head_count %d does not divide embedding_length %d", h.Heads, h.Embd)
	case !finite(h.Eps) || h.Eps < 0:
		return bad("attention.layer_norm_rms_epsilon %v is not a non-negative number", h.Eps)
	case h.Window < 0:
		return bad("attention.sliding_window %d is negative", h.Window)
	case !finite(h.FinalSoftcap) || h.FinalSoftcap < 0:
		return bad("final_logit_softcapping %v is not a non-negative number", h.FinalSoftcap)
	case h.Layers > len(f.Tensors): // a corrupt count must not allocate
		return bad("block_count %d is more than the file's %d tensors", h.Layers, len(f.Tensors))
	}
	if h.HeadDim == 0 {
		h.HeadDim = h.Embd / h.Heads
	}
	if valueLen != 0 && valueLen != h.HeadDim {
		return bad("attention.value_length %d differs from attention.key_length %d", valueLen, h.HeadDim)
	}
	if ropeDims == 0 {
		ropeDims = h.HeadDim
	}
	if ropeDims < 0 || ropeDims > h.HeadDim || ropeDims%2 != 0 {
		return bad("rope.dimension_count %d is not an even number up to the head dimension %d", ropeDims, h.HeadDim)
	}
	h.Sliding = make([]bool, h.Layers)
	if h.Window > 0 {
		var err error
		if h.Sliding, err = slidingLayers(f, m, h.Layers, 6); err != nil {
			return h, err
		}
	}

	scaleDim := h.HeadDim
	if h.Layers == 62 { // Gemma 3 27B: query_pre_attn_scalar = hidden/heads
		scaleDim = h.Embd / h.Heads
	}
	h.QueryScale = 1 / float32(math.Sqrt(float64(scaleDim)))

	// The rotations as llama.cpp resolves them: the model's scaling on
	// the global layers, none on the sliding ones.
	freqScale := float32(1)
	switch {
	case !finite(factor) || factor < 0:
		return bad("rope.scaling.factor %v is not a non-negative number", factor)
	case factor != 0:
		freqScale = 1 / factor
	}
	switch scaling {
	case "none":
		freqScale = 1
	case "linear":
	default:
		return bad("rope.scaling.type %q is not supported (none or linear)", scaling)
	}
	h.Rope = kernels.Rope{Dims: ropeDims, NeoX: true, Base: base, FreqScale: freqScale}
	h.RopeLocal = kernels.Rope{Dims: ropeDims, NeoX: true, Base: baseLocal, FreqScale: 1}
	if err := h.Rope.Validate(); err != nil {
		return bad("rope.freq_base: %v", err)
	}
	if err := h.RopeLocal.Validate(); err != nil {
		return bad("rope.freq_base_swa: %v", err)
	}
	return h, nil
}

// slidingLayers reads attention.sliding_window_pattern: absent, the default
// period; an integer period p, under which layer l slides when l mod p <
// p−1 (0: every layer slides), as llama.cpp's set_swa_pattern; or an array
// of one boolean per layer.
func slidingLayers(f *gguf.File, m *model.Meta, layers, period int) ([]bool, error) {
	key := m.Key("attention.sliding_window_pattern")
	kv, ok := f.Lookup(key)
	if ok {
		if a, isArray := kv.Value.(gguf.Array); isArray {
			flags, isBools := a.Values.([]bool)
			if !isBools || len(flags) != layers {
				return nil, fmt.Errorf("%s: metadata key %q is an array of %d %s, want %d bools (one per layer) or an integer",
					arch, key, a.Len(), a.Type, layers)
			}
			return flags, nil
		}
		p, err := f.Int(key)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", arch, err)
		}
		if p < 0 || p > math.MaxInt32 {
			return nil, fmt.Errorf("%s: attention.sliding_window_pattern %d is negative or too large", arch, p)
		}
		period = int(p)
	}
	s := make([]bool, layers)
	for l := range s {
		s[l] = period == 0 || l%period < period-1
	}
	return s, nil
}

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }
