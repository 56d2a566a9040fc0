package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/tokenizer"
)

// maxRerankDocuments bounds one rerank request.
const maxRerankDocuments = 1024

// rerankRequest is llama-server's POST /v1/rerank body: Jina's shape
// (query, documents, top_n) or, when texts is given instead of documents,
// Hugging Face TEI's (query, texts, return_text).
type rerankRequest struct {
	Model           string            `json:"model"`
	Query           *string           `json:"query"`
	Documents       []json.RawMessage `json:"documents"`
	Texts           []json.RawMessage `json:"texts"`
	TopN            *int              `json:"top_n"`
	ReturnDocuments bool              `json:"return_documents"` // Jina, Cohere: echo each document
	ReturnText      bool              `json:"return_text"`      // TEI: echo each text
}

// rerankDoc reads one document: a string, or an object with a "text"
// string as Jina and Cohere also accept.
func rerankDoc(raw json.RawMessage, field string, i int) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var obj struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &obj); err == nil && obj.Text != nil {
		return *obj.Text, nil
	}
	return "", badRequest(field, "%s[%d] must be a string or an object with a \"text\" string", field, i)
}

// handleRerank scores documents against a query with a reranker (a model
// whose pooling_type is rank: bge-reranker, Qwen3-Reranker) and returns
// them by decreasing relevance, as llama-server does: each document is
// paired with the query the way the model's "rerank" template says
// (tokenizer.chat_template.rerank) or, without one, as BOS, query, EOS,
// SEP, document, EOS by the vocabulary's add flags; the score is the
// classification head's first output, not normalised.
func (s *Server) handleRerank(w http.ResponseWriter, r *http.Request) error {
	var req rerankRequest
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Query == nil {
		return badRequest("query", "the \"query\" field is required (a string)")
	}
	tei := req.Texts != nil
	field, raw := "documents", req.Documents
	if tei {
		field, raw = "texts", req.Texts
		if req.Documents != nil {
			return badRequest("texts", "give \"documents\" or \"texts\", not both")
		}
	}
	if len(raw) == 0 {
		return badRequest(field, "%q must be a non-empty array of strings", field)
	}
	if len(raw) > maxRerankDocuments {
		return badRequest(field, "%d documents: at most %d per request", len(raw), maxRerankDocuments)
	}
	docs := make([]string, len(raw))
	for i, d := range raw {
		var err error
		if docs[i], err = rerankDoc(d, field, i); err != nil {
			return err
		}
	}
	topN := len(docs)
	if req.TopN != nil {
		if *req.TopN < 1 {
			return badRequest("top_n", "top_n %d is below 1", *req.TopN)
		}
		topN = min(*req.TopN, len(docs))
	}
	m, err := s.acquireFor(r, req.Model, loadOptions{})
	if err != nil {
		return err
	}
	defer s.models.release(m)
	rk, err := rerankerOf(m)
	if err != nil {
		return err
	}
	format := rerankFormat(m)
	type scored struct {
		index int
		score float32
	}
	results := make([]scored, len(docs))
	total := 0
	for i, d := range docs {
		toks := format(*req.Query, d)
		if len(toks) > m.context || len(toks) > m.info.ContextLength && m.info.ContextLength > 0 {
			return badRequest(field, "%s[%d] and the query make %d tokens, more than the context length of %d of model %q", field, i, len(toks), min(m.context, m.info.ContextLength), m.name)
		}
		score, err := rk.Rank(r.Context(), toks)
		if err != nil {
			if r.Context().Err() != nil {
				return r.Context().Err()
			}
			return err
		}
		results[i] = scored{i, score}
		total += len(toks)
	}
	sort.SliceStable(results, func(a, b int) bool { return results[a].score > results[b].score })
	results = results[:topN]

	if tei {
		out := make([]map[string]any, len(results))
		for i, res := range results {
			out[i] = map[string]any{"index": res.index, "score": res.score}
			if req.ReturnText {
				out[i]["text"] = docs[res.index]
			}
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	out := make([]map[string]any, len(results))
	for i, res := range results {
		out[i] = map[string]any{"index": res.index, "relevance_score": res.score}
		if req.ReturnDocuments {
			out[i]["document"] = map[string]string{"text": docs[res.index]}
		}
	}
	name := req.Model
	if name == "" {
		name = m.name
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"model": name, "object": "list", "results": out,
		"usage": map[string]int{"prompt_tokens": total, "total_tokens": total},
	})
	return nil
}

// rerankerOf returns the model's ranker, or a 400 saying the model is not
// a reranker.
func rerankerOf(m *runner) (model.Ranker, error) {
	notRanker := &apiError{Status: http.StatusBadRequest, Type: typeInvalidRequest, Code: "reranking_unsupported", Param: "model",
		Msg: fmt.Sprintf("model %q (%s) is not a reranker: reranking needs a model with pooling_type rank and a classification head, such as bge-reranker or Qwen3-Reranker", m.name, m.info.Arch)}
	e, isEmbedder := m.net.(model.Embedder)
	rk, isRanker := m.net.(model.Ranker)
	if !isEmbedder || !isRanker || e.Pooling() != model.PoolingRank {
		return nil, notRanker
	}
	return rk, nil
}

// rerankFormat returns how the model's query–document pairs are
// tokenized, as llama-server's format_prompt_rerank: the GGUF's rerank
// template with {query} and {document} replaced, tokenized without added
// specials but with control tokens parsed; otherwise BOS (when the
// vocabulary adds it), the query, EOS (when it adds EOS; SEP when it has
// no EOS), SEP (when it adds SEP), the document and EOS again.
func rerankFormat(m *runner) func(query, doc string) []int32 {
	tok := m.tok
	if tmpl, err := m.file.String("tokenizer.chat_template.rerank"); err == nil && tmpl != "" {
		return func(query, doc string) []int32 {
			p := strings.NewReplacer("{query}", query, "{document}", doc).Replace(tmpl)
			return tok.Encode(p, tokenizer.EncodeOptions{ParseSpecial: true})
		}
	}
	bos, eos, sep := tok.AddFlags()
	end := tok.EOS()
	if end < 0 {
		end = tok.SEP()
	}
	return func(query, doc string) []int32 {
		var ids []int32
		if bos {
			ids = append(ids, tok.BOS())
		}
		ids = tok.AppendEncode(ids, query, tokenizer.EncodeOptions{})
		if eos && end >= 0 {
			ids = append(ids, end)
		}
		if sep {
			ids = append(ids, tok.SEP())
		}
		ids = tok.AppendEncode(ids, doc, tokenizer.EncodeOptions{})
		if eos && end >= 0 {
			ids = append(ids, end)
		}
		return ids
	}
}
