package server

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// greedyRequest is a greedy streaming request for one of the four
// streaming endpoints, so that concurrent clients mix the APIs.
func greedyRequest(i int, prompt string, n int) (path string, body map[string]any) {
	switch i % 4 {
	case 0:
		return "/v1/completions", map[string]any{"model": "stories", "prompt": prompt, "max_tokens": n, "temperature": 0, "stream": true}
	case 1:
		return "/api/generate", map[string]any{"model": "stories", "prompt": prompt, "raw": true, "options": map[string]any{"temperature": 0, "num_predict": n}}
	case 2:
		return "/v1/chat/completions", map[string]any{"model": "chat", "messages": []map[string]string{{"role": "user", "content": prompt}}, "max_tokens": n, "temperature": 0, "stream": true}
	default:
		return "/api/chat", map[string]any{"model": "chat", "messages": []map[string]string{{"role": "user", "content": prompt}}, "options": map[string]any{"temperature": 0, "num_predict": n}}
	}
}

// Sixteen clients streaming at once each get exactly what the same
// request gets alone: batching changes nothing in greedy decoding.
func TestConcurrentStreamsMatchAlone(t *testing.T) {
	ts := start(t, Config{Parallel: 4})
	ctx := context.Background()
	prompts := []string{"Once upon a time", "The cat sat", "Lily and Ben went to the park", "One day"}
	const clients, n = 16, 48
	alone := make([]string, clients)
	for i := range clients {
		path, body := greedyRequest(i, prompts[i/4], n)
		text, err := streamText(ctx, ts.URL, path, body)
		if err != nil {
			t.Fatalf("client %d alone: %v", i, err)
		}
		if text == "" {
			t.Fatalf("client %d alone: empty text", i)
		}
		alone[i] = text
	}
	var wg sync.WaitGroup
	got := make([]string, clients)
	errs := make([]error, clients)
	startLine := make(chan struct{})
	for i := range clients {
		wg.Go(func() {
			<-startLine
			path, body := greedyRequest(i, prompts[i/4], n)
			got[i], errs[i] = streamText(ctx, ts.URL, path, body)
		})
	}
	close(startLine)
	wg.Wait()
	for i := range clients {
		if errs[i] != nil {
			t.Errorf("client %d: %v", i, errs[i])
			continue
		}
		if got[i] != alone[i] {
			t.Errorf("client %d concurrently:\n%q\nalone:\n%q", i, got[i], alone[i])
		}
	}
	// The scrape shows the work.
	m := ts.do(t, "GET", "/metrics", nil)
	for _, want := range []string{
		`ondo_http_requests_total{code="200",route="POST /v1/completions"}`,
		`ondo_generated_tokens_total{model="stories"}`,
		`ondo_prompt_tokens_total{model="chat"}`,
		`ondo_time_to_first_token_seconds_bucket{model="stories"`,
		`ondo_token_latency_seconds_bucket{model="chat"`,
		`ondo_queue_depth{model="stories"} 0`,
		`ondo_active_sequences{model="chat"} 0`,
		`ondo_kv_cache_used_cells{model="stories"}`,
		`ondo_kv_cache_total_cells{model="stories"} 8192`,
		"ondo_loaded_models 2",
	} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// soakDuration is how long the disconnect test runs: a few seconds in a
// plain go test, 30 s with ONDO_SOAK=1.
func soakDuration() time.Duration {
	if os.Getenv("ONDO_SOAK") == "1" {
		return 30 * time.Second
	}
	if testing.Short() {
		return time.Second
	}
	return 5 * time.Second
}

// Clients that disconnect mid-stream at random cancel their generations:
// afterwards no goroutine is left behind, every slot is free, the queue is
// empty and the heap is where it was.
func TestDisconnectSoak(t *testing.T) {
	ts := start(t, Config{Parallel: 4, MaxQueue: 64})
	ctx := context.Background()
	// Load both models and warm every path before measuring.
	for i := range 4 {
		path, body := greedyRequest(i, "Once upon a time", 8)
		if _, err := streamText(ctx, ts.URL, path, body); err != nil {
			t.Fatal(err)
		}
	}
	settle := func() (goroutines int, heap uint64) {
		// Idle keep-alive connections hold goroutines on both sides.
		http.DefaultClient.CloseIdleConnections()
		time.Sleep(20 * time.Millisecond)
		var ms runtime.MemStats
		for range 3 {
			runtime.GC()
		}
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapAlloc
	}
	baseG, baseHeap := settle()

	var completed, cancelled, failed atomic.Int64
	deadline := time.Now().Add(soakDuration())
	var wg sync.WaitGroup
	for w := range 12 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; time.Now().Before(deadline); i++ {
				path, body := greedyRequest(rng.IntN(4), fmt.Sprintf("Once upon a time %d", i), 4+rng.IntN(60))
				cctx, cancel := context.WithTimeout(ctx, time.Duration(rng.IntN(300))*time.Millisecond)
				_, err := streamText(cctx, ts.URL, path, body)
				switch {
				case err == nil:
					completed.Add(1)
				case cctx.Err() != nil:
					cancelled.Add(1)
				default:
					failed.Add(1)
					t.Errorf("worker %d: %v", w, err)
				}
				cancel()
			}
		})
	}
	wg.Wait()
	t.Logf("%d completed, %d cancelled mid-stream, %d failed", completed.Load(), cancelled.Load(), failed.Load())
	if cancelled.Load() == 0 {
		t.Error("no request was cancelled: the test did not test disconnects")
	}

	// Every slot comes free and the queue empties.
	waitFor(t, 10*time.Second, "free slots", func() bool {
		for _, st := range ts.models.stats() {
			if st.stats.Active != 0 || st.stats.Queued != 0 {
				return false
			}
		}
		return true
	})
	for _, st := range ts.models.stats() {
		if st.stats.Cancelled == 0 {
			t.Errorf("model %s: the engine saw no cancelled request", st.name)
		}
	}
	var (
		g    int
		heap uint64
	)
	// No goroutine of a request, a connection or a stream is left: the
	// others (engine loops, kernel workers, which start as load grows) are
	// the models' and stay while they are loaded.
	deadline = time.Now().Add(10 * time.Second)
	for {
		g, heap = settle()
		stacks := requestGoroutines()
		if len(stacks) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines of requests left (%d in all, %d before the soak):\n%s", len(stacks), g, baseG, strings.Join(stacks, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	const slack = 8 << 20
	if heap > baseHeap+slack {
		t.Errorf("heap grew from %d to %d bytes", baseHeap, heap)
	}
	t.Logf("goroutines %d → %d, heap %d → %d", baseG, g, baseHeap, heap)
}

// requestGoroutines returns the stacks of the goroutines that serve or make
// HTTP requests or run a server handler.
func requestGoroutines() []string {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		switch {
		case strings.Contains(g, "net/http.(*conn).serve"),
			strings.Contains(g, "net/http.(*persistConn)"),
			strings.Contains(g, "ondo/server.(*Server).run"),
			strings.Contains(g, "ondo/server.streamText"):
			out = append(out, g)
		}
	}
	return out
}
