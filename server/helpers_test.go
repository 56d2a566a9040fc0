package server

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
)

// chatTemplate is the template of the synthetic chat model: it writes the
// BOS token itself, as Llama 3's and Gemma's templates do.
const chatTemplate = "{{ bos_token }}{% for m in messages %}<|{{ m.role }}|>{{ m.content }}\n{% endfor %}{% if add_generation_prompt %}<|assistant|>{% endif %}"

// modelsDir makes a models folder for a test: "stories" (stories260K,
// no chat template), "random" (llama-2-tiny-random) and "chat"
// (stories260K with chatTemplate added).
func modelsDir(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	link := func(name, src string) {
		if err := os.Symlink(src, filepath.Join(dir, name+".gguf")); err != nil {
			t.Fatal(err)
		}
	}
	stories := testdata.Path(t, "gguf", "stories260K.gguf")
	link("stories", stories)
	link("random", testdata.Path(t, "gguf", "llama-2-tiny-random.gguf"))
	withTemplate(t, stories, filepath.Join(dir, "chat.gguf"), chatTemplate)
	return dir
}

// withTemplate copies the model at src to dst with tokenizer.chat_template
// set to tmpl.
func withTemplate(t testing.TB, src, dst, tmpl string) {
	t.Helper()
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var kvs []gguf.KV
	for _, kv := range f.KV {
		if kv.Key != "tokenizer.chat_template" {
			kvs = append(kvs, kv)
		}
	}
	kvs = append(kvs, gguf.NewKV("tokenizer.chat_template", tmpl))
	var ts []gguf.TensorSpec
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		ts = append(ts, gguf.TensorSpec{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: f.TensorData(ti)})
	}
	if err := gguf.WriteFile(dst, kvs, ts); err != nil {
		t.Fatal(err)
	}
}

// testServer is a Server listening on a loopback port.
type testServer struct {
	*Server
	URL string
	dir string
}

// start serves cfg (with a fresh models folder unless cfg names one) on
// 127.0.0.1:0 until the test ends.
func start(t testing.TB, cfg Config) *testServer {
	t.Helper()
	if cfg.Resolver == nil && cfg.ModelsDir == "" {
		cfg.ModelsDir = modelsDir(t)
	}
	if cfg.Version == "" {
		cfg.Version = "0.0.0-test"
	}
	if testing.Verbose() && cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("serve: %v", err)
		}
	})
	return &testServer{Server: s, URL: "http://" + ln.Addr().String(), dir: cfg.ModelsDir}
}

// response is an HTTP answer read whole.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not a JSON object: %v: %q", r.status, err, r.body)
	}
	return m
}

// do sends a request with a raw body (a string, []byte or a value to
// encode as JSON) and reads the answer.
func (ts *testServer) do(t testing.TB, method, path string, body any, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, ts.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, path, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// streamText posts a streaming request and returns the generated text,
// reading SSE (OpenAI) or NDJSON (Ollama) as the path says.
func streamText(ctx context.Context, url, path string, body any) (string, error) {
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+path, bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return "", &httpError{resp.StatusCode, string(b)}
	}
	var sb strings.Builder
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if strings.HasPrefix(path, "/v1/") {
			payload, ok := strings.CutPrefix(line, "data: ")
			if !ok {
				continue
			}
			if payload == "[DONE]" {
				return sb.String(), nil
			}
			var c struct {
				Choices []struct {
					Text  string `json:"text"`
					Delta struct {
						Content string `json:"content"`
					} `json:"delta"`
				} `json:"choices"`
				Error *struct {
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal([]byte(payload), &c); err != nil {
				return "", err
			}
			if c.Error != nil {
				return sb.String(), &httpError{200, c.Error.Message}
			}
			for _, ch := range c.Choices {
				sb.WriteString(ch.Text + ch.Delta.Content)
			}
			continue
		}
		var c struct {
			Response string `json:"response"`
			Message  struct {
				Content string `json:"content"`
			} `json:"message"`
			Done  bool   `json:"done"`
			Error string `json:"error"`
		}
		if err := json.Unmarshal([]byte(line), &c); err != nil {
			return "", err
		}
		if c.Error != "" {
			return sb.String(), &httpError{200, c.Error}
		}
		sb.WriteString(c.Response + c.Message.Content)
		if c.Done {
			return sb.String(), nil
		}
	}
	if err := sc.Err(); err != nil {
		return sb.String(), err
	}
	return sb.String(), io.ErrUnexpectedEOF
}

type httpError struct {
	status int
	body   string
}

func (e *httpError) Error() string { return http.StatusText(e.status) + ": " + e.body }

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
