// Package qwen3 implements the dense Qwen3 architecture (general.architecture
// "qwen3"): Qwen3 0.6B to 32B, and the Qwen3 embedding models evaluated as
// language models. Importing the package registers it with package model.
//
// The network is Qwen2's without the q/k/v biases and with two additions:
// every head of the queries and of the keys is RMS-normalised with a
// weight of its own (attn_q_norm, attn_k_norm) before the rotary
// embedding, and the head size is attention.key_length, which need not be
// embedding_length/head_count.
//
// A file with pooling_type last is an embedding model (Qwen3-Embedding);
// one with pooling_type rank and a cls.output head is a reranker
// (Qwen3-Reranker: the head holds the classifier rows of "yes" and "no",
// and the score is P("yes") at the last token). Qwen3-MoE (qwen3moe),
// Qwen3-Next and Qwen3-VL are other architectures.
package qwen3

import (
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
)

const arch = "qwen3"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "Qwen3 dense: per-head q/k RMS norms, NeoX RoPE")
}

// Load builds a Qwen3 model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	hp, _, err := decoder.ReadHyper(f, arch)
	if err != nil {
		return nil, err
	}
	if hp.Experts > 0 {
		return nil, decoder.Errorf(&hp, "mixture-of-experts models (expert_count %d) are not supported here: Qwen3-MoE files are architecture qwen3moe", hp.Experts)
	}
	rope, err := hp.Rope(true, hp.RopeBase)
	if err != nil {
		return nil, err
	}
	l := decoder.NewLoader(f, &hp)
	r := l.Recipe(decoder.MaybeTied)
	r.Ropes = []decoder.Rotation{{Rope: rope}}
	r.Rank = decoder.RankHead{Pool: model.PoolingLast, Out: l.ClsOut(), Softmax: true} // Qwen3-Reranker: P("yes") of "yes", "no"
	l.Layers(&r, decoder.PreNorms, func(_ int, p string, b *decoder.Block) {
		l.QKNorm(b, p)
		b.FFN = l.SwiGLU(p)
	})
	return l.Finish(r, cfg)
}
