// Package testtok loads the shared test vocabularies as tokenizers, once
// per test process: "llama3" (Llama 3.2's 128,256 tokens, built from
// encoder.json and vocab.bpe by package testvocab) or the name of one of
// llama.cpp's vocab-only files in the shared test data ("llama-spm", …).
// (Package tokenizer's own tests cannot use it: it imports tokenizer.)
package testtok

import (
	"sync"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/internal/testvocab"
	"github.com/ondo-ai/ondo/tokenizer"
)

var (
	mu     sync.Mutex
	loaded = map[string]*tokenizer.Tokenizer{}
)

// Load returns the tokenizer of a shared vocabulary.
func Load(tb testing.TB, name string) *tokenizer.Tokenizer {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if tk, ok := loaded[name]; ok {
		return tk
	}
	var path string
	if name == "llama3" {
		path = testvocab.Llama3(tb)
	} else {
		path = testdata.Path(tb, "tokenizer", "ggml-vocab-"+name+".gguf")
	}
	f, err := gguf.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	tk, err := tokenizer.FromGGUF(f, tokenizer.Options{})
	if err != nil {
		tb.Fatalf("%s: %v", name, err)
	}
	loaded[name] = tk
	return tk
}
