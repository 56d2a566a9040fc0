package gguf

import (
	"os"
	"testing"

	"github.com/ondo-ai/ondo/internal/testdata"
)

// BenchmarkOpen maps and parses stories260K: the cost of opening a model
// is its header, not its weights.
func BenchmarkOpen(b *testing.B) {
	path := testdata.Path(b, "gguf", "stories260K.gguf")
	b.ReportAllocs()
	for b.Loop() {
		f, err := Open(path)
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
}

// BenchmarkParseVocab parses a vocabulary of 50257 tokens and 50000 merges,
// the largest metadata a model usually has.
func BenchmarkParseVocab(b *testing.B) {
	data, err := os.ReadFile(testdata.Path(b, "tokenizer", "ggml-vocab-gpt-2.gguf"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
