package synth

import (
	"fmt"
	"strings"

	"github.com/ondo-ai/ondo/gguf"
)

func init() {
	registerArch("bert", arch{validate: bertValidate, weights: bertWeights, metadata: bertMetadata, tokenizer: wordPieceTokenizer})
	registerArch("nomic-bert", arch{validate: bertValidate, weights: bertWeights, metadata: bertMetadata, tokenizer: wordPieceTokenizer})
	// Jina v2: ALiBi, q/k layer norms, a second attention norm and a GeGLU
	// whose gate and up rows are fused in ffn_up; Jina v3: RoPE and BERT's
	// GELU feed-forward. Neither has position embeddings.
	registerArch("jina-bert-v2", arch{validate: bertValidate, weights: bertWeights, metadata: bertMetadata, tokenizer: wordPieceTokenizer})
	registerArch("jina-bert-v3", arch{validate: bertValidate, weights: bertWeights, metadata: bertMetadata, tokenizer: wordPieceTokenizer})
}

// bertValidate refuses the settings an encoder has no use for. An encoder
// has as many key/value heads as heads: KVHeads is set to Heads.
func bertValidate(c *Config) error {
	c.KVHeads = c.Heads
	if c.Experts != 0 || c.ExpertsUsed != 0 || c.ExpertFFN != 0 {
		return fmt.Errorf("synth: %s has no experts", c.Arch)
	}
	if c.HeadDim != 0 && c.HeadDim != c.Dim/c.Heads {
		return fmt.Errorf("synth: %s heads are dim/heads wide", c.Arch)
	}
	return nil
}

// bertTokenTypes is the number of token types (segments) of the synthetic
// encoders, BERT's two.
const bertTokenTypes = 2

// bertWeights are the tensors of a BERT-family encoder as llama.cpp's
// converter writes them. bert: token, token-type and learned position
// embeddings, LayerNorms with biases, separate q/k/v with biases, a GELU
// feed-forward with biases. nomic-bert: no position embeddings (it
// rotates), one fused attn_qkv and a SwiGLU feed-forward without biases.
// Every LayerNorm undoes the scale of what it normalises, so WeightScale
// shrinks the spread of the projections and AttnScale sharpens attention
// as in the decoders.
func bertWeights(c *Config, s scales) []weight {
	d, ffn, vocab := int64(c.Dim), int64(c.FFN), int64(c.Vocab)
	bias := func(name string, n int64) weight { return weight{name, []int64{n}, 0, 0.05} }
	ws := []weight{
		{"token_embd.weight", []int64{d, vocab}, 0, s.embd(d)},
		{"token_types.weight", []int64{d, bertTokenTypes}, 0, s.embd(d) / 4},
	}
	nomic, jina2 := c.Arch == "nomic-bert", c.Arch == "jina-bert-v2"
	if c.Arch == "bert" {
		ws = append(ws, weight{"position_embd.weight", []int64{d, int64(c.Ctx)}, 0, s.embd(d) / 2})
	}
	ws = append(ws, norm("token_embd_norm.weight", d), bias("token_embd_norm.bias", d))
	for l := 0; l < c.Layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		if nomic {
			// Fused rows: queries, keys, values, one spread for all
			// three (AttnScale included).
			ws = append(ws, weight{p + "attn_qkv.weight", []int64{d, 3 * d}, 0, s.qk(d)})
		} else {
			ws = append(ws,
				weight{p + "attn_q.weight", []int64{d, d}, 0, s.qk(d)},
				bias(p+"attn_q.bias", d),
				weight{p + "attn_k.weight", []int64{d, d}, 0, s.qk(d)},
				bias(p+"attn_k.bias", d),
				weight{p + "attn_v.weight", []int64{d, d}, 0, s.proj(d)},
				bias(p+"attn_v.bias", d),
			)
		}
		ws = append(ws,
			weight{p + "attn_output.weight", []int64{d, d}, 0, s.proj(d)},
			bias(p+"attn_output.bias", d),
			norm(p+"attn_output_norm.weight", d),
			bias(p+"attn_output_norm.bias", d),
		)
		if jina2 {
			ws = append(ws,
				// The q/k layer norms fix the scale of queries and keys, so
				// they carry AttnScale, as the projections do elsewhere.
				weight{p + "attn_q_norm.weight", []int64{d}, s.attn, 0.1 * s.attn}, bias(p+"attn_q_norm.bias", d),
				weight{p + "attn_k_norm.weight", []int64{d}, s.attn, 0.1 * s.attn}, bias(p+"attn_k_norm.bias", d),
				norm(p+"attn_norm_2.weight", d), bias(p+"attn_norm_2.bias", d),
				weight{p + "ffn_up.weight", []int64{d, 2 * ffn}, 0, s.proj(d)},
				bias(p+"ffn_up.bias", 2*ffn),
				weight{p + "ffn_down.weight", []int64{ffn, d}, 0, s.proj(ffn)},
				bias(p+"ffn_down.bias", d),
			)
		} else if nomic {
			ws = append(ws,
				weight{p + "ffn_up.weight", []int64{d, ffn}, 0, s.proj(d)},
				weight{p + "ffn_gate.weight", []int64{d, ffn}, 0, s.proj(d)},
				weight{p + "ffn_down.weight", []int64{ffn, d}, 0, s.proj(ffn)},
			)
		} else {
			ws = append(ws,
				weight{p + "ffn_up.weight", []int64{d, ffn}, 0, s.proj(d)},
				bias(p+"ffn_up.bias", ffn),
				weight{p + "ffn_down.weight", []int64{ffn, d}, 0, s.proj(ffn)},
				bias(p+"ffn_down.bias", d),
			)
		}
		ws = append(ws, norm(p+"layer_output_norm.weight", d), bias(p+"layer_output_norm.bias", d))
	}
	return ws
}

// bertMetadata is what llama.cpp's converter writes for an encoder; the
// synthetic ones mean-pool, as MiniLM and nomic-embed do.
func bertMetadata(c *Config) []gguf.KV {
	a := c.Arch + "."
	kvs := []gguf.KV{
		gguf.NewKV(a+"context_length", uint32(c.Ctx)),
		gguf.NewKV(a+"embedding_length", uint32(c.Dim)),
		gguf.NewKV(a+"feed_forward_length", uint32(c.FFN)),
		gguf.NewKV(a+"block_count", uint32(c.Layers)),
		gguf.NewKV(a+"attention.head_count", uint32(c.Heads)),
		gguf.NewKV(a+"attention.layer_norm_epsilon", float32(1e-12)),
		gguf.NewKV(a+"attention.causal", false),
	}
	if c.Pooling == "" {
		kvs = append(kvs, gguf.NewKV(a+"pooling_type", uint32(1))) // mean, the usual
	}
	if c.Arch == "nomic-bert" || c.Arch == "jina-bert-v3" {
		kvs = append(kvs, gguf.NewKV(a+"rope.freq_base", c.RopeBase))
	}
	return kvs
}

// WordPiece special tokens of the synthetic vocabulary, by id.
const (
	wpPad = iota
	wpUnk
	wpCLS
	wpSep
	wpMask
)

// WordPieceVocab returns a BERT-style vocabulary of n entries in the form
// GGUF stores it: [PAD] [UNK] [CLS] [SEP] [MASK] (control tokens), then
// word-initial pieces marked with "▁" and continuation pieces bare (BERT's
// "##" removed): every single character both ways, then longer pieces
// grown a letter at a time, so that any lower-case word splits into
// entries of the vocabulary.
func WordPieceVocab(n int) (tokens []string, types []int32) {
	tokens = []string{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"}
	types = []int32{typeControl, typeControl, typeControl, typeControl, typeControl}
	seen := map[string]bool{}
	add := func(s string) bool {
		if len(tokens) >= n {
			return false
		}
		if !seen[s] {
			seen[s] = true
			tokens = append(tokens, s)
			types = append(types, typeNormal)
		}
		return true
	}
	const sp = "▁"
	letters := "etaoinshrdlcumwfgypbvkjxqz"
	for _, r := range letters + "0123456789.,!?'\"-:;()" {
		add(sp + string(r))
		if strings.ContainsRune(letters+"0123456789", r) {
			add(string(r))
		}
	}
	level := []string{}
	for _, r := range letters {
		level = append(level, string(r))
	}
	for len(tokens) < n && len(level) > 0 {
		var next []string
		for _, p := range level {
			for _, r := range letters {
				s := p + string(r)
				if !add(sp+s) || !add(s) {
					break
				}
				next = append(next, s)
			}
		}
		level = next
	}
	return tokens, types
}

// wordPieceTokenizer is the tokenizer metadata of a synthetic encoder, with
// the special tokens' ids given explicitly (llama.cpp's defaults are
// BERT's 101, 100, 102…).
func wordPieceTokenizer(c *Config) []gguf.KV {
	tokens, types := WordPieceVocab(c.Vocab)
	return []gguf.KV{
		gguf.NewKV("tokenizer.ggml.model", "bert"),
		gguf.NewKV("tokenizer.ggml.pre", "bert-bge"),
		gguf.NewKV("tokenizer.ggml.tokens", tokens),
		gguf.NewKV("tokenizer.ggml.token_type", types),
		gguf.NewKV("tokenizer.ggml.token_type_count", uint32(bertTokenTypes)),
		gguf.NewKV("tokenizer.ggml.bos_token_id", uint32(wpCLS)),
		gguf.NewKV("tokenizer.ggml.cls_token_id", uint32(wpCLS)),
		gguf.NewKV("tokenizer.ggml.seperator_token_id", uint32(wpSep)),
		gguf.NewKV("tokenizer.ggml.unknown_token_id", uint32(wpUnk)),
		gguf.NewKV("tokenizer.ggml.padding_token_id", uint32(wpPad)),
		gguf.NewKV("tokenizer.ggml.mask_token_id", uint32(wpMask)),
	}
}
