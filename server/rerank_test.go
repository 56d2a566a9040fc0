package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/all"
	"github.com/ondo-ai/ondo/synth"
	"github.com/ondo-ai/ondo/tokenizer"
)

// qwenRerankTemplate is the "rerank" template llama.cpp's converter writes
// for Qwen3-Reranker, shortened.
const qwenRerankTemplate = "<|im_start|>user\n<Query>: {query}\n<Document>: {document}<|im_end|>\n<|im_start|>assistant\n"

// rerankServer serves the models folder of the usual tests plus two
// synthetic rerankers: "bge" (a BERT cross-encoder) and "qwen-rr" (a
// Qwen3-Reranker with a rerank template).
func rerankServer(t *testing.T) *testServer {
	t.Helper()
	dir := modelsDir(t)
	for _, m := range []struct {
		name string
		edit func(*synth.Config)
	}{
		{"bge", func(c *synth.Config) { c.Arch, c.KVHeads = "bert", c.Heads }},
		{"qwen-rr", func(c *synth.Config) { c.Arch, c.HeadDim = "qwen3", 64 }},
	} {
		cfg, _ := synth.Preset("tiny")
		cfg.Seed, cfg.Pooling = 3, "rank"
		m.edit(&cfg)
		path := filepath.Join(dir, m.name+".gguf")
		if err := synth.Write(path, cfg); err != nil {
			t.Fatal(err)
		}
		if m.name == "qwen-rr" {
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			kvs := append(f.KV, gguf.NewKV("tokenizer.chat_template.rerank", qwenRerankTemplate))
			var specs []gguf.TensorSpec
			for i := range f.Tensors {
				ti := &f.Tensors[i]
				specs = append(specs, gguf.TensorSpec{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: append([]byte(nil), f.TensorData(ti)...)})
			}
			f.Close()
			if err := gguf.WriteFile(path, kvs, specs); err != nil {
				t.Fatal(err)
			}
		}
	}
	return start(t, Config{ModelsDir: dir})
}

// libraryRank scores tokens with the model file directly, for comparison.
func libraryRank(t *testing.T, path string, pair func(tok *tokenizer.Tokenizer) []int32) float32 {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f, tokenizer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(f, model.Config{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	s, err := m.(model.Ranker).Rank(context.Background(), pair(tok))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRerank checks POST /v1/rerank in llama-server's shapes: Jina's (the
// default) sorted by score with top_n and the documents echoed on request,
// TEI's when texts are given; each score is the model's score of the pair
// as llama-server formats it ([CLS] query [SEP] document for a WordPiece
// vocabulary; the filled-in rerank template for Qwen3).
func TestRerank(t *testing.T) {
	ts := rerankServer(t)
	query := "what do cats eat?"
	docs := []string{"cats eat fish and mice", "the stock market fell", "a cat's diet is meat", "오늘 날씨가 좋다"}
	for _, name := range []string{"bge", "qwen-rr"} {
		res := ts.do(t, "POST", "/v1/rerank", map[string]any{"model": name, "query": query, "documents": docs, "top_n": 3, "return_documents": true})
		if res.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", name, res.status, res.body)
		}
		body := res.json(t)
		results := body["results"].([]any)
		if len(results) != 3 || body["object"] != "list" || body["model"] != name {
			t.Fatalf("%s: %s", name, res.body)
		}
		usage := body["usage"].(map[string]any)
		if usage["prompt_tokens"].(float64) <= 0 || usage["prompt_tokens"] != usage["total_tokens"] {
			t.Errorf("%s: usage %v", name, usage)
		}
		// The scores of all four pairs, from the library, in llama-server's formatting.
		path := filepath.Join(ts.dir, name+".gguf")
		want := make([]float32, len(docs))
		for i, d := range docs {
			want[i] = libraryRank(t, path, func(tok *tokenizer.Tokenizer) []int32 {
				if name == "qwen-rr" {
					p := strings.NewReplacer("{query}", query, "{document}", d).Replace(qwenRerankTemplate)
					return tok.Encode(p, tokenizer.EncodeOptions{ParseSpecial: true})
				}
				ids := []int32{tok.BOS()} // [CLS]
				ids = tok.AppendEncode(ids, query, tokenizer.EncodeOptions{})
				ids = append(ids, tok.SEP())
				return tok.AppendEncode(ids, d, tokenizer.EncodeOptions{})
			})
		}
		order := []int{0, 1, 2, 3}
		sort.SliceStable(order, func(a, b int) bool { return want[order[a]] > want[order[b]] })
		prev := float32(1e30)
		for k, r := range results {
			item := r.(map[string]any)
			i := int(item["index"].(float64))
			score := float32(item["relevance_score"].(float64))
			if i != order[k] || score != want[i] {
				t.Errorf("%s: result %d is document %d scored %v, want document %d scored %v", name, k, i, score, order[k], want[order[k]])
			}
			if score > prev {
				t.Errorf("%s: results not in decreasing order", name)
			}
			prev = score
			if item["document"].(map[string]any)["text"] != docs[i] {
				t.Errorf("%s: result %d echoes %v", name, k, item["document"])
			}
		}
		if want[0] == want[1] {
			t.Errorf("%s: different documents score the same (%v): the head is not used", name, want[0])
		}
	}
	// TEI: texts, a bare array of {index, score[, text]}, on another path.
	res := ts.do(t, "POST", "/rerank", map[string]any{"model": "bge", "query": query, "texts": docs[:2], "return_text": true})
	var tei []map[string]any
	if res.status != http.StatusOK || json.Unmarshal(res.body, &tei) != nil || len(tei) != 2 || tei[0]["score"] == nil || tei[0]["text"] == nil {
		t.Errorf("TEI shape: status %d: %s", res.status, res.body)
	}
}

// TestRerankErrors checks that bad requests and unsuitable models get 400s
// that say what is wrong, and that a reranker refuses to embed.
func TestRerankErrors(t *testing.T) {
	ts := rerankServer(t)
	for _, tc := range []struct {
		body any
		want string
	}{
		{map[string]any{"model": "bge", "documents": []string{"a"}}, `"query" field is required`},
		{map[string]any{"model": "bge", "query": "q"}, `"documents" must be a non-empty array`},
		{map[string]any{"model": "bge", "query": "q", "documents": []string{}}, `"documents" must be a non-empty array`},
		{map[string]any{"model": "bge", "query": "q", "documents": []any{1}}, "documents[0] must be a string"},
		{map[string]any{"model": "bge", "query": "q", "documents": []string{"a"}, "top_n": 0}, "top_n 0 is below 1"},
		{map[string]any{"model": "bge", "query": "q", "documents": []string{"a"}, "texts": []string{"b"}}, "not both"},
		{map[string]any{"model": "bge", "query": strings.Repeat("cat ", 600), "documents": []string{"a"}}, "more than the context length"},
		{map[string]any{"model": "stories", "query": "q", "documents": []string{"a"}}, `model "stories" (llama) is not a reranker`},
	} {
		res := ts.do(t, "POST", "/v1/rerank", tc.body)
		var e struct {
			Error struct{ Message string } `json:"error"`
		}
		json.Unmarshal(res.body, &e)
		if res.status != http.StatusBadRequest || !strings.Contains(e.Error.Message, tc.want) {
			t.Errorf("%v: status %d %s, want 400 with %q", tc.body, res.status, res.body, tc.want)
		}
	}
	res := ts.do(t, "POST", "/v1/embeddings", map[string]any{"model": "bge", "input": "hello"})
	if res.status != http.StatusBadRequest || !strings.Contains(string(res.body), "is a reranker") {
		t.Errorf("embeddings from a reranker: status %d %s", res.status, res.body)
	}
}

// TestRerankCapabilities checks that /api/show says what a reranker can
// do: rerank, not completion or embedding.
func TestRerankCapabilities(t *testing.T) {
	ts := rerankServer(t)
	for name, want := range map[string]string{"bge": "[rerank]", "qwen-rr": "[rerank]", "stories": "[completion]"} {
		res := ts.do(t, "POST", "/api/show", map[string]any{"model": name})
		if res.status != http.StatusOK {
			t.Fatalf("%s: status %d %s", name, res.status, res.body)
		}
		if got := fmt.Sprint(res.json(t)["capabilities"]); got != want {
			t.Errorf("%s: capabilities %s, want %s", name, got, want)
		}
	}
}
