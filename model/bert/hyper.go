package bert

import (
	"errors"
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/layers"
)

// keyTokenTypes is the number of token types (segments) the embeddings
// know; llama.cpp refuses a BERT file without it.
const keyTokenTypes = "tokenizer.ggml.token_type_count"

// Hyper holds the hyperparameters of a BERT-family encoder, read from the
// {arch}.* metadata.
type Hyper struct {
	Arch    string // bert or nomic-bert
	Context int    // context_length: positions the model knows
	Embd    int    // embedding_length
	FFN     int    // feed_forward_length
	Layers  int    // block_count
	Heads   int    // attention.head_count
	KVHeads int    // attention.head_count_kv (default Heads)
	HeadDim int    // Embd/Heads
	Eps     float32
	// TokenTypes is tokenizer.ggml.token_type_count. Only type 0 (the
	// first segment) is ever used, as in llama.cpp.
	TokenTypes int
	// Pooling is pooling_type, how Embed pools by default.
	Pooling model.Pooling
	// Rope is nomic-bert's rotary position embedding (NeoX pairing, base
	// rope.freq_base); BERT itself learns absolute positions instead.
	Rope kernels.Rope
}

// readHyper reads and validates the hyperparameters of architecture a.
func readHyper(f *gguf.File, a string) (Hyper, error) {
	m := model.NewMeta(f, a)
	h := Hyper{Arch: a}
	h.Context = m.Int("context_length")
	h.Embd = m.Int("embedding_length")
	h.FFN = m.Int("feed_forward_length")
	h.Layers = m.Int("block_count")
	h.Heads = m.Int("attention.head_count")
	h.KVHeads = m.IntOr("attention.head_count_kv", h.Heads)
	h.Eps = m.Float("attention.layer_norm_epsilon")
	h.Pooling = m.ReadPooling()
	moeEvery := m.IntOr("moe_every_n_layers", 0)
	var base float32
	var rs layers.RopeScaling
	ropeDims := 0
	if rotates(a) {
		ropeDims = m.IntOr("rope.dimension_count", 0)
		base = m.FloatOr("rope.freq_base", 10000)
		rs.Type = m.StringOr("rope.scaling.type", "linear")
		rs.Factor = m.FloatOr("rope.scaling.factor", 0)
		rs.OrigCtx = m.IntOr("rope.scaling.original_context_length", 0)
	}
	if err := m.Err(); err != nil {
		return h, err
	}
	types, err := f.Int(keyTokenTypes)
	if errors.Is(err, gguf.ErrMissing) {
		return h, fmt.Errorf("%s: metadata key %q is missing: llama.cpp needs the token type count of a BERT model", a, keyTokenTypes)
	}
	if err != nil {
		return h, fmt.Errorf("%s: %w", a, err)
	}

	bad := func(format string, args ...any) (Hyper, error) {
		return h, fmt.Errorf(a+": "+format, args...)
	}
	switch {
	case types <= 0 || types > math.MaxInt32:
		return bad("token_type_count %d is not positive", types)
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
	case h.Embd%h.Heads != 0:
		return bad("head_count %d does not divide embedding_length %d", h.Heads, h.Embd)
	case !(h.Eps >= 0) || math.IsInf(float64(h.Eps), 0):
		return bad("layer_norm_epsilon %v is not a non-negative number", h.Eps)
	case moeEvery != 0:
		return bad("moe_every_n_layers %d: mixture-of-experts encoders (nomic-bert-moe) are not supported", moeEvery)
	}
	h.TokenTypes = int(types)
	h.HeadDim = h.Embd / h.Heads
	if rotates(a) {
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
	}
	return h, nil
}
