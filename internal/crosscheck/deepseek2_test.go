package crosscheck

import "testing"

// TestDeepseek2CrossCheckCanFail shows the deepseek2 cross-check sees the
// parts of latent attention and of DeepSeek-V3's router.
func TestDeepseek2CrossCheckCanFail(t *testing.T) {
	// swapHeads exchanges the matrices of heads 0 and 1 of a per-head
	// tensor of 4 heads.
	swapHeads := func(b []byte) []byte {
		h := len(b) / 4
		a := append([]byte(nil), b[:h]...)
		copy(b[:h], b[h:2*h])
		copy(b[h:2*h], a)
		return b
	}
	checkMutations(t, "deepseek2 mla-v3", []mutation{
		{"attn_k_b heads 0 and 1 swapped", editTensors("attn_k_b.weight", swapHeads)},
		{"attn_v_b heads 0 and 1 swapped", editTensors("attn_v_b.weight", swapHeads)},
		{"latent norm zeroed", zeroTensors("attn_kv_a_norm.weight")},
		{"query norm zeroed", zeroTensors("attn_q_a_norm.weight")},
		{"selection bias zeroed", zeroTensors("exp_probs_b.bias")},
		{"shared expert zeroed", zeroTensors("ffn_down_shexp.weight")},
		{"yarn_log_multiplier 0.1→0.2", editKV("deepseek2.rope.scaling.yarn_log_multiplier", float32(0.2))},
		{"YaRN off", editKV("deepseek2.rope.scaling.type", "none")},
		{"softmax gating instead of sigmoid", editKV("deepseek2.expert_gating_func", uint32(1))},
		{"weights not renormalised", editKV("deepseek2.expert_weights_norm", false)},
		{"weights scale 2.5→1", editKV("deepseek2.expert_weights_scale", float32(1))},
		{"every expert group used", editKV("deepseek2.expert_group_count", uint32(0))},
	})
}
