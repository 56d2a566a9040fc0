package qwen3moe

import (
	"context"

	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
)

// Pooling implements model.Embedder: the file's pooling_type, PoolingNone
// (the last token) for the usual file, which declares none.
func (m *Model) Pooling() model.Pooling { return m.hp.Pooling }

// Embed implements model.Embedder: it runs tokens through the layers with
// a cache of its own (fp16, as llama.cpp's embedding context keeps it) and
// pools the final normed hidden states, those the classifier would read.
// Attention stays causal, as in llama.cpp for this architecture.
func (m *Model) Embed(ctx context.Context, tokens []int32, pool model.Pooling, dst []float32) error {
	if err := model.CheckEmbed(m.info, tokens, pool, dst, m.hp.Context); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, err := kvcache.New(m.hp.Layers, len(tokens), m.hp.KVHeads, m.hp.HeadDim, true)
	if err != nil {
		return err
	}
	return model.EmbedDecoder(ctx, m.info, c, tokens, pool, m.batch, dst,
		func(ctx context.Context, tokens []int32, pos []int, caches []*kvcache.Cache, out []bool) ([]float32, error) {
			k, err := m.hidden(ctx, tokens, pos, caches, out)
			return m.s.xb[:k*m.hp.Embd], err
		})
}
