package model

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model/layers"
)

// Pooling says how one embedding vector is made from the final hidden
// states of a sequence's tokens. The values are GGUF's {arch}.pooling_type
// (llama.cpp's llama_pooling_type).
type Pooling int

// The pooling types, llama.cpp's five.
const (
	// PoolingNone is what a file without pooling_type declares. As in
	// llama.cpp's embedding context, the embedding is then the last
	// token's hidden state.
	PoolingNone Pooling = 0
	// PoolingMean averages the hidden states of every token.
	PoolingMean Pooling = 1
	// PoolingCLS takes the first token's hidden state ([CLS] for BERT).
	PoolingCLS Pooling = 2
	// PoolingLast takes the last token's hidden state.
	PoolingLast Pooling = 3
	// PoolingRank marks a reranker: a classification head scores the
	// pooled state of a query–document pair (see [Ranker]); it makes no
	// embedding.
	PoolingRank Pooling = 4
)

var poolingNames = [...]string{"none", "mean", "cls", "last", "rank"}

// String returns the pooling's name: none, mean, cls, last or rank.
func (p Pooling) String() string {
	if p >= 0 && int(p) < len(poolingNames) {
		return poolingNames[p]
	}
	return fmt.Sprintf("pooling(%d)", int(p))
}

// ParsePooling returns the pooling named s (none, mean, cls or last).
func ParsePooling(s string) (Pooling, error) {
	for i, n := range poolingNames {
		if s == n {
			return Pooling(i), nil
		}
	}
	return 0, fmt.Errorf("unknown pooling %q (want none, mean, cls or last)", s)
}

// ReadPooling reads the optional {arch}.pooling_type key: PoolingNone when
// absent, an error naming the key for a value ondo does not implement.
func (m *Meta) ReadPooling() Pooling {
	v := m.IntOr("pooling_type", int(PoolingNone))
	if m.err != nil {
		return PoolingNone
	}
	if v < 0 || v >= len(poolingNames) {
		m.fail(fmt.Errorf("metadata key %q: unknown pooling type %d (want 0 none, 1 mean, 2 cls, 3 last or 4 rank)", m.Key("pooling_type"), v))
	}
	return Pooling(v)
}

// Embedder is implemented by models that turn a token sequence into one
// embedding vector. Decoders pool their final hidden states (after the
// output norm, before the classifier); encoders such as BERT pool the
// output of their last layer.
type Embedder interface {
	// Pooling returns the pooling the file declares, PoolingNone when it
	// declares none.
	Pooling() Pooling
	// Embed evaluates tokens as one sequence of its own, starting at
	// position 0 (no cache is read or changed), pools the final hidden
	// states as pool says and writes the result, not normalised, to
	// dst[:Info().EmbeddingLength]. Calls are serialised with Forward.
	Embed(ctx context.Context, tokens []int32, pool Pooling, dst []float32) error
}

// Ranker is implemented by models that can carry a reranker's
// classification head (pooling_type rank). Rank evaluates tokens, a query
// and a document formatted as the model expects, as one sequence of its
// own and returns the relevance score: the first output of the head, as
// llama.cpp's rank pooling computes it (a raw logit for BERT-style heads,
// the probability of "yes" for Qwen3 rerankers). A model without a head
// returns an error wrapping ErrNotRanker.
type Ranker interface {
	Rank(ctx context.Context, tokens []int32) (float32, error)
}

// ErrNotRanker is wrapped by Rank's error on a model that has no reranking
// head.
var ErrNotRanker = errors.New("the model is not a reranker (it has no classification head)")

// ErrReranker is wrapped by Embed's error when asked for rank pooling,
// which is a reranker's score, not an embedding.
var ErrReranker = errors.New("rank pooling scores a query–document pair with a reranker's head and makes no embedding (POST /v1/rerank)")

// ErrEmbeddingOnly is wrapped by the errors of an embedding model (an
// encoder such as BERT) asked for logits or a KV cache.
var ErrEmbeddingOnly = errors.New("the model computes embeddings only")

// PoolRows pools the n rows of hidden (each dim wide) into dst as p says:
// the mean (accumulated in float64, as ggml sums), the first row, or the
// last row for PoolingLast and PoolingNone.
func PoolRows(dst, hidden []float32, n, dim int, p Pooling) {
	switch p {
	case PoolingMean:
		for j := 0; j < dim; j++ {
			var s float64
			for i := 0; i < n; i++ {
				s += float64(hidden[i*dim+j])
			}
			dst[j] = float32(s / float64(n))
		}
	case PoolingCLS:
		copy(dst[:dim], hidden[:dim])
	default:
		copy(dst[:dim], hidden[(n-1)*dim:n*dim])
	}
}

// CheckEmbed checks the arguments of an Embed call against the model
// described by info: at least one token, each in the vocabulary, no more
// than limit positions (the trained context) and a large enough dst.
func CheckEmbed(info Info, tokens []int32, pool Pooling, dst []float32, limit int) error {
	switch {
	case len(tokens) == 0:
		return fmt.Errorf("%s: nothing to embed: no tokens", info.Arch)
	case len(tokens) > limit:
		return fmt.Errorf("%s: %d tokens exceed the context length %d", info.Arch, len(tokens), limit)
	case len(dst) < info.EmbeddingLength:
		return fmt.Errorf("%s: embedding buffer of %d for %d dimensions", info.Arch, len(dst), info.EmbeddingLength)
	case pool == PoolingRank:
		return fmt.Errorf("%s: %w", info.Arch, ErrReranker)
	case pool < PoolingNone || pool > PoolingLast:
		return fmt.Errorf("%s: unknown pooling %d", info.Arch, int(pool))
	}
	for i, tok := range tokens {
		if tok < 0 || int(tok) >= info.VocabSize {
			return fmt.Errorf("%s: token %d at index %d out of range [0, %d)", info.Arch, tok, i, info.VocabSize)
		}
	}
	return nil
}

// HiddenPass runs one pass of a decoder's layers over tokens at positions
// pos, storing keys and values in caches, and returns the final normed
// hidden states of the tokens marked in out, one row each. The returned
// slice may be reused by the next pass.
type HiddenPass func(ctx context.Context, tokens []int32, pos []int, caches []*kvcache.Cache, out []bool) ([]float32, error)

// EmbedDecoder is the body of a decoder's Embed: it evaluates tokens as
// one sequence from position 0 in c, a fresh cache, in passes of at most
// batch tokens, keeping only the rows pool needs, and pools them into dst.
// The caller has checked the arguments with [CheckEmbed] and holds the
// model's lock.
func EmbedDecoder(ctx context.Context, info Info, c *kvcache.Cache, tokens []int32, pool Pooling, batch int, dst []float32, pass HiddenPass) error {
	// There are no logits, so the plan's buffer check is moot.
	p, err := NewPlan(SeqBatch(c, tokens, 0, pool == PoolingMean), info, math.MaxInt)
	if err != nil {
		return err
	}
	if pool == PoolingCLS {
		clear(p.Out)
		p.Out[0] = true
	}
	n, dim := len(tokens), info.EmbeddingLength
	var hidden []float32
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		rows, err := pass(ctx, p.Tokens[lo:hi], p.Pos[lo:hi], p.Cache[lo:hi], p.Out[lo:hi])
		if err != nil {
			return err
		}
		hidden = append(hidden, rows...)
	}
	PoolRows(dst, hidden, len(hidden)/dim, dim, pool)
	return nil
}

// ClassifyHead applies a reranker's output layer to one pooled state:
// out·x (+ bias), softmax over the outputs when softmax is set, and
// returns the first output, the relevance score llama.cpp reports.
func ClassifyHead(p *kernels.Pool, out *layers.Linear, x []float32, softmax bool) float32 {
	y := make([]float32, out.W.Rows)
	out.Forward(p, y, x, 1)
	if softmax {
		kernels.Softmax(y)
	}
	return y[0]
}
