package synth

import (
	"fmt"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("gemma4", arch{validate: gemma4Validate, weights: gemma4Weights, metadata: gemma4Metadata, fixed: gemma4Fixed})
}

// The synthetic Gemma 4 shape: sliding layers with heads of HeadDim over
// KVHeads, global layers (every sixth, the last) with heads twice as wide
// over one key/value head and no attn_v (values from the keys), rotating a
// quarter of each head ("proportional" RoPE).
const gemma4Period = 6

func gemma4Validate(c *Config) error {
	if err := gemmaValidate(c); err != nil {
		return err
	}
	if c.Layers < gemma4Period {
		return fmt.Errorf("synth: gemma4 needs at least %d layers for a global one", gemma4Period)
	}
	if c.SharedKV < 0 || c.PerLayer < 0 || c.SharedKV > 0 && !gemma4Global(c.Layers-c.SharedKV-1) {
		return fmt.Errorf("synth: gemma4's layers sharing keys and values must follow a global layer")
	}
	if c.Experts > 0 { // 26B-A4B: every layer a dense GeGLU beside GeGLU experts of ExpertFFN
		if c.ExpertFFN == 0 {
			c.ExpertFFN = c.FFN / 2
		}
		return validateExperts(c)
	}
	return nil
}

func gemma4Global(l int) bool { return l%gemma4Period == gemma4Period-1 }

func gemma4Weights(c *Config, s scales) []weight {
	d, ffn, vocab := int64(c.Dim), int64(c.FFN), int64(c.Vocab)
	g := s.weight * s.attn
	ws := []weight{
		{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)},
		norm("output_norm.weight", d),
		{"rope_freqs.weight", []int64{int64(c.HeadDim)}, 0, 0}, // see gemma4Fixed
	}
	if pl := int64(c.PerLayer); pl > 0 {
		all := pl * int64(c.Layers)
		ws = append(ws,
			weight{"per_layer_token_embd.weight", []int64{all, vocab}, 0, s.embd(pl)},
			weight{"per_layer_model_proj.weight", []int64{d, all}, 0, s.proj(d)},
			norm("per_layer_proj_norm.weight", pl),
		)
	}
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		hd, kvh := int64(c.HeadDim), int64(c.KVHeads)
		if gemma4Global(l) {
			hd, kvh = 2*hd, 1
		}
		q, kv := int64(c.Heads)*hd, kvh*hd
		own := l < c.Layers-c.SharedKV // has keys and values of its own
		ws = append(ws, gemmaSandwich(p, d, q, hd, ffn, g, s)...)
		ws = append(ws,
			weight{p + "layer_output_scale.weight", []int64{1}, 0.8, 0.1},
		)
		if own {
			ws = append(ws,
				weight{p + "attn_k.weight", []int64{d, kv}, 0, s.proj(d)},
				weight{p + "attn_k_norm.weight", []int64{hd}, g, 0.1 * g},
			)
		}
		if e := int64(c.Experts); e > 0 {
			ef := int64(c.ExpertFFN)
			ws = append(ws,
				weight{p + "ffn_gate_inp.weight", []int64{d, e}, 0, routerSpread(d)},
				weight{p + "ffn_gate_inp.scale", []int64{d}, 1, 0.1},
				weight{p + "ffn_gate_exps.weight", []int64{d, ef, e}, 0, s.proj(d)},
				weight{p + "ffn_up_exps.weight", []int64{d, ef, e}, 0, s.proj(d)},
				weight{p + "ffn_down_exps.weight", []int64{ef, d, e}, 0, s.proj(ef)},
				weight{p + "ffn_down_exps.scale", []int64{e}, 1, 0.3},
				norm(p+"pre_ffw_norm_2.weight", d),
				postNorm(p+"post_ffw_norm_1.weight", d, s),
				postNorm(p+"post_ffw_norm_2.weight", d, s),
			)
		}
		if own && !gemma4Global(l) {
			ws = append(ws, weight{p + "attn_v.weight", []int64{d, kv}, 0, s.proj(d)})
		}
		if pl := int64(c.PerLayer); pl > 0 {
			ws = append(ws,
				weight{p + "inp_gate.weight", []int64{d, pl}, 0, s.proj(d)},
				weight{p + "proj.weight", []int64{pl, d}, 0, s.proj(pl)},
				postNorm(p+"post_norm.weight", d, s),
			)
		}
	}
	return ws
}

func gemma4Metadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	swa := make([]bool, c.Layers)
	kvh := make([]uint32, c.Layers)
	for l := range swa {
		swa[l], kvh[l] = !gemma4Global(l), uint32(c.KVHeads)
		if gemma4Global(l) {
			kvh[l] = 1
		}
	}
	full := uint32(2 * c.HeadDim)
	return append(shapeKeys(c)[:5], // all but head_count_kv, which is per layer
		gguf.NewKV(a+"attention.head_count_kv", kvh),
		gguf.NewKV(a+"attention.key_length", full),
		gguf.NewKV(a+"attention.value_length", full),
		gguf.NewKV(a+"attention.key_length_swa", uint32(c.HeadDim)),
		gguf.NewKV(a+"attention.value_length_swa", uint32(c.HeadDim)),
		gguf.NewKV(a+"rope.dimension_count", full),
		gguf.NewKV(a+"rope.dimension_count_swa", uint32(c.HeadDim)),
		gguf.NewKV(a+"rope.freq_base", c.RopeBase),
		gguf.NewKV(a+"rope.freq_base_swa", float32(10000)),
		gguf.NewKV(a+"attention.sliding_window", uint32(c.SlidingWindow)),
		gguf.NewKV(a+"attention.sliding_window_pattern", swa),
		gguf.NewKV(a+"attention.layer_norm_rms_epsilon", float32(1e-6)),
		gguf.NewKV(a+"embedding_length_per_layer_input", uint32(c.PerLayer)),
		gguf.NewKV(a+"attention.shared_kv_layers", uint32(c.SharedKV)),
		gguf.NewKV(a+"expert_count", uint32(c.Experts)),
		gguf.NewKV(a+"expert_used_count", uint32(c.ExpertsUsed)),
		gguf.NewKV(a+"expert_feed_forward_length", uint32(c.ExpertFFN)),
		gguf.NewKV(a+"final_logit_softcapping", float32(gemma2FinalSoftcap)),
	)
}

// gemma4Fixed is Gemma 4's proportional RoPE on the global layers (heads
// 2·HeadDim wide, so HeadDim pairs): a quarter of the pairs rotate, the
// others have a factor of 1e30, an angle of ~0.
func gemma4Fixed(c *Config) map[string][]float32 {
	freqs := make([]float32, c.HeadDim)
	for i := range freqs {
		freqs[i] = 1
		if i >= c.HeadDim/4 {
			freqs[i] = 1e30
		}
	}
	return map[string][]float32{"rope_freqs.weight": freqs}
}

// gemmaSandwich is a Gemma 3n or 4 block's query, output, feed-forward and
// sandwich norms (hd the head size, g the query norm's scale); the keys and
// values, shared or not, are the family's.
func gemmaSandwich(p string, d, q, hd, ffn int64, g float32, s scales) []weight {
	return []weight{
		norm(p+"attn_norm.weight", d),
		weight{p + "attn_q.weight", []int64{d, q}, 0, s.proj(d)},
		weight{p + "attn_output.weight", []int64{q, d}, 0, s.proj(q)},
		weight{p + "attn_q_norm.weight", []int64{hd}, g, 0.1 * g},
		postNorm(p+"post_attention_norm.weight", d, s),
		norm(p+"ffn_norm.weight", d),
		weight{p + "ffn_gate.weight", []int64{d, ffn}, 0, s.proj(d)},
		weight{p + "ffn_up.weight", []int64{d, ffn}, 0, s.proj(d)},
		weight{p + "ffn_down.weight", []int64{ffn, d}, 0, s.proj(ffn)},
		postNorm(p+"post_ffw_norm.weight", d, s),
	}
}
