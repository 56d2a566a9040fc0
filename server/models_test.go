package server

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ondo-ai/ondo/engine"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/tokenizer"
)

// running lists the loaded models as /api/ps does.
func (ts *testServer) running(t testing.TB) []string {
	t.Helper()
	r := ts.do(t, "GET", "/api/ps", nil)
	if r.status != 200 {
		t.Fatalf("/api/ps: %d %s", r.status, r.body)
	}
	var names []string
	for _, m := range r.json(t)["models"].([]any) {
		names = append(names, m.(map[string]any)["name"].(string))
	}
	return names
}

func (ts *testServer) generate(t testing.TB, model string, extra map[string]any) response {
	t.Helper()
	body := map[string]any{"model": model, "prompt": "Once upon a time", "raw": true, "stream": false,
		"options": map[string]any{"num_predict": 4, "temperature": 0}}
	for k, v := range extra {
		body[k] = v
	}
	return ts.do(t, "POST", "/api/generate", body)
}

func TestKeepAlive(t *testing.T) {
	ts := start(t, Config{})
	// keep_alive 0 unloads as soon as the request ends.
	if r := ts.generate(t, "stories", map[string]any{"keep_alive": 0}); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := ts.running(t); len(got) != 0 {
		t.Errorf("after keep_alive 0: loaded %v", got)
	}
	// A short keep-alive unloads after it.
	if r := ts.generate(t, "stories", map[string]any{"keep_alive": "150ms"}); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	if got := ts.running(t); len(got) != 1 {
		t.Errorf("right after a 150ms keep_alive: loaded %v", got)
	}
	waitFor(t, 5*time.Second, "the keep-alive to expire", func() bool { return len(ts.running(t)) == 0 })

	// A negative one keeps the model; a load-only request (no prompt)
	// loads, and one with keep_alive 0 unloads, as in Ollama.
	r := ts.do(t, "POST", "/api/generate", map[string]any{"model": "stories", "keep_alive": -1})
	if r.status != 200 || r.json(t)["done_reason"] != "load" {
		t.Fatalf("load: %d %s", r.status, r.body)
	}
	ps := ts.do(t, "GET", "/api/ps", nil).json(t)["models"].([]any)
	if len(ps) != 1 || !strings.HasPrefix(ps[0].(map[string]any)["expires_at"].(string), "2318") {
		t.Errorf("keep_alive -1: %v", ps)
	}
	r = ts.do(t, "POST", "/api/chat", map[string]any{"model": "stories", "messages": []any{}, "keep_alive": 0})
	if r.status != 200 || r.json(t)["done_reason"] != "unload" {
		t.Fatalf("unload: %d %s", r.status, r.body)
	}
	if got := ts.running(t); len(got) != 0 {
		t.Errorf("after unload: %v", got)
	}
}

// With room for one model, using another unloads the least recently used.
func TestLRUEviction(t *testing.T) {
	ts := start(t, Config{MaxLoadedModels: 1})
	for _, m := range []string{"stories", "random", "stories", "chat"} {
		if r := ts.generate(t, m, nil); r.status != 200 {
			t.Fatalf("%s: %d %s", m, r.status, r.body)
		}
		if got := ts.running(t); len(got) != 1 || got[0] != m {
			t.Fatalf("after using %s: loaded %v", m, got)
		}
	}
	metrics := string(ts.do(t, "GET", "/metrics", nil).body)
	if !strings.Contains(metrics, `ondo_model_unloads_total{model="stories",reason="lru"} 2`) {
		t.Errorf("/metrics does not count the evictions")
	}
}

// gated holds every Submit until its gate opens, so that a test can keep a
// model busy.
type gated struct {
	generator
	gate chan struct{}
}

func (g *gated) Submit(ctx context.Context, req engine.Request) (<-chan engine.Event, error) {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.generator.Submit(ctx, req)
}

// A model with a request in flight is never evicted: a load that needs its
// place waits for it, and answers 503 when the wait is too long.
func TestBusyModelNotEvicted(t *testing.T) {
	ts := start(t, Config{MaxLoadedModels: 1, LoadWait: 300 * time.Millisecond})
	gate := make(chan struct{})
	ts.models.newGen = func(m model.Model, tok *tokenizer.Tokenizer, cfg engine.Config) (generator, error) {
		g, err := newEngine(m, tok, cfg)
		if err != nil {
			return nil, err
		}
		return &gated{g, gate}, nil
	}
	var wg sync.WaitGroup
	var held response
	wg.Go(func() { held = ts.generate(t, "stories", nil) })
	waitFor(t, 5*time.Second, "stories to load", func() bool { return len(ts.running(t)) == 1 })

	r := ts.generate(t, "random", nil)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "busy") {
		t.Errorf("loading a second model while the first is busy: %d %q (Retry-After %q)", r.status, r.body, r.header.Get("Retry-After"))
	}
	// Waiting is enough when the busy model finishes in time.
	var second response
	wg.Go(func() { second = ts.generate(t, "random", nil) })
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	if held.status != 200 || second.status != 200 {
		t.Fatalf("held %d %s; second %d %s", held.status, held.body, second.status, second.body)
	}
	if got := ts.running(t); len(got) != 1 || got[0] != "random" {
		t.Errorf("loaded %v, want [random]", got)
	}
}

// A model that cannot fit in the memory budget is a 507 with the numbers.
func TestMemoryBudget(t *testing.T) {
	ts := start(t, Config{MaxMemory: 3 << 20})
	r := ts.generate(t, "stories", nil)
	if r.status != http.StatusInsufficientStorage {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	msg := r.json(t)["error"].(string)
	for _, want := range []string{"stories", "memory budget is 3.0 MiB", "--max-memory"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	// A smaller context makes it fit.
	if r := ts.generate(t, "stories", map[string]any{"options": map[string]any{"num_ctx": 64, "num_predict": 2}}); r.status != 200 {
		t.Errorf("num_ctx 64: %d %s", r.status, r.body)
	}
	if got := ts.running(t); len(got) != 1 {
		t.Fatalf("loaded %v", got)
	}
	ps := ts.do(t, "GET", "/api/ps", nil).json(t)["models"].([]any)[0].(map[string]any)
	if ps["context_length"].(float64) != 64 {
		t.Errorf("context_length %v, want 64", ps["context_length"])
	}
	// Another num_ctx reloads it; no num_ctx keeps what is loaded.
	for _, opts := range []map[string]any{{"num_ctx": 128, "num_predict": 2}, {"num_predict": 2}} {
		if r := ts.generate(t, "stories", map[string]any{"options": opts}); r.status != 200 {
			t.Fatalf("%v: %d %s", opts, r.status, r.body)
		}
		ps = ts.do(t, "GET", "/api/ps", nil).json(t)["models"].([]any)[0].(map[string]any)
		if ps["context_length"].(float64) != 128 {
			t.Errorf("after %v: context_length %v, want 128", opts, ps["context_length"])
		}
	}
}

// queueFull refuses every request as an engine with a full queue does.
type queueFull struct{ generator }

func (queueFull) Submit(context.Context, engine.Request) (<-chan engine.Event, error) {
	return nil, engine.ErrQueueFull
}

func TestQueueFull(t *testing.T) {
	ts := start(t, Config{})
	ts.models.newGen = func(m model.Model, tok *tokenizer.Tokenizer, cfg engine.Config) (generator, error) {
		g, err := newEngine(m, tok, cfg)
		if err != nil {
			return nil, err
		}
		return queueFull{g}, nil
	}
	for _, path := range []string{"/v1/completions", "/api/generate"} {
		r := ts.do(t, "POST", path, map[string]any{"model": "stories", "prompt": "x", "stream": true})
		if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || !strings.Contains(string(r.body), "queue is full") {
			t.Errorf("%s: %d %s (Retry-After %q)", path, r.status, r.body, r.header.Get("Retry-After"))
		}
	}
}

// The real engine's queue: one slot, no waiting, two requests at once.
func TestQueueFullRealEngine(t *testing.T) {
	ts := start(t, Config{Parallel: 1, MaxQueue: -1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A long stream holds the only slot (EOS banned, so it runs to the
	// context's end unless cancelled).
	errc := make(chan error, 1)
	go func() {
		_, err := streamText(ctx, ts.URL, "/v1/completions", map[string]any{"model": "stories", "prompt": "Once", "stream": true,
			"temperature": 0, "logit_bias": map[string]int{"2": -100}})
		errc <- err
	}()
	waitFor(t, 5*time.Second, "the slot to be taken", func() bool {
		st := ts.models.stats()
		return len(st) == 1 && st[0].stats.Active == 1
	})
	r := ts.do(t, "POST", "/v1/completions", map[string]any{"model": "stories", "prompt": "x", "max_tokens": 2})
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" {
		t.Errorf("second request: %d %s", r.status, r.body)
	}
	cancel()
	if err := <-errc; err == nil {
		t.Error("the held stream ended on its own before the check")
	}
}

func TestDirResolver(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.gguf", "b:q4.gguf", ".hidden.gguf", "notes.txt"} {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	d := DirResolver{Dir: dir}
	list, err := d.List()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "a,b:q4" {
		t.Errorf("list %v", names)
	}
	for name, want := range map[string]string{
		"a": "a.gguf", "a:latest": "a.gguf", "b:q4": "b:q4.gguf",
		filepath.Join(dir, "a.gguf"): "a.gguf",
	} {
		p, err := d.Resolve(name)
		if err != nil || filepath.Base(p) != want {
			t.Errorf("Resolve(%q) = %q, %v; want %s", name, p, err, want)
		}
	}
	for _, name := range []string{"", "b", "../a", "..", ".hidden", "a/../../x.gguf", filepath.Join(dir, "notes.txt"), "/etc/passwd"} {
		if _, err := d.Resolve(name); !errors.Is(err, ErrModelNotFound) {
			t.Errorf("Resolve(%q): %v, want ErrModelNotFound", name, err)
		}
	}
	if err := d.Delete(filepath.Join(dir, "a.gguf")); err == nil {
		t.Error("deleting by path succeeded")
	}
	if err := d.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Resolve("a"); !errors.Is(err, ErrModelNotFound) {
		t.Errorf("a after delete: %v", err)
	}
}
