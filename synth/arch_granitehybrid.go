package synth

import (
	"fmt"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("granitehybrid", arch{validate: graniteHybridValidate, weights: graniteHybridWeights, metadata: graniteHybridMetadata})
}

// A synthetic Granite 4.0 hybrid: Mamba-2 layers of twice the embedding
// (llama.cpp's only expansion), 8 heads, states of 16 in one group, a
// convolution over 4 inputs; every fourth layer attends instead.
const (
	graniteHybridState = 16
	graniteHybridHeads = 8
	graniteHybridConvK = 4
)

func graniteHybridAttends(layer int) bool { return (layer+1)%4 == 0 }

// graniteHybridValidate checks the settings of a Granite 4.0 hybrid: 4
// layers at least (one attends), dense or Experts experts of FFN with a
// shared expert of FFN/2.
func graniteHybridValidate(c *Config) error {
	if c.HeadDim == 0 {
		c.HeadDim = c.Dim / c.Heads
	}
	switch {
	case c.Layers < 4:
		return fmt.Errorf("synth: granitehybrid needs 4 layers at least (every fourth attends), got %d", c.Layers)
	case (2*c.Dim)%graniteHybridHeads != 0 || c.HeadDim%2 != 0:
		return fmt.Errorf("synth: granitehybrid needs an embedding of a multiple of 4 and an even head size")
	case c.Experts > 0:
		return validateExperts(c)
	}
	return nil
}

// graniteHybridWeights are the tensors of a Granite 4.0 hybrid as
// llama.cpp's converter writes them (ssm_a is −exp(A_log)).
func graniteHybridWeights(c *Config, s scales) []weight {
	d, hd, vocab, ffn := int64(c.Dim), int64(c.HeadDim), int64(c.Vocab), int64(c.FFN)
	q, kv := int64(c.Heads)*hd, int64(c.KVHeads)*hd
	inner, heads := 2*d, int64(graniteHybridHeads)
	ch := inner + 2*graniteHybridState
	ws := []weight{{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)}}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		ws = append(ws, norm(p+"attn_norm.weight", d), norm(p+"ffn_norm.weight", d))
		if graniteHybridAttends(l) {
			ws = append(ws,
				weight{p + "attn_q.weight", []int64{d, q}, 0, s.qk(d)},
				weight{p + "attn_k.weight", []int64{d, kv}, 0, s.qk(d)},
				weight{p + "attn_v.weight", []int64{d, kv}, 0, s.proj(d)},
				weight{p + "attn_output.weight", []int64{q, d}, 0, s.proj(q)})
		} else {
			ws = append(ws,
				weight{p + "ssm_in.weight", []int64{d, inner + ch + heads}, 0, s.proj(d)},
				weight{p + "ssm_conv1d.weight", []int64{graniteHybridConvK, ch}, 0, 0.5},
				weight{p + "ssm_conv1d.bias", []int64{ch}, 0, 0.1},
				weight{p + "ssm_dt.bias", []int64{heads}, 0, 1},
				weight{p + "ssm_a", []int64{1, heads}, -2, 1},
				weight{p + "ssm_d", []int64{1, heads}, 1, 0.5},
				weight{p + "ssm_norm.weight", []int64{inner, 1}, 1, 0.1},
				weight{p + "ssm_out.weight", []int64{inner, d}, 0, s.proj(inner)})
		}
		if c.Experts > 0 {
			ws = append(ws, expertWeights(p, d, ffn, int64(c.Experts), s)...)
			ws = append(ws,
				weight{p + "ffn_gate_shexp.weight", []int64{d, ffn / 2}, 0, s.proj(d)},
				weight{p + "ffn_up_shexp.weight", []int64{d, ffn / 2}, 0, s.proj(d)},
				weight{p + "ffn_down_shexp.weight", []int64{ffn / 2, d}, 0, s.proj(ffn / 2)})
			continue
		}
		ws = append(ws,
			weight{p + "ffn_gate.weight", []int64{d, ffn}, 0, s.proj(d)},
			weight{p + "ffn_up.weight", []int64{d, ffn}, 0, s.proj(d)},
			weight{p + "ffn_down.weight", []int64{ffn, d}, 0, s.proj(ffn)})
	}
	ws = append(ws, norm("output_norm.weight", d))
	if c.Untied {
		ws = append(ws, weight{"output.weight", []int64{d, vocab}, 0, s.embd(d)})
	}
	return ws
}

// graniteHybridMetadata is what llama.cpp's converter writes for a Granite
// 4.0 hybrid: Granite's four multipliers, the Mamba-2 sizes, and
// attention.head_count_kv per layer, 0 for the Mamba-2 layers.
func graniteHybridMetadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	kv := make([]uint32, c.Layers)
	for l := range kv {
		if graniteHybridAttends(l) {
			kv[l] = uint32(c.KVHeads)
		}
	}
	keys := shapeKeys(c)
	for i, k := range keys {
		if k.Key == a+"attention.head_count_kv" {
			keys[i] = gguf.NewKV(k.Key, kv)
		}
	}
	kvs := append(keys,
		gguf.NewKV(a+"attention.key_length", uint32(c.HeadDim)),
		gguf.NewKV(a+"attention.value_length", uint32(c.HeadDim)),
		gguf.NewKV(a+"rope.freq_base", c.RopeBase),
		gguf.NewKV(a+"attention.layer_norm_rms_epsilon", float32(1e-5)),
		gguf.NewKV(a+"ssm.conv_kernel", uint32(graniteHybridConvK)),
		gguf.NewKV(a+"ssm.inner_size", uint32(2*c.Dim)),
		gguf.NewKV(a+"ssm.state_size", uint32(graniteHybridState)),
		gguf.NewKV(a+"ssm.time_step_rank", uint32(graniteHybridHeads)),
		gguf.NewKV(a+"ssm.group_count", uint32(1)),
	)
	kvs = append(kvs, graniteMetadata(c)...)
	if c.Experts > 0 {
		kvs = append(kvs,
			gguf.NewKV(a+"expert_count", uint32(c.Experts)),
			gguf.NewKV(a+"expert_used_count", uint32(c.ExpertsUsed)),
			gguf.NewKV(a+"expert_shared_feed_forward_length", uint32(c.FFN/2)))
	}
	return kvs
}
