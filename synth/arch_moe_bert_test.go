package synth_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/synth"
	"github.com/ondo-ai/ondo/tensor"
	"github.com/ondo-ai/ondo/tokenizer"
)

// TestMoEAndEncoderArchs writes the mixture-of-experts (llama with
// experts, qwen3moe) and encoder (bert, nomic-bert) synthetic models and
// checks the tensors and keys llama.cpp looks for, and that the router stays
// float32 in a quantized file as llama.cpp's quantizer leaves it.
func TestMoEAndEncoderArchs(t *testing.T) {
	cases := []struct {
		arch    string
		edit    func(*synth.Config)
		tensors map[string][]int64
		absent  []string
		keys    map[string]any
	}{
		{"llama", func(c *synth.Config) { c.Experts = 4 }, map[string][]int64{
			"blk.0.ffn_gate_inp.weight": {256, 4}, "blk.1.ffn_gate_exps.weight": {256, 128, 4},
			"blk.0.ffn_up_exps.weight": {256, 128, 4}, "blk.0.ffn_down_exps.weight": {128, 256, 4},
		}, []string{"blk.0.ffn_gate.weight"}, map[string]any{"llama.expert_count": uint32(4), "llama.expert_used_count": uint32(2)}},
		{"qwen3moe", func(c *synth.Config) { c.ExpertFFN, c.HeadDim = 64, 128 }, map[string][]int64{
			"blk.0.ffn_gate_inp.weight": {256, 8}, "blk.0.ffn_down_exps.weight": {64, 256, 8},
			"blk.0.attn_q.weight": {256, 512}, "blk.0.attn_output.weight": {512, 256}, "blk.1.attn_k_norm.weight": {128},
		}, nil, map[string]any{
			"qwen3moe.expert_count": uint32(8), "qwen3moe.expert_used_count": uint32(2),
			"qwen3moe.expert_feed_forward_length": uint32(64), "qwen3moe.attention.key_length": uint32(128),
		}},
		{"bert", nil, map[string][]int64{
			"position_embd.weight": {256, 256}, "token_types.weight": {256, 2}, "token_embd_norm.bias": {256},
			"blk.0.attn_q.bias": {256}, "blk.1.ffn_up.bias": {128}, "blk.1.layer_output_norm.bias": {256},
		}, []string{"output_norm.weight", "blk.0.attn_qkv.weight"}, map[string]any{
			"bert.attention.layer_norm_epsilon": float32(1e-12), "bert.pooling_type": uint32(1),
			"bert.attention.causal": false, "tokenizer.ggml.token_type_count": uint32(2), "tokenizer.ggml.model": "bert",
		}},
		{"nomic-bert", nil, map[string][]int64{
			"blk.0.attn_qkv.weight": {256, 768}, "blk.0.ffn_gate.weight": {256, 128},
		}, []string{"position_embd.weight", "blk.0.ffn_up.bias"}, map[string]any{"nomic-bert.rope.freq_base": float32(10000)}},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.arch, func(t *testing.T) {
			c := synth.Config{Arch: tc.arch, Type: "Q4_K_M", Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFN: 128, Vocab: 300, Ctx: 256, Seed: 3}
			if tc.edit != nil {
				tc.edit(&c)
			}
			path := filepath.Join(dir, tc.arch+".gguf")
			if err := synth.Write(path, c); err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for name, shape := range tc.tensors {
				ti, ok := f.Tensor(name)
				if !ok {
					t.Errorf("missing tensor %s", name)
					continue
				}
				if !slices.Equal(ti.Shape, shape) {
					t.Errorf("%s: shape %v, want %v", name, ti.Shape, shape)
				}
				if strings.Contains(name, "gate_inp") && ti.Type != tensor.F32 {
					t.Errorf("%s: type %v, want F32", name, ti.Type)
				}
			}
			for _, name := range tc.absent {
				if _, ok := f.Tensor(name); ok {
					t.Errorf("unexpected tensor %s", name)
				}
			}
			for key, want := range tc.keys {
				kv, ok := f.Lookup(key)
				if !ok || kv.Value != want {
					t.Errorf("%s = %v (present %v), want %v", key, kv.Value, ok, want)
				}
			}
			if _, err := tokenizer.FromGGUF(f, tokenizer.Options{}); err != nil {
				t.Errorf("tokenizer: %v", err)
			}
		})
	}
}

// TestWordPieceVocab checks the encoder vocabulary: the special tokens
// first, then word-initial and continuation pieces, all distinct, and a
// tokenizer built from it splits words into known pieces between [CLS] and
// [SEP].
func TestWordPieceVocab(t *testing.T) {
	toks, types := synth.WordPieceVocab(300)
	if len(toks) != 300 || len(types) != 300 {
		t.Fatalf("%d tokens, %d types", len(toks), len(types))
	}
	if !slices.Equal(toks[:5], []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}) {
		t.Errorf("specials %v", toks[:5])
	}
	seen := map[string]bool{}
	for _, s := range toks {
		if seen[s] {
			t.Errorf("duplicate %q", s)
		}
		seen[s] = true
	}
	path := filepath.Join(t.TempDir(), "bert.gguf")
	if err := synth.Write(path, synth.Config{Arch: "bert", Dim: 64, Layers: 1, Heads: 2, FFN: 64, Vocab: 300, Ctx: 32}); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tk, err := tokenizer.FromGGUF(f, tokenizer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ids := tk.Encode("Hello, World!", tokenizer.EncodeOptions{AddSpecial: true})
	if ids[0] != 2 || ids[len(ids)-1] != 3 || slices.Contains(ids, 1) {
		t.Errorf("ids %v: want [CLS] … [SEP] and no [UNK]", ids)
	}
}

// TestMoEConfigErrors checks the settings synth refuses.
func TestMoEConfigErrors(t *testing.T) {
	base := synth.Config{Arch: "llama", Dim: 64, Layers: 1, Heads: 2, FFN: 64, Vocab: 300, Ctx: 32}
	for _, tc := range []struct {
		edit func(*synth.Config)
		want string
	}{
		{func(c *synth.Config) { c.Experts, c.ExpertsUsed = 4, 5 }, "experts-used 5 must be between 1 and experts 4"},
		{func(c *synth.Config) { c.ExpertsUsed = 2 }, "experts-used and expert-ffn need experts"},
		{func(c *synth.Config) { c.Experts, c.ExpertFFN = 4, 32 }, "llama experts are feed_forward_length wide"},
		{func(c *synth.Config) { c.Arch, c.ExpertsUsed = "qwen3moe", 9 }, "experts-used 9 must be between 1 and experts 8"},
		{func(c *synth.Config) { c.Arch, c.Experts = "bert", 2 }, "bert has no experts"},
	} {
		c := base
		tc.edit(&c)
		err := synth.Write(filepath.Join(t.TempDir(), "x.gguf"), c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
