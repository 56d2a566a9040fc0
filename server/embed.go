package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"

	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/tokenizer"
)

// embedder computes embeddings with a loaded model. It is an interface so
// that the way vectors are made can change without touching the handlers.
// Today it is netEmbedder: the primitive ondo.Model.Embed is built on
// (model.Embedder), run on the network the server already holds, so that
// embeddings need no second load, count in the memory budget and are
// serialised with the engine by the model's own lock; it gives the same
// vectors as ondo.Model.Embed (see TestEmbeddingsMatchLibrary).
type embedder interface {
	// Embed returns one L2-normalised vector per input and the number of
	// tokens evaluated. An input longer than the model's context is cut to
	// it when truncate is set, and is a 400 otherwise.
	Embed(ctx context.Context, inputs []string, truncate bool) (vecs [][]float32, tokens int, err error)
}

// newEmbedder returns the embedder of a loaded model, or a 400 saying why
// the model cannot embed.
func newEmbedder(r *runner) (embedder, error) {
	e, ok := r.net.(model.Embedder)
	if !ok {
		return nil, &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "embeddings_unsupported", Param: "model",
			Msg: fmt.Sprintf("model %q (%s) does not support embeddings", r.name, r.info.Arch)}
	}
	if e.Pooling() == model.PoolingRank {
		return nil, &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "embeddings_unsupported", Param: "model",
			Msg: fmt.Sprintf("model %q is a reranker: it scores query–document pairs (POST /v1/rerank) and makes no embeddings", r.name)}
	}
	limit := r.info.ContextLength
	if limit <= 0 {
		limit = r.context
	}
	return &netEmbedder{net: e, tok: r.tok, dim: r.info.EmbeddingLength, limit: limit, name: r.name}, nil
}

// netEmbedder embeds with the network's own pooling (model.Embedder).
type netEmbedder struct {
	net   model.Embedder
	tok   *tokenizer.Tokenizer
	dim   int
	limit int
	name  string
}

// Embed implements embedder.
func (e *netEmbedder) Embed(ctx context.Context, inputs []string, truncate bool) ([][]float32, int, error) {
	out := make([][]float32, len(inputs))
	total := 0
	for i, text := range inputs {
		ids := e.tok.Encode(text, tokenizer.EncodeOptions{AddSpecial: true})
		if len(ids) == 0 {
			return nil, 0, badRequest("input", "input %d is empty and the model adds no special tokens: nothing to embed", i)
		}
		if len(ids) > e.limit {
			if !truncate {
				return nil, 0, badRequest("input", "input %d has %d tokens, more than the context length of %d of model %q (set truncate to cut it)", i, len(ids), e.limit, e.name)
			}
			ids = ids[:e.limit]
		}
		v := make([]float32, e.dim)
		if err := e.net.Embed(ctx, ids, e.net.Pooling(), v); err != nil {
			if ctx.Err() != nil {
				return nil, 0, ctx.Err()
			}
			return nil, 0, err
		}
		normalize(v)
		out[i] = v
		total += len(ids)
	}
	return out, total, nil
}

// normalize scales v to unit length, as both Ollama and OpenAI return
// embeddings, with the arithmetic of ondo.Model.Embed (llama.cpp's
// common_embd_normalize: float squares summed in double, the reciprocal
// rounded to float), so that both give the same vectors; a zero vector
// stays zero.
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

// embedderOf returns r's embedder, made on first use.
func (m *manager) embedderOf(r *runner) (embedder, error) {
	r.embedOnce.Do(func() { r.emb, r.embErr = m.newEmb(r) })
	return r.emb, r.embErr
}

// errNotGenerative is returned for generation on an embedding-only model.
func errNotGenerative(name string) error {
	return &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "model_not_generative", Param: "model",
		Msg: fmt.Sprintf("model %q computes embeddings only: use /v1/embeddings or /api/embed", name)}
}

// isEmbeddingOnly reports whether err says a model cannot generate.
func isEmbeddingOnly(err error) bool { return errors.Is(err, model.ErrEmbeddingOnly) }
