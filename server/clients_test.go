package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ollama "github.com/ollama/ollama/api"
	openai "github.com/sashabaranov/go-openai"

	"github.com/ondo-ai/ondo"
)

// The real client libraries against a real server: what works with them
// works with the applications built on them.

func openaiClient(ts *testServer, key string) *openai.Client {
	cfg := openai.DefaultConfig(key)
	cfg.BaseURL = ts.URL + "/v1"
	return openai.NewClientWithConfig(cfg)
}

// bearer adds an Authorization header to every request.
type bearer struct {
	key string
	rt  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.rt.RoundTrip(r)
}

func ollamaClient(t testing.TB, ts *testServer, key string) *ollama.Client {
	u, err := url.Parse(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	hc := http.DefaultClient
	if key != "" {
		hc = &http.Client{Transport: bearer{key, http.DefaultTransport}}
	}
	return ollama.NewClient(u, hc)
}

func TestOpenAIClient(t *testing.T) {
	ts := start(t, Config{})
	c := openaiClient(ts, "unused")
	ctx := context.Background()

	models, err := c.ListModels(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range models.Models {
		ids = append(ids, m.ID)
	}
	if got := strings.Join(ids, ","); got != "chat,random,stories" {
		t.Errorf("models = %s, want chat,random,stories", got)
	}

	seed := 42
	chatReq := openai.ChatCompletionRequest{
		Model:     "stories",
		Messages:  []openai.ChatCompletionMessage{{Role: "system", Content: "You tell stories."}, {Role: "user", Content: "Once upon a time"}},
		MaxTokens: 24,
		Seed:      &seed,
	}
	resp, err := c.CreateChatCompletion(ctx, chatReq)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 1 || resp.Choices[0].Message.Content == "" || resp.Choices[0].Message.Role != "assistant" {
		t.Fatalf("chat completion: %+v", resp)
	}
	if fr := resp.Choices[0].FinishReason; fr != openai.FinishReasonStop && fr != openai.FinishReasonLength {
		t.Errorf("finish_reason %q", fr)
	}
	if u := resp.Usage; u.PromptTokens == 0 || u.CompletionTokens == 0 || u.CompletionTokens > 24 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Errorf("usage %+v", u)
	}
	if resp.Object != "chat.completion" || !strings.HasPrefix(resp.ID, "chatcmpl-") || resp.Model != "stories" {
		t.Errorf("envelope: object %q id %q model %q", resp.Object, resp.ID, resp.Model)
	}

	// Streaming with the same seed gives the same text.
	chatReq.Stream = true
	chatReq.StreamOptions = &openai.StreamOptions{IncludeUsage: true}
	stream, err := c.CreateChatCompletionStream(ctx, chatReq)
	if err != nil {
		t.Fatal(err)
	}
	var sb strings.Builder
	var usage *openai.Usage
	finish := openai.FinishReason("")
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if chunk.Usage != nil {
			usage = chunk.Usage
		}
		for _, ch := range chunk.Choices {
			sb.WriteString(ch.Delta.Content)
			if ch.FinishReason != "" {
				finish = ch.FinishReason
			}
		}
	}
	stream.Close()
	if sb.String() != resp.Choices[0].Message.Content {
		t.Errorf("streamed %q, want %q as without streaming", sb.String(), resp.Choices[0].Message.Content)
	}
	if finish != resp.Choices[0].FinishReason {
		t.Errorf("streamed finish_reason %q, want %q", finish, resp.Choices[0].FinishReason)
	}
	if usage == nil || usage.CompletionTokens != resp.Usage.CompletionTokens || usage.PromptTokens != resp.Usage.PromptTokens {
		t.Errorf("streamed usage %+v, want %+v", usage, resp.Usage)
	}

	// max_completion_tokens caps too.
	resp, err = c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{
		Model: "chat", Messages: []openai.ChatCompletionMessage{{Role: "user", Content: "Hi"}}, MaxCompletionTokens: 3, Seed: &seed,
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Usage.CompletionTokens > 3 {
		t.Errorf("max_completion_tokens 3: %d tokens", resp.Usage.CompletionTokens)
	}

	comp, err := c.CreateCompletion(ctx, openai.CompletionRequest{Model: "stories", Prompt: "Once upon a time", MaxTokens: 16, Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	if len(comp.Choices) != 1 || comp.Choices[0].Text == "" || comp.Usage.CompletionTokens == 0 {
		t.Fatalf("completion: %+v", comp)
	}
	cs, err := c.CreateCompletionStream(ctx, openai.CompletionRequest{Model: "stories", Prompt: "Once upon a time", MaxTokens: 16, Seed: &seed, Stream: true})
	if err != nil {
		t.Fatal(err)
	}
	sb.Reset()
	for {
		chunk, err := cs.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range chunk.Choices {
			sb.WriteString(ch.Text)
		}
	}
	cs.Close()
	if sb.String() != comp.Choices[0].Text {
		t.Errorf("streamed completion %q, want %q", sb.String(), comp.Choices[0].Text)
	}

	emb, err := c.CreateEmbeddings(ctx, openai.EmbeddingRequest{Model: "stories", Input: []string{"a cat", "a dog"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Data) != 2 || len(emb.Data[0].Embedding) != 64 || emb.Usage.PromptTokens == 0 {
		t.Fatalf("embeddings: %d vectors, usage %+v", len(emb.Data), emb.Usage)
	}
	for _, d := range emb.Data {
		if n := norm(d.Embedding); math.Abs(n-1) > 1e-4 {
			t.Errorf("embedding %d has norm %v, want 1", d.Index, n)
		}
	}
	// base64, as the Python client asks by default, decodes to the same.
	emb64, err := c.CreateEmbeddings(ctx, openai.EmbeddingRequest{Model: "stories", Input: "a cat", EncodingFormat: openai.EmbeddingEncodingFormatBase64})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range emb64.Data[0].Embedding {
		if v != emb.Data[0].Embedding[i] {
			t.Fatalf("base64 embedding differs at %d: %v vs %v", i, v, emb.Data[0].Embedding[i])
		}
	}

	// A wrong model is OpenAI's 404.
	_, err = c.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: "nope", Messages: chatReq.Messages})
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 404 || apiErr.Code != "model_not_found" {
		t.Errorf("unknown model: %v", err)
	}
}

func norm(v []float32) float64 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return math.Sqrt(s)
}

func TestOllamaClient(t *testing.T) {
	ts := start(t, Config{})
	c := ollamaClient(t, ts, "")
	ctx := context.Background()

	if err := c.Heartbeat(ctx); err != nil {
		t.Fatalf("heartbeat (HEAD /): %v", err)
	}
	v, err := c.Version(ctx)
	if err != nil || v != "0.0.0-test" {
		t.Fatalf("version %q, %v", v, err)
	}

	greedy := map[string]any{"temperature": 0, "num_predict": 20}
	var parts []string
	var last ollama.GenerateResponse
	err = c.Generate(ctx, &ollama.GenerateRequest{Model: "stories", Prompt: "Once upon a time", Raw: true, Options: greedy}, func(r ollama.GenerateResponse) error {
		parts = append(parts, r.Response)
		last = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(parts) < 3 || !last.Done || last.DoneReason != "length" {
		t.Fatalf("generate stream: %d parts, last %+v", len(parts), last)
	}
	if last.EvalCount != 20 || last.PromptEvalCount == 0 || last.TotalDuration <= 0 || last.EvalDuration <= 0 || last.PromptEvalDuration <= 0 || len(last.Context) != last.PromptEvalCount+last.EvalCount {
		t.Errorf("final metrics: %+v", last.Metrics)
	}
	streamed := strings.Join(parts, "")
	// llama2.c's greedy continuation of BOS "Once upon a time".
	if !strings.HasPrefix(streamed, ", there was a little") {
		t.Errorf("greedy continuation %q", streamed)
	}
	no := false
	var whole ollama.GenerateResponse
	err = c.Generate(ctx, &ollama.GenerateRequest{Model: "stories", Prompt: "Once upon a time", Raw: true, Options: greedy, Stream: &no}, func(r ollama.GenerateResponse) error {
		whole = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if whole.Response != streamed || !whole.Done {
		t.Errorf("stream:false %q, streamed %q", whole.Response, streamed)
	}

	// Chat, streamed and not, on the model with a chat template.
	msgs := []ollama.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Tell me a story."}}
	var chatParts []string
	var chatLast ollama.ChatResponse
	err = c.Chat(ctx, &ollama.ChatRequest{Model: "chat", Messages: msgs, Options: greedy}, func(r ollama.ChatResponse) error {
		chatParts = append(chatParts, r.Message.Content)
		chatLast = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !chatLast.Done || chatLast.Message.Role != "assistant" || chatLast.EvalCount == 0 || chatLast.DoneReason == "" {
		t.Fatalf("chat final %+v", chatLast)
	}
	var chatWhole ollama.ChatResponse
	err = c.Chat(ctx, &ollama.ChatRequest{Model: "chat", Messages: msgs, Options: greedy, Stream: &no}, func(r ollama.ChatResponse) error {
		chatWhole = r
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if chatWhole.Message.Content != strings.Join(chatParts, "") {
		t.Errorf("chat stream:false %q, streamed %q", chatWhole.Message.Content, strings.Join(chatParts, ""))
	}

	list, err := c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Models) != 3 || list.Models[2].Name != "stories" || list.Models[2].Details.Family != "llama" || list.Models[2].Size == 0 || list.Models[2].Digest == "" {
		t.Errorf("tags: %+v", list.Models)
	}
	show, err := c.Show(ctx, &ollama.ShowRequest{Model: "chat"})
	if err != nil {
		t.Fatal(err)
	}
	if show.Template != chatTemplate || show.Details.Format != "gguf" || show.ModelInfo["general.architecture"] != "llama" {
		t.Errorf("show: template %q details %+v arch %v", show.Template, show.Details, show.ModelInfo["general.architecture"])
	}
	ps, err := c.ListRunning(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var running []string
	for _, m := range ps.Models {
		running = append(running, m.Name)
		if m.Size == 0 || m.ContextLength == 0 || m.ExpiresAt.Before(time.Now()) {
			t.Errorf("ps entry %+v", m)
		}
	}
	if strings.Join(running, ",") != "chat,stories" {
		t.Errorf("ps: %v, want chat,stories (most recent first)", running)
	}

	emb, err := c.Embed(ctx, &ollama.EmbedRequest{Model: "stories", Input: []string{"one", "two", "three"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(emb.Embeddings) != 3 || len(emb.Embeddings[0]) != 64 || emb.PromptEvalCount == 0 {
		t.Fatalf("embed: %d vectors", len(emb.Embeddings))
	}
	if n := norm(emb.Embeddings[1]); math.Abs(n-1) > 1e-4 {
		t.Errorf("embed norm %v", n)
	}

	if err := c.Delete(ctx, &ollama.DeleteRequest{Model: "random"}); err != nil {
		t.Fatal(err)
	}
	list, err = c.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Models) != 2 {
		t.Errorf("after delete: %d models", len(list.Models))
	}
	err = c.Delete(ctx, &ollama.DeleteRequest{Model: "random"})
	var se ollama.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 {
		t.Errorf("deleting again: %v, want 404", err)
	}
	err = c.Generate(ctx, &ollama.GenerateRequest{Model: "random", Prompt: "x"}, func(ollama.GenerateResponse) error { return nil })
	if !errors.As(err, &se) || se.StatusCode != 404 || !strings.Contains(se.ErrorMessage, "not found") {
		t.Errorf("generate with a deleted model: %v", err)
	}
}

// The server's embeddings are the library's (ondo.Model.Embed).
func TestEmbeddingsMatchLibrary(t *testing.T) {
	ts := start(t, Config{})
	texts := []string{"Once upon a time", "a cat sat on the mat", ""}
	path := filepath.Join(ts.dir, "stories.gguf")
	m, err := ondo.Load(path, ondo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want, err := m.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	emb, err := ollamaClient(t, ts, "").Embed(context.Background(), &ollama.EmbedRequest{Model: "stories", Input: texts})
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if len(emb.Embeddings[i]) != len(want[i]) {
			t.Fatalf("text %d: %d dimensions, want %d", i, len(emb.Embeddings[i]), len(want[i]))
		}
		for j, v := range want[i] {
			if emb.Embeddings[i][j] != v {
				t.Fatalf("text %d differs at %d: %v, library %v", i, j, emb.Embeddings[i][j], v)
			}
		}
	}
}

// Structured output through the real clients: go-openai's json_schema
// response_format and ollama/api's Format, streamed and not, give JSON
// that validates against the schema.
func TestClientsStructuredOutput(t *testing.T) {
	ts := start(t, Config{})
	ctx := context.Background()
	schema := json.RawMessage(personSchema)
	msgs := []openai.ChatCompletionMessage{{Role: "user", Content: "Tell me about a person as JSON."}}

	oc := openaiClient(ts, "unused")
	zero := float32(0)
	for _, strict := range []bool{false, true} {
		req := openai.ChatCompletionRequest{
			Model: "stories", Messages: msgs, MaxTokens: 200, Temperature: zero,
			ResponseFormat: &openai.ChatCompletionResponseFormat{
				Type:       openai.ChatCompletionResponseFormatTypeJSONSchema,
				JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{Name: "person", Schema: schema, Strict: strict},
			},
		}
		resp, err := oc.CreateChatCompletion(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		validateJSON(t, personSchema, resp.Choices[0].Message.Content)
		if resp.Choices[0].FinishReason != openai.FinishReasonStop {
			t.Errorf("finish_reason %q, want stop", resp.Choices[0].FinishReason)
		}
		req.Stream = true
		stream, err := oc.CreateChatCompletionStream(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		for {
			chunk, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range chunk.Choices {
				sb.WriteString(ch.Delta.Content)
			}
		}
		stream.Close()
		validateJSON(t, personSchema, sb.String())
	}
	// A schema the server cannot use is an APIError naming the field.
	_, err := oc.CreateChatCompletion(ctx, openai.ChatCompletionRequest{Model: "stories", Messages: msgs,
		ResponseFormat: &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONSchema,
			JSONSchema: &openai.ChatCompletionResponseFormatJSONSchema{Name: "x", Schema: json.RawMessage(`{"type":"array","uniqueItems":true}`)}}})
	var apiErr *openai.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != 400 || apiErr.Param == nil || *apiErr.Param != "response_format.json_schema.schema" || !strings.Contains(apiErr.Message, "uniqueItems") {
		t.Errorf("unsupported schema: %v", err)
	}

	c := ollamaClient(t, ts, "")
	greedy := map[string]any{"temperature": 0, "num_predict": 200}
	for _, stream := range []bool{false, true} {
		var sb strings.Builder
		err := c.Chat(ctx, &ollama.ChatRequest{Model: "stories", Messages: []ollama.Message{{Role: "user", Content: "Tell me about a person as JSON."}},
			Format: schema, Options: greedy, Stream: &stream}, func(r ollama.ChatResponse) error {
			sb.WriteString(r.Message.Content)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		validateJSON(t, personSchema, sb.String())
		sb.Reset()
		err = c.Generate(ctx, &ollama.GenerateRequest{Model: "stories", Prompt: "Once upon a time", Raw: true,
			Format: schema, Options: greedy, Stream: &stream}, func(r ollama.GenerateResponse) error {
			sb.WriteString(r.Response)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		validateJSON(t, personSchema, sb.String())
	}
	err = c.Generate(ctx, &ollama.GenerateRequest{Model: "stories", Prompt: "x", Format: json.RawMessage(`"yaml"`)}, func(ollama.GenerateResponse) error { return nil })
	var se ollama.StatusError
	if !errors.As(err, &se) || se.StatusCode != 400 || !strings.Contains(se.ErrorMessage, "yaml") {
		t.Errorf("format yaml: %v", err)
	}
}
