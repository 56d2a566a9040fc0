package decoder

import (
	"fmt"
	"math"
	"strings"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/layers"
)

// Hyper holds the hyperparameters most decoders share, read from the
// {arch}.* metadata with llama.cpp's defaults for the optional keys.
type Hyper struct {
	Arch    string // general.architecture
	Name    string // general.name, if present
	Context int    // context_length: the context trained for
	Embd    int    // embedding_length
	FFN     int    // feed_forward_length (one expert's in a mixture)
	Layers  int    // block_count
	Heads   int    // attention.head_count
	KVHeads int    // attention.head_count_kv (default Heads)
	HeadDim int    // attention.key_length (default Embd/Heads)
	Eps     float32

	// RopeDims is rope.dimension_count (default HeadDim): the leading
	// elements of each head that rotate. RopeBase is rope.freq_base
	// (default 10000) and RopeScaling the rope.scaling.* keys as stored;
	// [Hyper.Rope] resolves them.
	RopeDims    int
	RopeBase    float32
	RopeScaling layers.RopeScaling

	// Experts and ExpertsUsed are expert_count and expert_used_count; 0
	// for a dense model.
	Experts, ExpertsUsed int
	// Window is attention.sliding_window, 0 when absent.
	Window int
	// Pooling is pooling_type, how Embed pools by default.
	Pooling model.Pooling

	usedSet bool // expert_used_count is present
}

// maxExperts is llama.cpp's LLAMA_MAX_EXPERTS.
const maxExperts = 1024

// ReadHyper reads and checks the common hyperparameters of architecture
// arch and returns the metadata reader, for the family's own keys. Errors
// name the key at fault.
func ReadHyper(f *gguf.File, arch string) (Hyper, *model.Meta, error) {
	m := model.NewMeta(f, arch)
	h := Hyper{Arch: arch}
	h.Name, _ = f.String("general.name")
	h.Context = m.Int("context_length")
	h.Embd = m.Int("embedding_length")
	h.Layers = m.Int("block_count") - m.IntOr("nextn_predict_layers", 0) // multi-token-prediction layers are kept in the file, not run
	h.Heads = firstInt(f, m, "attention.head_count", 0, true)
	h.KVHeads = firstInt(f, m, "attention.head_count_kv", h.Heads, false)
	if h.KVHeads == 0 && h.Layers > 0 && h.Layers <= len(f.Tensors) { // hybrids give recurrent layers 0 KV heads: the attention layers' count
		if kv, err := PerLayer(f, m, "attention.head_count_kv", h.Layers, 0); err == nil {
			for _, v := range kv {
				if v > 0 {
					h.KVHeads = v
					break
				}
			}
		}
	}
	h.HeadDim = m.IntOr("attention.key_length", 0)
	valueLen := m.IntOr("attention.value_length", 0)
	if !m.Has("attention.layer_norm_rms_epsilon") && m.Has("attention.layer_norm_epsilon") {
		h.Eps = m.Float("attention.layer_norm_epsilon") // a layer-norm family (ModernBERT)
	} else {
		h.Eps = m.Float("attention.layer_norm_rms_epsilon")
	}
	h.Experts = m.IntOr("expert_count", 0)
	if h.Experts > 0 {
		h.ExpertsUsed = m.IntOr("expert_used_count", 0) // checked by Loader.MoE
		h.usedSet = m.Has("expert_used_count")
		h.FFN = m.IntOr("expert_feed_forward_length", 0)
	}
	if h.FFN == 0 {
		h.FFN = firstInt(f, m, "feed_forward_length", 0, true)
	}
	h.Window = m.IntOr("attention.sliding_window", 0)
	h.Pooling = m.ReadPooling()
	h.RopeDims = m.IntOr("rope.dimension_count", 0)
	h.RopeBase = m.FloatOr("rope.freq_base", 10000)
	rs := &h.RopeScaling
	rs.Type = m.StringOr("rope.scaling.type", "linear")
	rs.Factor = m.FloatOr("rope.scaling.factor", 0)
	if rs.Factor == 0 {
		rs.Factor = m.FloatOr("rope.scale_linear", 0) // the older key
	}
	rs.AttnFactor = m.FloatOr("rope.scaling.attn_factor", 0)
	rs.OrigCtx = m.IntOr("rope.scaling.original_context_length", 0)
	rs.BetaFast = m.FloatOr("rope.scaling.yarn_beta_fast", 0)
	rs.BetaSlow = m.FloatOr("rope.scaling.yarn_beta_slow", 0)
	rs.LogMul = m.FloatOr("rope.scaling.yarn_log_multiplier", 0)
	if err := m.Err(); err != nil {
		return h, m, err
	}

	bad := func(format string, args ...any) (Hyper, *model.Meta, error) {
		return h, m, fmt.Errorf(arch+": "+format, args...)
	}
	switch {
	case h.Embd <= 0:
		return bad("embedding_length %d is not positive", h.Embd)
	case h.FFN <= 0:
		return bad("feed_forward_length %d is not positive", h.FFN)
	case h.Layers <= 0:
		return bad("block_count %d is not positive", h.Layers)
	case h.Layers > len(f.Tensors): // a corrupt count must not allocate
		return bad("block_count %d is more than the file's %d tensors", h.Layers, len(f.Tensors))
	case h.Context <= 0:
		return bad("context_length %d is not positive", h.Context)
	case h.Heads <= 0:
		return bad("attention.head_count %d is not positive", h.Heads)
	case h.KVHeads <= 0:
		return bad("attention.head_count_kv %d is not positive", h.KVHeads)
	case h.Heads%h.KVHeads != 0:
		return bad("attention.head_count_kv %d does not divide attention.head_count %d", h.KVHeads, h.Heads)
	case h.Experts < 0 || h.Experts > maxExperts:
		return bad("expert_count %d is not between 0 and %d", h.Experts, maxExperts)
	case h.HeadDim < 0:
		return bad("attention.key_length %d is negative", h.HeadDim)
	case h.HeadDim == 0 && h.Embd%h.Heads != 0:
		return bad("attention.head_count %d does not divide embedding_length %d", h.Heads, h.Embd)
	case !finite(h.Eps) || h.Eps < 0:
		return bad("attention.layer_norm_rms_epsilon %v is not a non-negative number", h.Eps)
	case h.Window < 0:
		return bad("attention.sliding_window %d is negative", h.Window)
	}
	if h.HeadDim == 0 {
		h.HeadDim = h.Embd / h.Heads
	}
	// Latent attention (DeepSeek-V2) caches one vector of key_length and
	// reads its first value_length elements as the values.
	if valueLen != 0 && valueLen != h.HeadDim && !m.Has("attention.kv_lora_rank") && !m.Has("attention.key_length_mla") {
		return bad("attention.value_length %d differs from attention.key_length %d", valueLen, h.HeadDim)
	}
	if h.RopeDims == 0 {
		h.RopeDims = h.HeadDim
	}
	if h.RopeDims < 0 || h.RopeDims > h.HeadDim || h.RopeDims%2 != 0 {
		return bad("rope.dimension_count %d is not an even number up to the head dimension %d", h.RopeDims, h.HeadDim)
	}
	return h, m, nil
}

// Rope resolves the rotation with frequency base base (h.RopeBase, or a
// family's other base) and the file's scaling, as llama.cpp does; neox
// pairs element i of a head with i+dims/2 instead of i+1.
func (h *Hyper) Rope(neox bool, base float32) (kernels.Rope, error) {
	r, err := layers.NewRope(h.RopeDims, neox, base, h.Context, h.RopeScaling)
	if err != nil {
		return r, fmt.Errorf("%s: %w", h.Arch, err)
	}
	return r, nil
}

// SlidingLayers reads attention.sliding_window_pattern: absent, the default
// period; an integer period p, under which layer l slides when l mod p <
// p−1 (0: every layer slides), as llama.cpp's set_swa_pattern; or an array
// of one boolean per layer.
func SlidingLayers(f *gguf.File, m *model.Meta, layers, period int) ([]bool, error) {
	return slidingLayers(f, m, layers, period, false)
}

// SlidingLayersDenseFirst is [SlidingLayers] with llama.cpp's dense-first
// pattern: under a period p, layer l slides unless l mod p = 0, so the
// global layers are 0, p, 2p, … (ModernBERT).
func SlidingLayersDenseFirst(f *gguf.File, m *model.Meta, layers, period int) ([]bool, error) {
	return slidingLayers(f, m, layers, period, true)
}

func slidingLayers(f *gguf.File, m *model.Meta, layers, period int, denseFirst bool) ([]bool, error) {
	key := m.Key("attention.sliding_window_pattern")
	arch := strings.TrimSuffix(key, ".attention.sliding_window_pattern")
	if kv, ok := f.Lookup(key); ok {
		if a, isArray := kv.Value.(gguf.Array); isArray {
			flags, isBools := a.Values.([]bool)
			if !isBools || len(flags) != layers {
				return nil, fmt.Errorf("%s: metadata key %q is an array of %d %s, want %d bools (one per layer) or an integer",
					arch, key, a.Len(), a.Type, layers)
			}
			return flags, nil
		}
		p := m.Int("attention.sliding_window_pattern")
		if err := m.Err(); err != nil {
			return nil, err
		}
		if p < 0 {
			return nil, fmt.Errorf("%s: attention.sliding_window_pattern %d is negative", arch, p)
		}
		period = p
	}
	s := make([]bool, layers)
	for l := range s {
		if denseFirst {
			s[l] = period == 0 || l%period != 0
		} else {
			s[l] = period == 0 || l%period < period-1
		}
	}
	return s, nil
}

func finite(x float32) bool { return !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) }

// Finite reports whether x is neither NaN nor infinite.
func Finite(x float32) bool { return finite(x) }

// Errorf returns an error prefixed with the architecture's name.
func Errorf(h *Hyper, format string, args ...any) error {
	return fmt.Errorf(h.Arch+": "+format, args...)
}

// Ropes returns the global and local rotations of a family whose sliding
// layers rotate with another base (Gemma's rope.freq_base_swa), NeoX
// pairing: the global one with the model's scaling, the local one with
// baseLocal and the same scaling when localScaled, none otherwise. Only
// linear scaling is accepted, as in llama.cpp's Gemma graphs.
func (h *Hyper) Ropes(baseLocal float32, localScaled bool) (global, local kernels.Rope, err error) {
	if t := h.RopeScaling.Type; t != "none" && t != "linear" {
		return global, local, Errorf(h, "rope.scaling.type %q is not supported (none or linear)", t)
	}
	if global, err = h.Rope(true, h.RopeBase); err != nil {
		return global, local, err
	}
	if !(baseLocal > 0) || !finite(baseLocal) {
		return global, local, Errorf(h, "rope.freq_base_swa: rope: frequency base %v is not a positive number", baseLocal)
	}
	local = global
	local.Base = baseLocal
	if !localScaled {
		local.FreqScale = 1
	}
	return global, local, nil
}

// firstInt reads an integer key that may also be an array of one value per
// layer (llama.cpp's get_key_or_arr): the array's first value; see
// [PerLayer] for all of them.
func firstInt(f *gguf.File, m *model.Meta, key string, def int, required bool) int {
	if kv, ok := f.Lookup(m.Key(key)); ok {
		if _, isArray := kv.Value.(gguf.Array); isArray {
			v, err := PerLayer(f, m, key, 1, def)
			if err != nil || len(v) == 0 {
				return 0 // PerLayer's error comes back when the family reads the key
			}
			return v[0]
		}
	}
	if required {
		return m.Int(key)
	}
	return m.IntOr(key, def)
}

// PerLayer reads an integer key that is either one value for every layer
// or an array of one value per layer (llama.cpp's get_key_or_arr), def for
// every layer when absent.
func PerLayer(f *gguf.File, m *model.Meta, key string, layers, def int) ([]int, error) {
	out := make([]int, layers)
	full := m.Key(key)
	kv, ok := f.Lookup(full)
	if !ok {
		for i := range out {
			out[i] = def
		}
		return out, nil
	}
	if _, isArray := kv.Value.(gguf.Array); !isArray {
		v, err := f.Int(full)
		if err != nil {
			return nil, fmt.Errorf("%s", err)
		}
		for i := range out {
			out[i] = int(v)
		}
		return out, nil
	}
	vs, err := f.Ints(full)
	if err != nil {
		return nil, err
	}
	if len(vs) < layers {
		return nil, fmt.Errorf("metadata key %q has %d values for %d layers", full, len(vs), layers)
	}
	for i := range out {
		if vs[i] < 0 || vs[i] > math.MaxInt32 {
			return nil, fmt.Errorf("metadata key %q: value %d out of range", full, vs[i])
		}
		out[i] = int(vs[i])
	}
	return out, nil
}
