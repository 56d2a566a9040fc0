package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ondo-ai/ondo/chat"
)

// The chat template decides BOS: a template that writes bos_token gets no
// second one from the tokenizer, and one that does not (the fallback) gets
// the tokenizer's.
func TestChatPromptBOS(t *testing.T) {
	ts := start(t, Config{})
	ctx := context.Background()
	msgs := []chat.Message{{Role: "user", Content: "Hello"}}
	for _, name := range []string{"chat", "stories"} {
		r, err := ts.models.acquire(ctx, name, loadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		text, err := r.renderChat(nil, msgs, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids := r.encodePrompt(text)
		bos := r.tok.BOS()
		if ids[0] != bos || ids[1] == bos {
			t.Errorf("%s: prompt %q starts %v, want one BOS (%d)", name, text, ids[:2], bos)
		}
		if name == "chat" && !strings.HasPrefix(text, "<s><|user|>Hello\n<|assistant|>") {
			t.Errorf("chat: rendered %q", text)
		}
		if name == "stories" && r.tmpl.Name() == "" {
			t.Errorf("stories has no chat template, so the fallback should apply")
		}
		// The prompt the API evaluates is this one.
		resp := ts.do(t, "POST", "/v1/chat/completions", map[string]any{"model": name, "messages": msgs, "max_tokens": 1})
		if got := resp.json(t)["usage"].(map[string]any)["prompt_tokens"].(float64); int(got) != len(ids) {
			t.Errorf("%s: prompt_tokens %v, want %d", name, got, len(ids))
		}
		ts.models.release(r)
	}
}

func TestStopLogprobsAndBias(t *testing.T) {
	ts := start(t, Config{})
	greedy := func(extra map[string]any) map[string]any {
		body := map[string]any{"model": "stories", "prompt": "Once upon a time", "max_tokens": 12, "temperature": 0}
		for k, v := range extra {
			body[k] = v
		}
		r := ts.do(t, "POST", "/v1/completions", body)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return r.json(t)
	}
	choice := func(m map[string]any) map[string]any { return m["choices"].([]any)[0].(map[string]any) }

	plain := choice(greedy(nil))
	if !strings.HasPrefix(plain["text"].(string), ", there was a little") || plain["finish_reason"] != "length" {
		t.Fatalf("greedy: %v", plain)
	}
	// A stop string ends the text before it; a string or an array works.
	for _, stop := range []any{" little", []string{"zzz", " little"}} {
		c := choice(greedy(map[string]any{"stop": stop}))
		if c["text"] != ", there was a" || c["finish_reason"] != "stop" {
			t.Errorf("stop %v: %v", stop, c)
		}
	}
	// Logprobs: one entry per token, the chosen one the most likely.
	c := choice(greedy(map[string]any{"logprobs": 3}))
	lp := c["logprobs"].(map[string]any)
	tokens := lp["tokens"].([]any)
	if len(tokens) != 12 {
		t.Fatalf("%d logprob tokens, want 12", len(tokens))
	}
	var joined string
	for i, tok := range tokens {
		joined += tok.(string)
		top := lp["top_logprobs"].([]any)[i].(map[string]any)
		chosen := lp["token_logprobs"].([]any)[i].(float64)
		if len(top) != 3 || chosen > 0 {
			t.Errorf("token %d: top %v, logprob %v", i, top, chosen)
		}
		for _, v := range top {
			if v.(float64) > chosen+1e-6 {
				t.Errorf("token %d: greedy chose %v but %v was more likely", i, chosen, v)
			}
		}
	}
	if joined != c["text"] {
		t.Errorf("logprob tokens make %q, text is %q", joined, c["text"])
	}

	// Banning the first token greedy picks changes the first token.
	r, err := ts.models.acquire(context.Background(), "stories", loadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bias := map[string]int{}
	for id := range r.tok.VocabSize() {
		if r.tokenText(int32(id)) == tokens[0].(string) {
			bias[strconv.Itoa(id)] = -100 // the byte token too, for SPM
		}
	}
	ts.models.release(r)
	banned := choice(greedy(map[string]any{"logit_bias": bias}))
	if strings.HasPrefix(banned["text"].(string), tokens[0].(string)) {
		t.Errorf("tokens %v (%q) banned but the text starts with it: %q", bias, tokens[0], banned["text"])
	}

	// Chat logprobs in OpenAI's chat shape.
	resp := ts.do(t, "POST", "/v1/chat/completions", map[string]any{"model": "chat", "messages": []map[string]string{{"role": "user", "content": "Hi"}},
		"max_tokens": 5, "temperature": 0, "logprobs": true, "top_logprobs": 2})
	content := choiceOf(t, resp)["logprobs"].(map[string]any)["content"].([]any)
	if len(content) != 5 {
		t.Fatalf("%d chat logprobs", len(content))
	}
	for _, e := range content {
		e := e.(map[string]any)
		if len(e["top_logprobs"].([]any)) != 2 || e["token"] == nil || e["bytes"] == nil {
			t.Errorf("chat logprob %v", e)
		}
	}
	// And in Ollama's.
	g := ts.generate(t, "stories", map[string]any{"logprobs": true, "top_logprobs": 2}).json(t)
	if lps := g["logprobs"].([]any); len(lps) != int(g["eval_count"].(float64)) || len(lps[0].(map[string]any)["top_logprobs"].([]any)) != 2 {
		t.Errorf("ollama logprobs %v", g["logprobs"])
	}
}

func choiceOf(t *testing.T, r response) map[string]any {
	t.Helper()
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	return r.json(t)["choices"].([]any)[0].(map[string]any)
}

// Ollama's generate: a request's own (Jinja) template, a system prompt,
// and a conversation continued from the returned context.
func TestOllamaGenerateTemplateAndContext(t *testing.T) {
	ts := start(t, Config{})
	r := ts.do(t, "POST", "/api/generate", map[string]any{"model": "stories", "prompt": "a cat", "system": "Tell a story", "stream": false,
		"template": "{{ bos_token }}{% for m in messages %}{{ m.content }}. {% endfor %}Once upon a time",
		"options":  map[string]any{"temperature": 0, "num_predict": 8}})
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	first := r.json(t)
	ctxTokens := first["context"].([]any)
	if len(ctxTokens) != int(first["prompt_eval_count"].(float64)+first["eval_count"].(float64)) {
		t.Errorf("context %d tokens", len(ctxTokens))
	}
	r = ts.do(t, "POST", "/api/generate", map[string]any{"model": "stories", "prompt": " The end.", "raw": true, "stream": false, "context": ctxTokens,
		"options": map[string]any{"temperature": 0, "num_predict": 4}})
	if r.status != 200 {
		t.Fatalf("continuing: %d %s", r.status, r.body)
	}
	if n := r.json(t)["prompt_eval_count"].(float64); int(n) <= len(ctxTokens) {
		t.Errorf("the continued prompt has %v tokens, the context alone %d", n, len(ctxTokens))
	}
}

func TestCORS(t *testing.T) {
	ts := start(t, Config{CORSOrigins: []string{"https://app.example"}, APIKey: "k"})
	pre := func(origin string) response {
		return ts.do(t, "OPTIONS", "/v1/chat/completions", nil, "Origin", origin, "Access-Control-Request-Method", "POST",
			"Access-Control-Request-Headers", "authorization,content-type")
	}
	r := pre("https://app.example")
	if r.status != http.StatusNoContent || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" ||
		!strings.Contains(r.header.Get("Access-Control-Allow-Headers"), "Authorization") {
		t.Errorf("allowed preflight: %d %v", r.status, r.header)
	}
	if r := pre("https://evil.example"); r.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("other origin allowed: %v", r.header)
	}
	r = ts.do(t, "GET", "/v1/models", nil, "Origin", "https://app.example", "Authorization", "Bearer k")
	if r.status != 200 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("allowed GET: %d %v", r.status, r.header)
	}
}

// openStream starts a streaming completion and returns a reader of its
// lines once the first chunk has arrived.
func openStream(t *testing.T, url string, body map[string]any) (*bufio.Scanner, func()) {
	t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(url+"/v1/completions", "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	if !sc.Scan() {
		t.Fatal("no first chunk")
	}
	return sc, func() { resp.Body.Close() }
}

// Shutdown lets running streams finish; when its context ends first, the
// streams still running end with an error message, not a cut connection.
func TestGracefulShutdown(t *testing.T) {
	for _, patient := range []bool{true, false} {
		name := map[bool]string{true: "finishes", false: "cancels"}[patient]
		t.Run(name, func(t *testing.T) {
			s, err := New(Config{ModelsDir: modelsDir(t)})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- s.Serve(ln) }()
			url := "http://" + ln.Addr().String()
			body := map[string]any{"model": "stories", "prompt": "Once", "stream": true, "temperature": 0, "logit_bias": map[string]int{"2": -100}}
			if patient {
				body["max_tokens"] = 100
			} // else: EOS banned, no limit: it runs to the context's end
			sc, closeBody := openStream(t, url, body)
			defer closeBody()

			timeout := 30 * time.Second
			if !patient {
				timeout = 50 * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			shut := make(chan error, 1)
			go func() { shut <- s.Shutdown(ctx) }()

			var last, prev string
			for sc.Scan() {
				if line := sc.Text(); line != "" {
					prev, last = last, line
				}
			}
			if patient {
				if last != "data: [DONE]" {
					t.Errorf("stream ended with %q", last)
				}
				if err := <-shut; err != nil {
					t.Errorf("shutdown: %v", err)
				}
			} else {
				if last != "data: [DONE]" || !strings.Contains(prev, "shutting down") {
					t.Errorf("cancelled stream ended with %q, %q", prev, last)
				}
				if err := <-shut; !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("shutdown: %v, want the deadline", err)
				}
			}
			if err := <-served; err != http.ErrServerClosed {
				t.Errorf("serve: %v", err)
			}
			if n := len(s.models.loaded()); n != 0 {
				t.Errorf("%d models still loaded", n)
			}
			if _, err := http.Get(url + "/health"); err == nil {
				t.Error("the server still answers after Shutdown")
			}
		})
	}
}
