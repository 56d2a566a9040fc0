package tokenizer

import (
	"cmp"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/ondo-ai/ondo/gguf"
)

// llamaCppPres are the tokenizer.ggml.pre values llama.cpp's vocabulary
// loader accepts (src/llama-vocab.cpp of the llama.cpp node-llama-cpp 3.21.1
// bundles), in its order.
var llamaCppPres = []string{
	"default", "minicpm5", "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1",
	"pixtral", "midm-2.0", "lfm2", "jina-v5-nano", "deepseek-llm", "deepseek-coder",
	"deepseek-v3", "youtu", "falcon", "mpt", "starcoder", "gpt-2", "phi-2", "jina-es",
	"jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum", "modern-bert",
	"jais-2", "gemma4", "granite-embed-multi-311m", "sarvam-moe", "jina-v1-en",
	"jina-v2-code", "roberta-bpe", "whitespace", "refact", "command-r", "qwen2",
	"deepseek-r1-qwen", "kormo", "f2llmv2", "qwen35", "stablelm2", "olmo", "dbrx",
	"smaug-bpe", "poro-chat", "glm4", "chatglm-bpe", "viking", "jais", "tekken", "smollm",
	"codeshell", "bloom", "gpt3-finnish", "exaone", "exaone4", "exaone-moe", "chameleon",
	"minerva-7b", "megrez", "gpt-4o", "llama4", "kanana2", "talkie",
	"granite-embed-multi-97m", "tiny_aya", "cohere2moe", "superbpe", "trillion",
	"granite-docling", "bailingmoe", "bailingmoe2", "llada-moe", "seed-coder", "hunyuan",
	"hunyuan-dense", "joyai-llm", "kimi-k2", "grok-2", "afmoe", "laguna", "minimax-m2",
	"solar-open", "mellum2",
}

// rawPres are the pre-tokenizers whose vocabulary is text as it is, not
// byte characters; escapedPres write spaces as "▁".
var (
	rawPres     = []string{"gemma4", "granite-embed-multi-311m", "sarvam-moe", "whitespace"}
	escapedPres = []string{"gemma4", "granite-embed-multi-311m", "sarvam-moe"}
)

// TestPreNames checks that ondo knows exactly the pre-tokenizers llama.cpp
// knows.
func TestPreNames(t *testing.T) {
	for _, name := range llamaCppPres {
		if _, ok := preFamilies[name]; !ok {
			t.Errorf("pre %q of llama.cpp is not defined", name)
		}
	}
	for name := range preFamilies {
		if !slices.Contains(llamaCppPres, name) {
			t.Errorf("pre %q is not llama.cpp's", name)
		}
	}
	for _, name := range rawPres {
		if f := preFamilies[name]; !f.raw || f.escapeSpaces != slices.Contains(escapedPres, name) {
			t.Errorf("pre %q: raw %v, escapeSpaces %v", name, f.raw, f.escapeSpaces)
		}
	}
}

// The special tokens of the synthetic vocabularies: control tokens, and
// user-defined ones.
var (
	synthControl = []string{"<s>", "</s>", "<|start_header_id|>", "<|end_header_id|>",
		"<|eot_id|>", "[INST]", "[/INST]", "<|user|>", "<|end|>", "<|assistant|>",
		"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<|endoftext|>"}
	synthUser = []string{"<|User|>"}
	// synthWhole are tokens no merge makes, so that a pre-tokenizer that
	// uses whole pieces (ignore_merges) gives other ids than merging.
	synthWhole = []string{" sure", "Fühler", " Việt", " Български", " 밝혔다", "東京",
		"123", " world", "Hello", "\n\n", "\n\n\n", "\n\n\n\n"}
)

// synthKind is the kind of vocabulary a pre-tokenizer needs.
type synthKind int

const (
	synthByte    synthKind = iota // GPT-2's byte characters
	synthEscaped                  // text as it is, spaces as "▁" (Gemma 4)
	synthPlain                    // text as it is
)

// synthVocab is a BPE vocabulary trained on the peer inputs themselves,
// over whole texts (no pre-tokenizer), so that nearly every place a
// pre-tokenizer may cut or not cut changes the tokens.
type synthVocab struct {
	tokens []string
	types  []int32
	merges []string
}

var (
	synthMu    sync.Mutex
	synthCache = map[synthKind]*synthVocab{}
)

// maxSynthMerges bounds the training; it stops earlier when no pair is
// seen twice.
const maxSynthMerges = 3000

func getSynthVocab(kind synthKind) *synthVocab {
	synthMu.Lock()
	defer synthMu.Unlock()
	if v, ok := synthCache[kind]; ok {
		return v
	}
	v := trainSynthVocab(kind)
	synthCache[kind] = v
	return v
}

func trainSynthVocab(kind synthKind) *synthVocab {
	v := &synthVocab{}
	ids := map[string]int32{}
	add := func(s string, typ int32) int32 {
		if id, ok := ids[s]; ok {
			return id
		}
		id := int32(len(v.tokens))
		ids[s] = id
		v.tokens = append(v.tokens, s)
		v.types = append(v.types, typ)
		return id
	}
	// unitOf maps the training text to the vocabulary's base symbols.
	var units func(s string) []string
	if kind == synthByte {
		for b := range 256 {
			add(string(byteRune[b]), int32(TypeNormal))
		}
		units = func(s string) []string {
			u := make([]string, len(s))
			for i := range len(s) {
				u[i] = string(byteRune[s[i]])
			}
			return u
		}
	} else {
		for b := range 256 {
			add(fmt.Sprintf("<0x%02X>", b), int32(TypeByte))
		}
		units = func(s string) []string {
			if kind == synthEscaped {
				s = strings.ReplaceAll(s, " ", "▁")
			}
			var u []string
			for _, r := range s {
				u = append(u, string(r))
			}
			return u
		}
	}
	corpus := append(slices.Clone(trickyInputs), koreanSentences...)
	corpus = append(corpus, englishSentences...)
	corpus = append(corpus, strings.Split(mixedText(1<<10), "\n")...)
	seqs := make([][]int32, 0, len(corpus))
	for _, s := range corpus {
		s = sanitize(s)
		var seq []int32
		for _, u := range units(s) {
			r, _ := utf8.DecodeRuneInString(u)
			if kind != synthByte && r >= 0x1F000 {
				// Emoji stay out of raw vocabularies: they take the
				// byte fallback.
				seq = append(seq, -1)
				continue
			}
			seq = append(seq, add(u, int32(TypeNormal)))
		}
		seqs = append(seqs, seq)
	}
	type pair [2]int32
	// mergeable leaves out pairs with a space (a GGUF merge is two strings
	// separated by one: byte-level and escaped text have none, plain text
	// cannot merge one) and, in raw vocabularies, newlines and NUL (which
	// ends a token's text for llama.cpp: a raw "\x00" token stays, as
	// "[EMPTY_n]").
	mergeable := func(a, b int32) bool {
		if a < 0 || b < 0 {
			return false
		}
		lr := v.tokens[a] + v.tokens[b]
		return !strings.Contains(lr, " ") && (kind == synthByte || !strings.ContainsAny(lr, "\n\x00"))
	}
	counts := map[pair]int{}
	for range maxSynthMerges {
		clear(counts)
		for _, seq := range seqs {
			for i := 1; i < len(seq); i++ {
				if mergeable(seq[i-1], seq[i]) {
					counts[pair{seq[i-1], seq[i]}]++
				}
			}
		}
		var best pair
		n := 1
		for p, c := range counts {
			if c > n || c == n && n > 1 && cmp.Or(strings.Compare(v.tokens[p[0]], v.tokens[best[0]]), strings.Compare(v.tokens[p[1]], v.tokens[best[1]])) < 0 {
				best, n = p, c
			}
		}
		if n < 2 {
			break
		}
		v.merges = append(v.merges, v.tokens[best[0]]+" "+v.tokens[best[1]])
		seqs = replacePair(seqs, best, add(v.tokens[best[0]]+v.tokens[best[1]], int32(TypeNormal)))
	}
	// Last, every pair still next to each other merges once, in the order
	// met, so that a cut between any two symbols shows.
	for _, seq := range seqs {
		for i := 1; i < len(seq); i++ {
			a, b := seq[i-1], seq[i]
			if !mergeable(a, b) {
				continue
			}
			if _, done := ids[v.tokens[a]+v.tokens[b]]; !done {
				v.merges = append(v.merges, v.tokens[a]+" "+v.tokens[b])
				add(v.tokens[a]+v.tokens[b], int32(TypeNormal))
			}
		}
	}
	for _, s := range synthWhole {
		switch kind {
		case synthByte:
			var b strings.Builder
			for i := range len(s) {
				b.WriteRune(byteRune[s[i]])
			}
			s = b.String()
		case synthEscaped:
			s = strings.ReplaceAll(s, " ", "▁")
		}
		add(s, int32(TypeNormal))
	}
	for _, s := range synthControl {
		add(s, int32(TypeControl))
	}
	for _, s := range synthUser {
		add(s, int32(TypeUserDefined))
	}
	return v
}

// replacePair replaces every pair p in seqs by id.
func replacePair(seqs [][]int32, p [2]int32, id int32) [][]int32 {
	for k, seq := range seqs {
		out := seq[:0]
		for i := 0; i < len(seq); i++ {
			if i+1 < len(seq) && seq[i] == p[0] && seq[i+1] == p[1] {
				out = append(out, id)
				i++
				continue
			}
			out = append(out, seq[i])
		}
		seqs[k] = out
	}
	return seqs
}

// write writes the vocabulary as a vocab-only GGUF with the given model and
// pre-tokenizer ("" for none) and extra metadata, and returns its path.
func (v *synthVocab) write(t *testing.T, model, pre string, extra ...gguf.KV) string {
	t.Helper()
	find := func(s string) uint32 { return uint32(slices.Index(v.tokens, s)) }
	kvs := []gguf.KV{
		gguf.NewKV("general.architecture", "llama"),
		gguf.NewKV("general.name", "synthetic tokenizer (test)"),
		gguf.NewKV(keyModel, model),
		gguf.NewKV(keyTokens, v.tokens),
		gguf.NewKV(keyTypes, v.types),
		gguf.NewKV(keyMerges, v.merges),
		gguf.NewKV("tokenizer.ggml.bos_token_id", find("<s>")),
		gguf.NewKV("tokenizer.ggml.eos_token_id", find("</s>")),
	}
	if pre != "" {
		kvs = append(kvs, gguf.NewKV(keyPre, pre))
	}
	kvs = append(kvs, extra...)
	path := filepath.Join(t.TempDir(), "synth.gguf")
	if err := gguf.WriteFile(path, kvs, nil); err != nil {
		t.Fatal(err)
	}
	return path
}

// peerCase is one vocabulary file the cross-check tokenizes with both
// tokenizers.
type peerCase struct {
	name  string
	kind  synthKind
	model string
	pre   string
	extra []gguf.KV
	skip  func(string) bool // inputs left out
}

// preCases are the cases of TestPeerPre: every pre-tokenizer of llama.cpp
// on the vocabulary kind it needs, and the gemma4 and whitespace models.
func preCases() []peerCase {
	var cases []peerCase
	for _, pre := range llamaCppPres {
		kind := synthByte
		switch {
		case slices.Contains(escapedPres, pre):
			kind = synthEscaped
		case slices.Contains(rawPres, pre):
			kind = synthPlain
		}
		model := "gpt2"
		if pre == "whitespace" {
			model = "whitespace" // as llama.cpp's converter writes it
		}
		cases = append(cases, peerCase{name: pre, kind: kind, model: model, pre: pre})
	}
	return append(cases,
		peerCase{name: "model=gemma4", kind: synthEscaped, model: "gemma4",
			extra: []gguf.KV{gguf.NewKV(keyAddBOS, false)}},
		peerCase{name: "model=whitespace,lowercase", kind: synthPlain, model: "whitespace", pre: "whitespace",
			extra: []gguf.KV{gguf.NewKV(keyLowercase, true)}},
		// The whitespace pre-tokenizer with the gpt2 model keeps white
		// space as pieces; llama.cpp aborts on a piece that holds a space
		// and another character (its merge lookup asserts there is no
		// space), so such inputs are left out.
		peerCase{name: "model=gpt2,pre=whitespace", kind: synthPlain, model: "gpt2", pre: "whitespace",
			skip: func(s string) bool {
				for _, w := range spaceRuns(s) {
					if len(w) > 1 && strings.Contains(w, " ") {
						return true
					}
				}
				return false
			}},
	)
}

// spaceRuns returns the runs of white space of s.
func spaceRuns(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsSpace(r) })
}

// TestPeerPre compares Encode with llama.cpp's tokenizer for every
// pre-tokenizer llama.cpp knows and the gemma4 and whitespace tokenizer
// models, on synthetic vocabularies trained on the inputs, with and
// without special-token parsing. It is skipped where the peer cannot run.
func TestPeerPre(t *testing.T) {
	c := startPeer(t)
	defer c.Close()
	inputs := peerInputs()
	for _, pc := range preCases() {
		t.Run(pc.name, func(t *testing.T) {
			path := getSynthVocab(pc.kind).write(t, pc.model, pc.pre, pc.extra...)
			in := inputs
			if pc.skip != nil {
				in = slices.DeleteFunc(slices.Clone(in), pc.skip)
			}
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			tk, err := FromGGUF(f, Options{})
			f.Close()
			if err != nil {
				t.Fatal(err)
			}
			comparePeer(t, c, tk, path, in)
		})
	}
}
