// Package testvocab writes the shared vocabularies that exist only as
// source files (Llama 3's encoder.json and vocab.bpe) into vocab-only GGUF
// files for tests.
package testvocab

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
)

// Token types as tokenizer.ggml.token_type numbers them.
const (
	typeNormal  = 1
	typeControl = 3
)

// Llama3Specials are the 256 control tokens that follow Llama 3's 128000
// byte-level tokens.
func Llama3Specials() []string {
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

// Llama3 writes a vocab-only GGUF for Llama 3.2 into a temporary
// folder (the test's own) and returns its path, the way llama.cpp's converter would: the byte-level tokens of
// encoder.json, the control tokens after them, the merges of vocab.bpe.
func Llama3(tb testing.TB) string {
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
		types[i] = typeNormal
	}
	for _, s := range Llama3Specials() {
		tokens = append(tokens, s)
		types = append(types, typeControl)
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
