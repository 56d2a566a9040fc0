package bert

import (
	"errors"
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
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

// readHyper reads and validates the hyperparameters of architecture a: the
// decoders' common ones (decoder.ReadHyper, whose checks serve encoders as
// well), then the encoders' own.
func readHyper(f *gguf.File, a string) (Hyper, error) {
	// An encoder's epsilon is a layer norm's: name that key when it is
	// missing, not the RMS norm's the decoders fall back on.
	if m := model.NewMeta(f, a); m.Float("attention.layer_norm_epsilon") == 0 && m.Err() != nil {
		return Hyper{Arch: a}, m.Err()
	}
	d, m, err := decoder.ReadHyper(f, a)
	if err != nil {
		return Hyper{Arch: a}, err
	}
	h := Hyper{Arch: a, Context: d.Context, Embd: d.Embd, FFN: d.FFN, Layers: d.Layers, Heads: d.Heads,
		KVHeads: d.KVHeads, HeadDim: d.HeadDim, Eps: d.Eps, Pooling: d.Pooling}
	moeEvery := m.IntOr("moe_every_n_layers", 0)
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
	case h.HeadDim*h.Heads != h.Embd:
		return bad("attention.key_length %d times attention.head_count %d is not embedding_length %d", h.HeadDim, h.Heads, h.Embd)
	case moeEvery != 0:
		return bad("moe_every_n_layers %d: mixture-of-experts encoders (nomic-bert-moe) are not supported", moeEvery)
	}
	h.TokenTypes = int(types)
	if rotates(a) {
		if h.Rope, err = d.Rope(true, d.RopeBase); err != nil {
			return h, err
		}
	}
	return h, nil
}
