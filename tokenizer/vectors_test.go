package tokenizer

import (
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/internal/testvocab"
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
		path = testvocab.Llama3(tb)
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
