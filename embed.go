package ondo

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/tokenizer"
)

// ErrNoEmbeddings is wrapped by the error of Embed on a model whose
// architecture does not compute embeddings.
var ErrNoEmbeddings = errors.New("the architecture does not compute embeddings")

// EmbedOptions tune Embed.
type EmbedOptions struct {
	// Pooling replaces the file's pooling_type: "mean", "cls", "last" or
	// "none" (which, as in llama.cpp, means the last token). Empty keeps
	// the file's.
	Pooling string
	// Unnormalized returns the pooled hidden state as it is, which is what
	// llama.cpp's embedding context returns, instead of scaling it to unit
	// length.
	Unnormalized bool
}

// Embed returns one embedding per text, computed as llama.cpp's embedding
// context computes it and then scaled to unit (L2) length, so that the dot
// product of two embeddings is their cosine similarity.
//
// Each text is tokenized with the model's special tokens ([CLS] … [SEP]
// for BERT, BOS and, when the model asks for it, EOS for decoders) and
// evaluated on its own, from position 0, without touching any session. The
// final hidden states (the last layer's output for an encoder, the output
// norm's for a decoder) are pooled as the file's pooling_type says: the
// mean over the tokens, the first token ([CLS]) or the last token; a file
// that declares no pooling, as decoders usually do, gets the last token.
// ctx is checked between layers.
func (m *Model) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	return m.EmbedWith(ctx, texts, EmbedOptions{})
}

// EmbedWith is Embed with options.
func (m *Model) EmbedWith(ctx context.Context, texts []string, opts EmbedOptions) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, text := range texts {
		toks := m.tok.Encode(text, tokenizer.EncodeOptions{AddSpecial: true})
		v, err := m.EmbedTokens(ctx, toks, opts)
		if err != nil {
			if len(texts) > 1 {
				return nil, fmt.Errorf("text %d: %w", i, err)
			}
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// EmbedTokens is Embed for one token sequence, used as given (no special
// tokens are added).
func (m *Model) EmbedTokens(ctx context.Context, tokens []int32, opts EmbedOptions) ([]float32, error) {
	e, ok := m.net.(model.Embedder)
	if !ok {
		return nil, fmt.Errorf("ondo: %s: %w", m.Info().Arch, ErrNoEmbeddings)
	}
	pool := e.Pooling()
	if opts.Pooling != "" {
		p, err := model.ParsePooling(opts.Pooling)
		if err != nil {
			return nil, fmt.Errorf("ondo: %w", err)
		}
		pool = p
	}
	if len(tokens) == 0 {
		return nil, errors.New("ondo: nothing to embed: the text is empty and the model adds no special tokens")
	}
	v := make([]float32, m.Info().EmbeddingLength)
	if err := e.Embed(ctx, tokens, pool, v); err != nil {
		return nil, err
	}
	if !opts.Unnormalized {
		normalize(v)
	}
	return v, nil
}

// Pooling returns the pooling Embed uses by default (the file's
// pooling_type), and false when the model does not compute embeddings.
func (m *Model) Pooling() (model.Pooling, bool) {
	e, ok := m.net.(model.Embedder)
	if !ok {
		return 0, false
	}
	return e.Pooling(), true
}

// normalize scales v to unit Euclidean length in the steps of llama.cpp's
// common_embd_normalize (float squares summed in double, the reciprocal
// rounded to float); a zero vector stays zero.
func normalize(v []float32) {
	var sum float64
	for _, x := range v {
		sum += float64(x * x)
	}
	if sum == 0 {
		return
	}
	s := float32(1 / math.Sqrt(sum))
	for i := range v {
		v[i] *= s
	}
}
