package engine_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ondo-ai/ondo"
	"github.com/ondo-ai/ondo/engine"
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/llama"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/synth"
	"github.com/ondo-ai/ondo/tokenizer"
)

// testThreads is the kernels' thread count in tests: they check the
// scheduler, and one thread keeps them quick under -race on a busy machine.
const testThreads = 1

// open loads the model and tokenizer in the GGUF file at path, with
// threads kernel threads (0: one per CPU).
func open(tb testing.TB, path string, threads int) (model.Model, *tokenizer.Tokenizer) {
	tb.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := tokenizer.FromGGUF(f, tokenizer.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	m, err := model.Load(f, model.Config{Threads: threads})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		m.Close()
		f.Close()
	})
	return m, tok
}

func stories(tb testing.TB) string { return testdata.Path(tb, "gguf", "stories260K.gguf") }

// synthTiny writes the tiny synthetic model with a context of ctx and
// weights of type typ ("" for the preset's F32).
func synthTiny(tb testing.TB, ctx int, typ string) string {
	tb.Helper()
	c, err := synth.Preset("tiny")
	if err != nil {
		tb.Fatal(err)
	}
	c.Ctx = ctx
	if typ != "" {
		c.Type = typ
	}
	path := filepath.Join(tb.TempDir(), "tiny.gguf")
	if err := synth.Write(path, c); err != nil {
		tb.Fatal(err)
	}
	return path
}

func newEngine(tb testing.TB, m model.Model, tok *tokenizer.Tokenizer, cfg engine.Config) *engine.Engine {
	tb.Helper()
	e, err := engine.New(m, tok, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Close() })
	return e
}

// output is what a request's stream delivered.
type output struct {
	tokens []int32
	text   string
	events []engine.Event // the token events
	final  engine.Event
}

// read collects a stream to its end, checking its shape.
func read(tb testing.TB, ch <-chan engine.Event) output {
	tb.Helper()
	var o output
	var b strings.Builder
	for ev := range ch {
		if o.final.Done {
			tb.Errorf("event after the final one: %+v", ev)
		}
		b.WriteString(ev.Text)
		if ev.Done {
			o.final = ev
			if ev.Token != -1 || ev.Result == nil {
				tb.Errorf("final event %+v: want token -1 and a result", ev)
			}
			continue
		}
		o.tokens = append(o.tokens, ev.Token)
		o.events = append(o.events, ev)
	}
	if !o.final.Done {
		tb.Errorf("stream closed without a final event")
	}
	o.text = b.String()
	return o
}

func run(tb testing.TB, e *engine.Engine, req engine.Request) output {
	tb.Helper()
	ch, err := e.Submit(context.Background(), req)
	if err != nil {
		tb.Fatal(err)
	}
	o := read(tb, ch)
	if o.final.Err != nil {
		tb.Fatalf("request failed: %v", o.final.Err)
	}
	return o
}

// reference runs req the way the ondo package's Session does, one sequence
// alone, and returns its tokens, text and the logits each token was
// sampled from.
func reference(t *testing.T, m *ondo.Model, ctx int, req engine.Request) (tokens []int32, text string, rows [][]float32) {
	t.Helper()
	s, err := m.NewSession(ondo.SessionOptions{Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	var all [][]float32
	var b strings.Builder
	res, err := s.Generate(context.Background(), req.Prompt, ondo.GenerateOptions{
		MaxTokens: req.MaxTokens, Sampling: req.Sampling, Stop: req.Stop, Special: req.Special,
		Logits: func(l []float32) error { all = append(all, slices.Clone(l)); return nil },
	}, func(s string) error { b.WriteString(s); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return res.Tokens, b.String(), all[len(req.Prompt)-1:]
}

// prompts returns n prompts of mixed lengths from 1 to maxLen: text
// encoded with BOS, and random tokens.
func prompts(tok *tokenizer.Tokenizer, n, maxLen int, seed uint64) [][]int32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	texts := []string{"Once upon a time", "The little dog", "Lily and Ben went to the park. They",
		"One day, a girl named Sue found a big red ball"}
	var out [][]int32
	for i := range n {
		var p []int32
		switch i % 3 {
		case 0:
			p = tok.Encode(texts[i/3%len(texts)], tokenizer.EncodeOptions{AddSpecial: true})
		case 1:
			p = []int32{tok.BOS()}
		default:
			p = []int32{tok.BOS()}
			for range 2 + rng.IntN(maxLen-2) {
				p = append(p, int32(3+rng.IntN(tok.VocabSize()-3)))
			}
		}
		out = append(out, p)
	}
	return out
}

// 16 requests at once, greedy, prompts of mixed lengths (some longer than
// a prompt chunk, some a single token) with four slots: each gives exactly
// the tokens, text and log-probabilities of the same request run alone
// through ondo.Session, and the log-probabilities are those of
// sample.LogSoftmax over the logits the token was chosen from.
//
// On the hybrid the log-probabilities agree within 1e-3 instead (2e-4 seen):
// a Gated DeltaNet takes a run of prompt tokens in the chunked form (see
// package layers), whose sums fall differently as the engine splits a
// prompt among steps (by load), as llama.cpp's do with its batch size.
func TestConcurrentMatchesAlone(t *testing.T) {
	t.Run("stories260K", func(t *testing.T) { concurrentMatchesAlone(t, stories(t), 0) })
	t.Run("qwen35-hybrid", func(t *testing.T) { concurrentMatchesAlone(t, synthHybrid(t), 1e-3) })
}

// synthHybrid writes an 8-layer Qwen3.5 (Gated DeltaNet layers with
// recurrent states beside attention layers) with a context of 512.
func synthHybrid(tb testing.TB) string {
	tb.Helper()
	c, _ := synth.Preset("tiny")
	c.Arch, c.Layers, c.Ctx = "qwen35", 8, 512
	path := filepath.Join(tb.TempDir(), "qwen35.gguf")
	if err := synth.Write(path, c); err != nil {
		tb.Fatal(err)
	}
	return path
}

func concurrentMatchesAlone(t *testing.T, path string, tol float64) {
	near := func(a, b float32) bool { return a == b || math.Abs(float64(a-b)) <= tol }
	m, tok := open(t, path, testThreads)
	const ctx = 512
	e := newEngine(t, m, tok, engine.Config{Parallel: 4, Context: ctx, PromptChunk: 16, BatchTokens: 64, MaxQueue: 16})
	ref, err := ondo.Load(path, ondo.Options{Threads: testThreads})
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()

	ps := prompts(tok, 16, 300, 1)
	reqs := make([]engine.Request, len(ps))
	for i, p := range ps {
		reqs[i] = engine.Request{Prompt: p, MaxTokens: 10 + 4*i, Logprobs: 3}
	}
	outs := make([]output, len(reqs))
	var wg sync.WaitGroup
	for i, r := range reqs {
		ch, err := e.Submit(context.Background(), r)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() { outs[i] = read(t, ch) })
	}
	wg.Wait()

	for i, r := range reqs {
		o := outs[i]
		if o.final.Err != nil {
			t.Fatalf("request %d: %v", i, o.final.Err)
		}
		tokens, text, rows := reference(t, ref, ctx, r)
		if !slices.Equal(o.tokens, tokens) || o.text != text {
			t.Errorf("request %d (prompt %d tokens):\n got %v %q\nwant %v %q", i, len(r.Prompt), o.tokens, o.text, tokens, text)
			continue
		}
		res := o.final.Result
		if res.CompletionTokens != len(tokens) || res.PromptTokens != len(r.Prompt) {
			t.Errorf("request %d: result %+v, want %d prompt and %d completion tokens", i, res, len(r.Prompt), len(tokens))
		}
		for j, ev := range o.events {
			lp := sample.LogSoftmax(nil, rows[j])
			if !near(ev.Logprob, lp[ev.Token]) {
				t.Fatalf("request %d token %d: logprob %v, LogSoftmax gives %v", i, j, ev.Logprob, lp[ev.Token])
			}
			top := sample.TopLogProbs(rows[j], 3)
			if len(ev.Top) != 3 {
				t.Fatalf("request %d token %d: %d alternatives, want 3", i, j, len(ev.Top))
			}
			for k, alt := range ev.Top {
				if alt.ID != top[k].ID || !near(alt.Logprob, lp[alt.ID]) || alt.Text != string(tok.Bytes(alt.ID)) {
					t.Fatalf("request %d token %d: alternative %d is %+v, want %+v (%v)", i, j, k, alt, top[k], lp[top[k].ID])
				}
			}
		}
	}
	st := e.Stats()
	if st.Active != 0 || st.Queued != 0 || st.Requests != 16 {
		t.Errorf("stats after the run: %+v", st)
	}
}

// Seeded sampling with penalties gives the same tokens whatever runs
// beside it: every sequence has its own sampler.
func TestSampledMatchesAlone(t *testing.T) {
	path := stories(t)
	m, tok := open(t, path, testThreads)
	ps := prompts(tok, 8, 100, 2)
	reqs := make([]engine.Request, len(ps))
	for i, p := range ps {
		cfg := sample.DefaultConfig()
		cfg.Seed = int64(i)
		cfg.RepeatPenalty = 1.1
		reqs[i] = engine.Request{Prompt: p, MaxTokens: 30, Sampling: cfg}
	}
	alone := newEngine(t, m, tok, engine.Config{Parallel: 1, Context: 256})
	want := make([]output, len(reqs))
	for i, r := range reqs {
		want[i] = run(t, alone, r)
	}
	alone.Close()

	e := newEngine(t, m, tok, engine.Config{Parallel: 8, Context: 256, PromptChunk: 8})
	chans := make([]<-chan engine.Event, len(reqs))
	for i, r := range reqs {
		var err error
		if chans[i], err = e.Submit(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	for i, ch := range chans {
		got := read(t, ch)
		if !slices.Equal(got.tokens, want[i].tokens) || got.text != want[i].text {
			t.Errorf("request %d: got %v, alone %v", i, got.tokens, want[i].tokens)
		}
	}
}

// On quantized weights too (integer kernels, activations grouped into
// panels of several rows) a sequence's tokens do not depend on the batch.
func TestQuantizedMatchesAlone(t *testing.T) {
	for _, typ := range []string{"Q4_0", "Q4_K_M"} {
		t.Run(typ, func(t *testing.T) {
			m, tok := open(t, synthTiny(t, 512, typ), testThreads)
			ps := prompts(tok, 12, 100, 4)
			alone := newEngine(t, m, tok, engine.Config{Parallel: 1, Context: 256})
			var want []output
			for _, p := range ps {
				want = append(want, run(t, alone, engine.Request{Prompt: p, MaxTokens: 24, Logprobs: 1}))
			}
			alone.Close()
			e := newEngine(t, m, tok, engine.Config{Parallel: 6, Context: 256, PromptChunk: 5, MaxQueue: 12})
			var chans []<-chan engine.Event
			for _, p := range ps {
				ch, err := e.Submit(context.Background(), engine.Request{Prompt: p, MaxTokens: 24, Logprobs: 1})
				if err != nil {
					t.Fatal(err)
				}
				chans = append(chans, ch)
			}
			for i, ch := range chans {
				got := read(t, ch)
				if !slices.Equal(got.tokens, want[i].tokens) {
					t.Errorf("request %d: got %v, alone %v", i, got.tokens, want[i].tokens)
					continue
				}
				for j, ev := range got.events {
					if w := want[i].events[j]; ev.Logprob != w.Logprob {
						t.Errorf("request %d token %d: logprob %v, alone %v", i, j, ev.Logprob, w.Logprob)
						break
					}
				}
			}
		})
	}
}

// Stop strings end the text before them; MaxTokens and a full context
// end generation with "length".
func TestStopAndLength(t *testing.T) {
	m, tok := open(t, stories(t), testThreads)
	e := newEngine(t, m, tok, engine.Config{Parallel: 2, Context: 64})
	prompt := tok.Encode("Once upon a time", tokenizer.EncodeOptions{AddSpecial: true})

	full := run(t, e, engine.Request{Prompt: prompt, MaxTokens: 30})
	if r := full.final.Result; r.FinishReason != engine.FinishLength || r.CompletionTokens != 30 || len(full.tokens) != 30 {
		t.Fatalf("MaxTokens 30: %d tokens, result %+v", len(full.tokens), r)
	}
	// A stop string from the middle of that text, spanning tokens.
	words := strings.Fields(full.text)
	if len(words) < 6 {
		t.Fatalf("text too short to pick a stop string: %q", full.text)
	}
	stop := words[3] + " " + words[4]
	before, _, _ := strings.Cut(full.text, stop)
	got := run(t, e, engine.Request{Prompt: prompt, MaxTokens: 30, Stop: []string{"never there", stop}})
	if got.text != before || got.final.Result.FinishReason != engine.FinishStop {
		t.Errorf("stop %q: got %q (%s), want %q", stop, got.text, got.final.Result.FinishReason, before)
	}

	// The context (64) ends generation: the prompt and every token but
	// the last were evaluated.
	long := run(t, e, engine.Request{Prompt: prompt})
	r := long.final.Result
	if r.FinishReason == engine.FinishLength && r.PromptTokens+r.CompletionTokens != 64+1 {
		t.Errorf("context end after %d prompt and %d new tokens, want %d in all", r.PromptTokens, r.CompletionTokens, 65)
	}
	if r.FinishReason != engine.FinishLength && r.FinishReason != engine.FinishStop {
		t.Errorf("finish reason %q", r.FinishReason)
	}
}

// Requests that cannot run are refused by Submit.
func TestSubmitErrors(t *testing.T) {
	m, tok := open(t, stories(t), testThreads)
	e := newEngine(t, m, tok, engine.Config{Parallel: 1, Context: 64})
	long := make([]int32, 100)
	for i := range long {
		long[i] = int32(3 + i)
	}
	long[0] = tok.BOS()
	for _, tc := range []struct {
		name string
		req  engine.Request
		want error
	}{
		{"empty", engine.Request{}, engine.ErrBadRequest},
		{"token out of range", engine.Request{Prompt: []int32{1, 512}}, engine.ErrBadRequest},
		{"negative token", engine.Request{Prompt: []int32{-1}}, engine.ErrBadRequest},
		{"bad sampling", engine.Request{Prompt: []int32{1}, Sampling: sample.Config{TopP: 2}}, engine.ErrBadRequest},
		{"negative logprobs", engine.Request{Prompt: []int32{1}, Logprobs: -1}, engine.ErrBadRequest},
		{"too long", engine.Request{Prompt: long}, engine.ErrPromptTooLong},
	} {
		_, err := e.Submit(context.Background(), tc.req)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error %v, want %v", tc.name, err, tc.want)
		}
	}

	// Truncate keeps BOS and the end, leaving room for MaxTokens.
	o := run(t, e, engine.Request{Prompt: long, Truncate: true, MaxTokens: 10})
	if r := o.final.Result; r.PromptTokens != 54 || r.CompletionTokens != 10 {
		t.Errorf("truncated: result %+v, want 54 prompt tokens and 10 new", r)
	}
	trunc := append([]int32{tok.BOS()}, long[len(long)-53:]...)
	if want := run(t, e, engine.Request{Prompt: trunc, MaxTokens: 10}); !slices.Equal(o.tokens, want.tokens) {
		t.Errorf("truncated prompt gave %v, its end alone %v", o.tokens, want.tokens)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Submit(ctx, engine.Request{Prompt: []int32{1}}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	e.Close()
	if _, err := e.Submit(context.Background(), engine.Request{Prompt: []int32{1}}); !errors.Is(err, engine.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}

// gated holds every Forward call until the test lets it through.
type gated struct {
	model.Model
	gate chan struct{}
}

func (g *gated) Forward(ctx context.Context, b *model.Batch, logits []float32) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.Model.Forward(ctx, b, logits)
}

// With every slot busy and MaxQueue requests waiting, Submit answers
// ErrQueueFull at once; a request cancelled while waiting leaves the queue
// and frees its place; Close ends everything with ErrClosed.
func TestQueueFull(t *testing.T) {
	m, tok := open(t, stories(t), testThreads)
	g := &gated{Model: m, gate: make(chan struct{})}
	e := newEngine(t, g, tok, engine.Config{Parallel: 2, MaxQueue: 3, Context: 128})
	req := engine.Request{Prompt: []int32{1, 400}, MaxTokens: 5}
	ctx, cancel := context.WithCancel(context.Background())
	var chans []<-chan engine.Event
	for i := range 5 {
		c := context.Background()
		if i == 3 {
			c = ctx
		}
		ch, err := e.Submit(c, req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		chans = append(chans, ch)
	}
	if _, err := e.Submit(context.Background(), req); !errors.Is(err, engine.ErrQueueFull) {
		t.Fatalf("sixth request: %v, want ErrQueueFull", err)
	}
	if st := e.Stats(); st.Active+st.Queued != 5 {
		t.Errorf("stats %+v: want 5 requests in", st)
	}
	cancel()
	if o := read(t, chans[3]); !errors.Is(o.final.Err, context.Canceled) {
		t.Errorf("cancelled while queued: %v", o.final.Err)
	}
	chans = slices.Delete(chans, 3, 4)
	ch, err := e.Submit(context.Background(), req)
	if err != nil {
		t.Fatalf("after a cancellation: %v", err)
	}
	chans = append(chans, ch)

	close(g.gate)
	for i, ch := range chans {
		if o := read(t, ch); o.final.Err != nil || len(o.tokens) != 5 {
			t.Errorf("request %d: %d tokens, %v", i, len(o.tokens), o.final.Err)
		}
	}

	// Close interrupts running and waiting requests.
	g2 := &gated{Model: m, gate: make(chan struct{})}
	e2 := newEngine(t, g2, tok, engine.Config{Parallel: 1, MaxQueue: 2, Context: 128})
	var c2 []<-chan engine.Event
	for range 3 {
		ch, err := e2.Submit(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		c2 = append(c2, ch)
	}
	e2.Close()
	for i, ch := range c2 {
		if o := read(t, ch); !errors.Is(o.final.Err, engine.ErrClosed) {
			t.Errorf("request %d after Close: %v", i, o.final.Err)
		}
	}
}

// waitGoroutines waits for the goroutine count to come back to base.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Hundreds of requests cancelled at random moments (waiting, reading the
// prompt, generating; some readers leave without reading), mixed with
// requests that complete. Every stream ends with one final event, the
// slots are all free afterwards, no goroutine is left behind, and the
// caches kept by the slots still give exactly the right output.
func TestCancelStorm(t *testing.T) {
	t.Run("stories260K", func(t *testing.T) { cancelStorm(t, stories(t)) })
	t.Run("qwen35-hybrid", func(t *testing.T) { cancelStorm(t, synthHybrid(t)) })
}

func cancelStorm(t *testing.T, path string) {
	// The goroutines before the model is loaded: afterwards, with the
	// engine and the model closed, there must be no more.
	base := runtime.NumGoroutine()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tok, err := tokenizer.FromGGUF(f, tokenizer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(f, model.Config{Threads: testThreads})
	if err != nil {
		t.Fatal(err)
	}
	e, err := engine.New(m, tok, engine.Config{Parallel: 4, Context: 256, MaxQueue: 1000, PromptChunk: 8, BatchTokens: 32})
	if err != nil {
		t.Fatal(err)
	}
	ps := prompts(tok, 32, 120, 3)
	n := 300
	if testing.Short() {
		n = 60
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	completed, cancelled := 0, 0
	for i := range n {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		ctx, cancel := context.WithCancel(context.Background())
		req := engine.Request{Prompt: ps[rng.IntN(len(ps))], MaxTokens: 1 + rng.IntN(40), Logprobs: rng.IntN(2)}
		ch, err := e.Submit(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		mode := rng.IntN(4)
		delay := time.Duration(rng.IntN(3000)) * time.Microsecond
		wg.Go(func() {
			defer cancel()
			switch mode {
			case 0: // leave without reading anything
				time.Sleep(delay)
				return
			case 1: // read a little, then leave
				time.Sleep(delay)
				cancel()
				return
			case 2: // cancel, then read to the end
				time.AfterFunc(delay, cancel)
			}
			o := read(t, ch)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case o.final.Err == nil:
				completed++
			case errors.Is(o.final.Err, context.Canceled):
				cancelled++
			default:
				t.Errorf("request failed: %v", o.final.Err)
			}
		})
		if i%10 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for st := e.Stats(); st.Active != 0 || st.Queued != 0 || st.Requests != uint64(n); st = e.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("stats after the storm: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("%d requests: %d read to completion, %d read to a cancellation; stats %+v", n, completed, cancelled, e.Stats())

	// The caches the slots kept are sound: prompts sharing their
	// prefixes give the reference output.
	ref, err := ondo.Load(path, ondo.Options{Threads: testThreads})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps[:8] {
		req := engine.Request{Prompt: p, MaxTokens: 20}
		got := run(t, e, req)
		want, _, _ := reference(t, ref, 256, req)
		if !slices.Equal(got.tokens, want) {
			t.Errorf("after the storm: %v, want %v", got.tokens, want)
		}
	}
	ref.Close()
	e.Close()
	m.Close()
	waitGoroutines(t, base)
}

// A reader slower than the generation gets every event, in order; the
// scheduler never waits for it.
func TestSlowReader(t *testing.T) {
	m, tok := open(t, stories(t), testThreads)
	e := newEngine(t, m, tok, engine.Config{Parallel: 2, Context: 512})
	prompt := []int32{tok.BOS()}
	want := run(t, e, engine.Request{Prompt: prompt, MaxTokens: 200})
	slow, err := e.Submit(context.Background(), engine.Request{Prompt: prompt, MaxTokens: 200})
	if err != nil {
		t.Fatal(err)
	}
	// Another request runs to its end while nobody reads the first.
	run(t, e, engine.Request{Prompt: []int32{tok.BOS(), 300}, MaxTokens: 150})
	for e.Stats().Active != 0 {
		time.Sleep(time.Millisecond)
	}
	got := read(t, slow)
	if !slices.Equal(got.tokens, want.tokens) || got.text != want.text {
		t.Errorf("slow reader got %d tokens %q, want %d %q", len(got.tokens), got.text, len(want.tokens), want.text)
	}
}

// A request sharing a long prefix with an earlier one goes to that slot
// and evaluates only the rest: its first token comes several times sooner,
// with the same output as from an empty cache.
func TestPrefixReuse(t *testing.T) {
	path := synthTiny(t, 2048, "")
	m, tok := open(t, path, testThreads)
	const prefix = 1000
	e := newEngine(t, m, tok, engine.Config{Parallel: 2, Context: 1200})
	fresh := newEngine(t, m, tok, engine.Config{Parallel: 1, Context: 1200})
	rng := rand.New(rand.NewPCG(5, 5))
	randomTokens := func(n int) []int32 {
		p := make([]int32, n)
		for i := range p {
			p[i] = int32(3 + rng.IntN(tok.VocabSize()-3))
		}
		return p
	}
	reps := 3
	if raceEnabled {
		reps = 1
	}
	var cold, warm []time.Duration
	for rep := range reps {
		shared := randomTokens(prefix)
		a := engine.Request{Prompt: slices.Concat(shared, randomTokens(5)), MaxTokens: 4}
		b := engine.Request{Prompt: slices.Concat(shared, randomTokens(5)), MaxTokens: 4}
		ra := run(t, e, a)
		// Another prompt in between takes the other slot, not this one.
		run(t, e, engine.Request{Prompt: randomTokens(50), MaxTokens: 1})
		rb := run(t, e, b)
		if ra.final.Result.CachedTokens != 0 || rb.final.Result.CachedTokens != prefix {
			t.Fatalf("cached tokens %d and %d, want 0 and %d", ra.final.Result.CachedTokens, rb.final.Result.CachedTokens, prefix)
		}
		if rep == 0 {
			if want := run(t, fresh, b); !slices.Equal(rb.tokens, want.tokens) {
				t.Errorf("with reuse %v, from scratch %v", rb.tokens, want.tokens)
			}
		}
		cold = append(cold, ra.final.Result.TimeToFirst)
		warm = append(warm, rb.final.Result.TimeToFirst)
	}
	slices.Sort(cold)
	slices.Sort(warm)
	mid := len(cold) / 2
	ratio := float64(cold[mid]) / float64(warm[mid])
	t.Logf("time to first token with a %d-token prompt: %v from scratch, %v sharing %d tokens: %.1f× sooner", prefix+5, cold[mid], warm[mid], prefix, ratio)
	if ratio < 3 {
		t.Errorf("prefix reuse only %.1f× faster to the first token", ratio)
	}
	if st := e.Stats(); st.CachedTokens != uint64(reps*prefix) {
		t.Errorf("stats: %d cached tokens, want %d", st.CachedTokens, reps*prefix)
	}
}

// Stats, observations and the memory estimate.
func TestStatsAndObserve(t *testing.T) {
	m, tok := open(t, stories(t), testThreads)
	var mu sync.Mutex
	seen := map[string]int{}
	cfg := engine.Config{Parallel: 3, Context: 128, OnObserve: func(kind string, d time.Duration) {
		mu.Lock()
		seen[kind]++
		mu.Unlock()
		if d < 0 {
			t.Errorf("%s: negative duration %v", kind, d)
		}
	}}
	e := newEngine(t, m, tok, cfg)
	o := run(t, e, engine.Request{Prompt: []int32{1, 400, 401}, MaxTokens: 5})
	r := o.final.Result
	if r.TimeToFirst <= 0 || r.TimeToFirst < r.QueueDuration || r.GenDuration < 0 {
		t.Errorf("timings %+v", r)
	}
	st := e.Stats()
	want := engine.Stats{Slots: 3, Context: 128, KVCellsUsed: 3 + 4, KVCellsTotal: 3 * 128,
		GeneratedTokens: 5, PromptTokens: 3, Steps: 5, Requests: 1}
	if st != want {
		t.Errorf("stats %+v\nwant  %+v", st, want)
	}
	mu.Lock()
	if seen[engine.ObserveTimeToFirst] != 1 || seen[engine.ObserveToken] != 4 || seen[engine.ObserveQueue] != 1 || seen[engine.ObserveStep] != 5 {
		t.Errorf("observations %v", seen)
	}
	mu.Unlock()

	est, err := engine.EstimateMemory(m.Info(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	info := m.Info()
	kv := int64(3 * 2 * 2 * info.Layers * 128 * info.KVHeads * info.HeadDim)
	if got := e.MemoryBytes(); got != est || got <= kv {
		t.Errorf("MemoryBytes %d, EstimateMemory %d, caches alone %d", got, est, kv)
	}
}

func ExampleEngine_Submit() {
	f, err := gguf.Open("model.gguf")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	tok, _ := tokenizer.FromGGUF(f, tokenizer.Options{})
	m, _ := model.Load(f, model.Config{})
	defer m.Close()
	e, _ := engine.New(m, tok, engine.Config{Parallel: 4})
	defer e.Close()

	ctx := context.Background() // the HTTP request's context in a server
	events, err := e.Submit(ctx, engine.Request{
		Prompt:    tok.Encode("Once upon a time", tokenizer.EncodeOptions{AddSpecial: true}),
		MaxTokens: 64,
		Stop:      []string{"\n\n"},
	})
	if errors.Is(err, engine.ErrQueueFull) {
		fmt.Println("busy, retry later") // 503 with Retry-After
		return
	}
	for ev := range events {
		fmt.Print(ev.Text)
		if ev.Done && ev.Err == nil {
			fmt.Println("\n", ev.Result.CompletionTokens, "tokens,", ev.Result.FinishReason)
		}
	}
}

// TestPrefixReuseRecurrent is TestPrefixReuse on a hybrid model (Qwen3.5's
// DeltaNet layers keep recurrent states, which cannot be rewound): the
// second prompt resumes from the last checkpoint inside the shared prefix
// (one every 256 positions at least, and one at each prompt chunk's end)
// and generates what it would from scratch.
func TestPrefixReuseRecurrent(t *testing.T) {
	c, _ := synth.Preset("tiny")
	c.Arch, c.Layers, c.Ctx = "qwen35", 8, 2048
	path := filepath.Join(t.TempDir(), "qwen35.gguf")
	if err := synth.Write(path, c); err != nil {
		t.Fatal(err)
	}
	m, tok := open(t, path, testThreads)
	const prefix = 1000
	e := newEngine(t, m, tok, engine.Config{Parallel: 2, Context: 1200})
	fresh := newEngine(t, m, tok, engine.Config{Parallel: 1, Context: 1200})
	rng := rand.New(rand.NewPCG(6, 6))
	randomTokens := func(n int) []int32 {
		p := make([]int32, n)
		for i := range p {
			p[i] = int32(3 + rng.IntN(tok.VocabSize()-3))
		}
		return p
	}
	shared := randomTokens(prefix)
	a := engine.Request{Prompt: slices.Concat(shared, randomTokens(5)), MaxTokens: 4}
	b := engine.Request{Prompt: slices.Concat(shared, randomTokens(5)), MaxTokens: 4}
	ra := run(t, e, a)
	rb := run(t, e, b)
	// Checkpoints fall at least every 256 positions, and at the end of
	// each of the engine's prompt chunks.
	if got := rb.final.Result.CachedTokens; ra.final.Result.CachedTokens != 0 || got < prefix/256*256 || got > prefix {
		t.Fatalf("cached tokens %d and %d, want 0 and a checkpoint between %d and %d", ra.final.Result.CachedTokens, got, prefix/256*256, prefix)
	}
	if want := run(t, fresh, b); !slices.Equal(rb.tokens, want.tokens) {
		t.Errorf("with reuse %v, from scratch %v", rb.tokens, want.tokens)
	}
	t.Logf("time to first token with a %d-token prompt: %v from scratch, %v resuming at %d: %.1f× sooner", prefix+5,
		ra.final.Result.TimeToFirst, rb.final.Result.TimeToFirst, rb.final.Result.CachedTokens,
		float64(ra.final.Result.TimeToFirst)/float64(rb.final.Result.TimeToFirst))
}
