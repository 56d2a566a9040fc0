package tokenizer

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
)

// vocabs are the shared vocabularies with llama.cpp's test vectors.
var vocabs = []string{"llama-spm", "phi-3", "gpt-2", "starcoder", "deepseek-coder", "bert-bge", "llama-bpe"}

var (
	loadMu sync.Mutex
	loaded = map[string]*Tokenizer{}
)

// load returns the tokenizer of a shared vocabulary; "llama-bpe" is built
// from the Llama 3.2 encoder.json and vocab.bpe.
func load(tb testing.TB, name string) *Tokenizer {
	tb.Helper()
	loadMu.Lock()
	defer loadMu.Unlock()
	if tk, ok := loaded[name]; ok {
		return tk
	}
	var path string
	if name == "llama-bpe" {
		path = buildLlama3(tb)
	} else {
		path = testdata.Path(tb, "tokenizer", "ggml-vocab-"+name+".gguf")
	}
	f, err := gguf.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	tk, err := FromGGUF(f, Options{})
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	loaded[name] = tk
	return tk
}

// llama3Specials are the 256 control tokens that follow Llama 3's 128000
// byte-level tokens.
func llama3Specials() []string {
	s := []string{
		"<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>",
		"<|reserved_special_token_1|>", "<|finetune_right_pad_id|>",
		"<|reserved_special_token_2|>", "<|start_header_id|>", "<|end_header_id|>",
		"<|eom_id|>", "<|eot_id|>", "<|python_tag|>",
	}
	for i := 3; len(s) < 256; i++ {
		s = append(s, fmt.Sprintf("<|reserved_special_token_%d|>", i))
	}
	return s
}

// buildLlama3 writes a vocab-only GGUF for Llama 3.2 into a temporary
// folder, the way llama.cpp's converter would: the byte-level tokens of
// encoder.json, the control tokens after them, the merges of vocab.bpe.
func buildLlama3(tb testing.TB) string {
	tb.Helper()
	dir := testdata.Path(tb, "tokenizer", "llama3.2")
	raw, err := os.ReadFile(filepath.Join(dir, "encoder.json"))
	if err != nil {
		tb.Fatal(err)
	}
	var enc map[string]int
	if err := json.Unmarshal(raw, &enc); err != nil {
		tb.Fatal(err)
	}
	tokens := make([]string, len(enc))
	for s, id := range enc {
		if id < 0 || id >= len(tokens) || tokens[id] != "" {
			tb.Fatalf("encoder.json: bad or repeated id %d", id)
		}
		tokens[id] = s
	}
	types := make([]int32, len(tokens), len(tokens)+256)
	for i := range types {
		types[i] = int32(TypeNormal)
	}
	for _, s := range llama3Specials() {
		tokens = append(tokens, s)
		types = append(types, int32(TypeControl))
	}
	mf, err := os.Open(filepath.Join(dir, "vocab.bpe"))
	if err != nil {
		tb.Fatal(err)
	}
	defer mf.Close()
	var merges []string
	sc := bufio.NewScanner(mf)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#version") {
			continue
		}
		merges = append(merges, line)
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	kvs := []gguf.KV{
		gguf.NewKV("general.architecture", "llama"),
		gguf.NewKV("general.name", "Llama 3.2 tokenizer (test)"),
		gguf.NewKV("tokenizer.ggml.model", "gpt2"),
		gguf.NewKV("tokenizer.ggml.pre", "llama-bpe"),
		gguf.NewKV("tokenizer.ggml.tokens", tokens),
		gguf.NewKV("tokenizer.ggml.token_type", types),
		gguf.NewKV("tokenizer.ggml.merges", merges),
		gguf.NewKV("tokenizer.ggml.bos_token_id", uint32(128000)),
		gguf.NewKV("tokenizer.ggml.eos_token_id", uint32(128009)),
		gguf.NewKV("tokenizer.ggml.add_bos_token", true),
	}
	path := filepath.Join(tb.TempDir(), "llama3.2-vocab.gguf")
	if err := gguf.WriteFile(path, kvs, nil); err != nil {
		tb.Fatal(err)
	}
	return path
}

// readVectors reads NAME.gguf.inp and NAME.gguf.out.
func readVectors(tb testing.TB, name string) ([]string, [][]int32) {
	tb.Helper()
	inp, err := os.ReadFile(testdata.Path(tb, "tokenizer", "ggml-vocab-"+name+".gguf.inp"))
	if err != nil {
		tb.Fatal(err)
	}
	out, err := os.ReadFile(testdata.Path(tb, "tokenizer", "ggml-vocab-"+name+".gguf.out"))
	if err != nil {
		tb.Fatal(err)
	}
	const sep = "\n__ggml_vocab_test__\n"
	var texts []string
	for rest := string(inp); rest != ""; {
		i := strings.Index(rest, sep)
		if i < 0 {
			texts = append(texts, rest)
			break
		}
		texts = append(texts, rest[:i])
		rest = rest[i+len(sep):]
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(texts) {
		tb.Fatalf("%s: %d inputs but %d outputs", name, len(texts), len(lines))
	}
	ids := make([][]int32, len(lines))
	for i, l := range lines {
		ids[i] = []int32{}
		for _, f := range strings.Fields(l) {
			v, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				tb.Fatalf("%s.out line %d: %v", name, i+1, err)
			}
			ids[i] = append(ids[i], int32(v))
		}
	}
	return texts, ids
}

// TestVectors checks every llama.cpp test vector of every shared
// vocabulary: the ids without BOS/EOS must be exactly the reference ones.
func TestVectors(t *testing.T) {
	for _, name := range vocabs {
		t.Run(name, func(t *testing.T) {
			tk := load(t, name)
			texts, want := readVectors(t, name)
			pass := 0
			for i, s := range texts {
				got := tk.Encode(s, EncodeOptions{})
				if slices.Equal(got, want[i]) {
					pass++
					continue
				}
				t.Errorf("%q:\n got  %v\n want %v", s, got, want[i])
			}
			t.Logf("%s: %d/%d pass", name, pass, len(texts))
		})
	}
}
