package synth

import (
	"fmt"

	"github.com/ondo-ai/ondo/gguf"
)

// family describes a dense decoder by how its tensors differ from Llama's,
// so that one function writes all of them as llama.cpp's converter does.
type family struct {
	preNorms  bool // attn_norm and ffn_norm
	postNorms bool // post_attention_norm and post_ffw_norm
	// qkNorm is "head" for per-head RMS norms of queries and keys, "full"
	// for norms over all of a token's queries (and keys), as OLMo 2 has.
	qkNorm   string
	qkvBias  bool // attn_q, attn_k, attn_v biases
	fusedFFN bool // ffn_up holds the gate rows then the up rows (no ffn_gate)
	untied   bool // the architecture always has output.weight
	// moe makes every feed-forward a mixture of Experts SwiGLUs of FFN
	// (ExpertsUsed per token) beside a shared SwiGLU expert of FFN/2.
	moe bool
	// metadata adds the family's own keys.
	metadata func(c *Config) []gguf.KV
}

// families are the dense decoders written by familyWeights.
var families = map[string]family{
	// EXAONE 3.0/3.5/Deep: Llama's layout, NeoX rotation (in llama.cpp).
	"exaone": {preNorms: true},
	// EXAONE 4.0: no pre-norms; norms after attention and feed-forward;
	// per-head q/k norms. Sliding layers exist only in the 64-layer shape.
	"exaone4": {postNorms: true, qkNorm: "head", metadata: exaone4Metadata},
	// SmolLM3: Llama's layout; every fourth layer does not rotate.
	"smollm3": {preNorms: true},
	// OLMo 2: post-norms only, q/k norms over the whole projection, a
	// separate classifier.
	"olmo2": {postNorms: true, qkNorm: "full", untied: true},
	// GLM-4 (9B, 32B): norms before and after both blocks, q/k/v biases,
	// the gate and up projections fused in ffn_up, half of each head
	// rotated with adjacent pairs.
	"glm4": {preNorms: true, postNorms: true, qkvBias: true, fusedFFN: true, metadata: glm4Metadata},
	// Granite 3.x: Llama's layout with four muP multipliers, dense or a
	// mixture of experts with a shared expert.
	"granite":    {preNorms: true, metadata: graniteMetadata},
	"granitemoe": {preNorms: true, moe: true, metadata: graniteMetadata},
	// Ministral / Mistral Small 3.x text: Llama's layout with YaRN and
	// attention temperature tuning.
	"mistral3": {preNorms: true, metadata: mistral3Metadata},
}

func init() {
	for name := range families {
		registerArch(name, arch{validate: familyValidate, weights: familyWeights, metadata: familyMetadata})
	}
}

func familyValidate(c *Config) error {
	if c.HeadDim == 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	f := families[c.Arch]
	switch {
	case c.HeadDim%2 != 0:
		return fmt.Errorf("synth: head dimension %d must be even for RoPE", c.HeadDim)
	case f.moe:
		if c.ExpertFFN != 0 && c.ExpertFFN != c.FFN {
			return fmt.Errorf("synth: %s experts are feed_forward_length wide: expert-ffn %d must be 0 or ffn %d", c.Arch, c.ExpertFFN, c.FFN)
		}
		return validateExperts(c)
	case c.Experts != 0:
		return fmt.Errorf("synth: %s has no mixture of experts", c.Arch)
	case f.untied && !c.Untied:
		c.Untied = true
	}
	return nil
}

// familyWeights are the tensors of a family's model. Norms after a block
// carry the weight scale (see postNorm); q/k norms carry the attention
// scale that the projections carry in Llama.
func familyWeights(c *Config, s scales) []weight {
	f := families[c.Arch]
	d, hd := int64(c.Dim), int64(c.HeadDim)
	q, kv := int64(c.Heads)*hd, int64(c.KVHeads)*hd
	ffn, vocab := int64(c.FFN), int64(c.Vocab)
	qk := s.qk(d)
	if f.qkNorm != "" {
		qk = s.proj(d)
	}
	g := s.weight * s.attn
	ws := []weight{{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)}}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		if f.preNorms {
			ws = append(ws, norm(p+"attn_norm.weight", d))
		}
		ws = append(ws,
			weight{p + "attn_q.weight", []int64{d, q}, 0, qk},
			weight{p + "attn_k.weight", []int64{d, kv}, 0, qk},
			weight{p + "attn_v.weight", []int64{d, kv}, 0, s.proj(d)},
			weight{p + "attn_output.weight", []int64{q, d}, 0, s.proj(q)},
		)
		if f.qkvBias {
			ws = append(ws,
				weight{p + "attn_q.bias", []int64{q}, 0, 0.2 * qk},
				weight{p + "attn_k.bias", []int64{kv}, 0, 0.2 * qk},
				weight{p + "attn_v.bias", []int64{kv}, 0, 0.1},
			)
		}
		switch f.qkNorm {
		case "head":
			ws = append(ws, weight{p + "attn_q_norm.weight", []int64{hd}, g, 0.1 * g}, weight{p + "attn_k_norm.weight", []int64{hd}, g, 0.1 * g})
		case "full":
			ws = append(ws, weight{p + "attn_q_norm.weight", []int64{q}, g, 0.1 * g}, weight{p + "attn_k_norm.weight", []int64{kv}, g, 0.1 * g})
		}
		if f.postNorms {
			ws = append(ws, postNorm(p+"post_attention_norm.weight", d, s))
		}
		if f.preNorms {
			ws = append(ws, norm(p+"ffn_norm.weight", d))
		}
		if f.moe {
			sh := ffn / 2
			ws = append(ws, expertWeights(p, d, ffn, int64(c.Experts), s)...)
			ws = append(ws,
				weight{p + "ffn_gate_shexp.weight", []int64{d, sh}, 0, s.proj(d)},
				weight{p + "ffn_up_shexp.weight", []int64{d, sh}, 0, s.proj(d)},
				weight{p + "ffn_down_shexp.weight", []int64{sh, d}, 0, s.proj(sh)},
			)
			continue
		}
		if f.fusedFFN {
			ws = append(ws, weight{p + "ffn_up.weight", []int64{d, 2 * ffn}, 0, s.proj(d)})
		} else {
			ws = append(ws,
				weight{p + "ffn_gate.weight", []int64{d, ffn}, 0, s.proj(d)},
				weight{p + "ffn_up.weight", []int64{d, ffn}, 0, s.proj(d)},
			)
		}
		ws = append(ws, weight{p + "ffn_down.weight", []int64{ffn, d}, 0, s.proj(ffn)})
		if f.postNorms {
			ws = append(ws, postNorm(p+"post_ffw_norm.weight", d, s))
		}
	}
	ws = append(ws, norm("output_norm.weight", d))
	if c.Untied {
		ws = append(ws, weight{"output.weight", []int64{d, vocab}, 0, s.embd(d)})
	}
	return ws
}

func familyMetadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	kvs := append(shapeKeys(c),
		gguf.NewKV(a+"vocab_size", uint32(c.Vocab)),
		gguf.NewKV(a+"attention.key_length", uint32(c.HeadDim)),
		gguf.NewKV(a+"attention.value_length", uint32(c.HeadDim)),
		gguf.NewKV(a+"rope.freq_base", c.RopeBase),
		gguf.NewKV(a+"attention.layer_norm_rms_epsilon", float32(1e-5)),
	)
	if families[c.Arch].moe {
		kvs = append(kvs,
			gguf.NewKV(a+"expert_count", uint32(c.Experts)),
			gguf.NewKV(a+"expert_used_count", uint32(c.ExpertsUsed)),
			gguf.NewKV(a+"expert_shared_feed_forward_length", uint32(c.FFN/2)),
		)
	}
	if m := families[c.Arch].metadata; m != nil {
		kvs = append(kvs, m(c)...)
	}
	return kvs
}

// exaone4Metadata sets the sliding window, which llama.cpp applies only to
// the 64-layer shape (three sliding layers of every four; the fourth
// neither slides nor rotates).
func exaone4Metadata(c *Config) []gguf.KV {
	if c.SlidingWindow == 0 {
		return nil
	}
	return []gguf.KV{gguf.NewKV(c.Arch+".attention.sliding_window", uint32(c.SlidingWindow))}
}

// glm4Metadata rotates half of each head, as GLM-4 does.
func glm4Metadata(c *Config) []gguf.KV {
	return []gguf.KV{gguf.NewKV(c.Arch+".rope.dimension_count", uint32(c.HeadDim/2))}
}

// Granite's multipliers, away from 1 so that a test notices each.
const (
	graniteEmbeddingScale = 3
	graniteResidualScale  = 0.5
	graniteAttentionScale = 0.1
	graniteLogitScale     = 2
)

func graniteMetadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	return []gguf.KV{
		gguf.NewKV(a+"embedding_scale", float32(graniteEmbeddingScale)),
		gguf.NewKV(a+"residual_scale", float32(graniteResidualScale)),
		gguf.NewKV(a+"attention.scale", float32(graniteAttentionScale)),
		gguf.NewKV(a+"logit_scale", float32(graniteLogitScale)),
	}
}

// mistral3Metadata stretches the context fourfold with YaRN from an
// original 16 positions and tunes the attention temperature, so that both
// act within a test prompt (the temperature steps every 16 positions).
func mistral3Metadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	return []gguf.KV{
		gguf.NewKV(a+"rope.scaling.type", "yarn"),
		gguf.NewKV(a+"rope.scaling.factor", float32(4)),
		gguf.NewKV(a+"rope.scaling.original_context_length", uint32(16)),
		gguf.NewKV(a+"attention.temperature_scale", float32(0.1)),
	}
}
