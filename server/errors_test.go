package server

import (
	"net/http"
	"strings"
	"testing"
)

// Every way a request can be wrong gets a 4xx with a message that says
// what, in the error shape of the API it was sent to.
func TestRequestErrors(t *testing.T) {
	ts := start(t, Config{MaxBodyBytes: 1 << 16, APIKey: "sekrit"})
	auth := []string{"Authorization", "Bearer sekrit"}
	chat := func(extra string) string {
		return `{"model":"stories","messages":[{"role":"user","content":"hi"}]` + extra + `}`
	}
	big := `{"model":"stories","prompt":"` + strings.Repeat("a", 1<<17) + `"}`
	tests := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		want                     string // in the message
		code                     string // OpenAI's code, when checked
	}{
		{"malformed JSON", "POST", "/v1/chat/completions", `{"model": "stories", "messages": [`, auth, 400, "invalid JSON", ""},
		{"not JSON", "POST", "/api/generate", `hello`, auth, 400, "invalid JSON", ""},
		{"empty body", "POST", "/api/chat", ``, auth, 400, "empty", ""},
		{"two values", "POST", "/api/generate", `{"model":"stories"} {}`, auth, 400, "more than one", ""},
		{"wrong type", "POST", "/v1/chat/completions", chat(`,"max_tokens":"ten"`), auth, 400, `"max_tokens": expected an integer`, ""},
		{"wrong type nested", "POST", "/api/generate", `{"model":"stories","prompt":"x","options":{"temperature":"hot"}}`, auth, 400, `"options.temperature": expected a number`, ""},
		{"wrong stop type", "POST", "/v1/completions", `{"model":"stories","prompt":"x","stop":5}`, auth, 400, "stop", ""},
		{"array body", "POST", "/api/chat", `[1,2]`, auth, 400, "expected a JSON object", ""},
		{"unknown model openai", "POST", "/v1/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, auth, 404, "nope", "model_not_found"},
		{"unknown model ollama", "POST", "/api/generate", `{"model":"nope","prompt":"hi"}`, auth, 404, "nope", ""},
		{"unknown model show", "POST", "/api/show", `{"model":"nope"}`, auth, 404, "nope", ""},
		{"bad model name", "POST", "/api/generate", `{"model":"../etc/passwd","prompt":"hi"}`, auth, 404, "", ""},
		{"missing model", "POST", "/v1/chat/completions", `{"messages":[{"role":"user","content":"hi"}]}`, auth, 400, "model", ""},
		{"no messages", "POST", "/v1/chat/completions", `{"model":"stories","messages":[]}`, auth, 400, "messages", ""},
		{"negative max_tokens", "POST", "/v1/chat/completions", chat(`,"max_tokens":-5`), auth, 400, "max_tokens -5", ""},
		{"zero max_tokens", "POST", "/v1/completions", `{"model":"stories","prompt":"x","max_tokens":0}`, auth, 400, "max_tokens 0", ""},
		{"n = 2", "POST", "/v1/chat/completions", chat(`,"n":2`), auth, 400, "n must be 1", ""},
		{"temperature", "POST", "/v1/chat/completions", chat(`,"temperature":3`), auth, 400, "temperature 3", ""},
		{"top_p", "POST", "/api/generate", `{"model":"stories","prompt":"x","options":{"top_p":1.5}}`, auth, 400, "top_p", ""},
		{"logit_bias key", "POST", "/v1/chat/completions", chat(`,"logit_bias":{"dog":5}`), auth, 400, "logit_bias", ""},
		{"logit_bias id", "POST", "/v1/chat/completions", chat(`,"logit_bias":{"99999":5}`), auth, 400, "logit_bias", ""},
		{"logit_bias value", "POST", "/v1/chat/completions", chat(`,"logit_bias":{"5":500}`), auth, 400, "logit_bias", ""},
		{"top_logprobs alone", "POST", "/v1/chat/completions", chat(`,"top_logprobs":3`), auth, 400, "logprobs", ""},
		{"keep_alive", "POST", "/api/generate", `{"model":"stories","prompt":"x","keep_alive":"soon"}`, auth, 400, "keep_alive", ""},
		{"format", "POST", "/api/generate", `{"model":"stories","prompt":"x","format":"yaml"}`, auth, 400, "format", ""},
		{"response_format", "POST", "/v1/chat/completions", chat(`,"response_format":{"type":"yaml"}`), auth, 400, "response_format", ""},
		{"grammar", "POST", "/v1/completions", `{"model":"stories","prompt":"x","grammar":"root ::= \"a"}`, auth, 400, `"grammar": line 1, column 10`, ""},
		{"template syntax", "POST", "/api/generate", `{"model":"stories","prompt":"x","template":"{% for %}"}`, auth, 400, "Jinja", ""},
		{"prompt tokens", "POST", "/v1/completions", `{"model":"stories","prompt":[1, 100000]}`, auth, 400, "token id", ""},
		{"oversized body", "POST", "/v1/completions", big, auth, 413, "larger than the limit", ""},
		{"no API key", "POST", "/v1/chat/completions", chat(""), nil, 401, "missing API key", "invalid_api_key"},
		{"wrong API key", "POST", "/v1/chat/completions", chat(""), []string{"Authorization", "Bearer nope"}, 401, "invalid API key", "invalid_api_key"},
		{"wrong API key ollama", "GET", "/api/tags", "", []string{"Authorization", "Bearer nope"}, 401, "invalid API key", ""},
		// GET / is the chat page, which loads without the key (package
		// webui's tests); anything else at the root still needs it.
		{"wrong API key root", "POST", "/", "", nil, 401, "API key", ""},
		{"unknown path", "GET", "/v1/nothing", "", auth, 404, "no such endpoint", "unknown_url"},
		{"wrong method", "GET", "/api/chat", "", auth, 405, "not allowed", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			r := ts.do(t, tt.method, tt.path, body, tt.hdr...)
			if r.status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.status, tt.status, r.body)
			}
			m := r.json(t)
			var msg string
			if strings.HasPrefix(tt.path, "/v1/") {
				e, ok := m["error"].(map[string]any)
				if !ok {
					t.Fatalf("not OpenAI's error shape: %s", r.body)
				}
				msg, _ = e["message"].(string)
				if typ, _ := e["type"].(string); typ == "" {
					t.Errorf("no error type: %s", r.body)
				}
				if tt.code != "" && e["code"] != tt.code {
					t.Errorf("code %v, want %s", e["code"], tt.code)
				}
			} else {
				var ok bool
				if msg, ok = m["error"].(string); !ok {
					t.Fatalf("not Ollama's error shape: %s", r.body)
				}
			}
			if msg == "" || !strings.Contains(msg, tt.want) {
				t.Errorf("message %q does not mention %q", msg, tt.want)
			}
		})
	}

	// /health stays open; everything else accepts the key.
	if r := ts.do(t, "GET", "/health", nil); r.status != 200 {
		t.Errorf("/health without a key: %d", r.status)
	}
	if r := ts.do(t, "GET", "/api/version", nil, auth...); r.status != 200 {
		t.Errorf("/api/version with the key: %d %s", r.status, r.body)
	}
	if r := ts.do(t, "POST", "/v1/chat/completions", chat(`,"max_tokens":2`), "Authorization", "Bearer sekrit"); r.status != 200 {
		t.Errorf("chat with the key: %d %s", r.status, r.body)
	}
	// The 401 says how to authenticate.
	if r := ts.do(t, "GET", "/api/tags", nil); r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("401 without WWW-Authenticate")
	}
}

// A prompt longer than the context is a 400 that says so, unless the
// request asks to truncate.
func TestPromptTooLong(t *testing.T) {
	ts := start(t, Config{Context: 64})
	long := strings.Repeat("Once upon a time there was a cat. ", 30)
	r := ts.do(t, "POST", "/v1/completions", map[string]any{"model": "stories", "prompt": long, "max_tokens": 4})
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	e := r.json(t)["error"].(map[string]any)
	if e["code"] != "context_length_exceeded" || !strings.Contains(e["message"].(string), "context of 64 tokens") {
		t.Errorf("error %v", e)
	}
	r = ts.do(t, "POST", "/api/generate", map[string]any{"model": "stories", "prompt": long, "raw": true, "stream": false})
	if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "truncate") {
		t.Errorf("ollama: status %d: %s", r.status, r.body)
	}
	r = ts.do(t, "POST", "/api/generate", map[string]any{"model": "stories", "prompt": long, "raw": true, "stream": false, "truncate": true,
		"options": map[string]any{"num_predict": 4, "temperature": 0}})
	if r.status != http.StatusOK {
		t.Fatalf("truncate: status %d: %s", r.status, r.body)
	}
	if n := r.json(t)["prompt_eval_count"].(float64); n > 64 {
		t.Errorf("truncated prompt has %v tokens", n)
	}
}
