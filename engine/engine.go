package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/tokenizer"
)

// Config tunes an Engine. The zero value gives the defaults.
type Config struct {
	// Parallel is the number of slots: sequences generated at once, each
	// with its own key/value cache. 0 means 4.
	Parallel int
	// Context is the most tokens (prompt and generated) of one slot. 0
	// means the model's trained context, capped at DefaultContextCap so
	// that Parallel caches of a long-context model still fit in memory.
	Context int
	// MaxQueue is the most requests waiting for a slot; Submit answers
	// ErrQueueFull beyond it. 0 means 8 × Parallel; a negative value
	// means no waiting at all (a request is refused when every slot is
	// busy).
	MaxQueue int
	// BatchTokens is the most tokens in one forward step, all sequences
	// together. It bounds the latency a step adds to every decoding
	// stream and the scratch memory. 0 means 512; it is raised to
	// Parallel if smaller, so every decoding sequence advances each step.
	BatchTokens int
	// PromptChunk is the most prompt tokens one sequence contributes to a
	// step while other sequences are decoding, so that a long prompt
	// arriving does not stall the streams already running. 0 means 64.
	// When nothing is decoding, prompts take the whole BatchTokens.
	PromptChunk int
	// F32Cache stores keys and values as float32 instead of fp16.
	F32Cache bool
	// OnObserve, when set, receives latency observations for the
	// server's histograms; kind is one of the Observe* constants. It is
	// called on the scheduler goroutine and must return quickly.
	OnObserve func(kind string, d time.Duration)
}

// DefaultContextCap is the per-slot context used when Config.Context is 0
// and the model was trained for more.
const DefaultContextCap = 4096

// Observation kinds passed to Config.OnObserve.
const (
	ObserveQueue       = "queue" // submission to getting a slot
	ObserveTimeToFirst = "ttft"  // submission to the first generated token
	ObserveToken       = "token" // between two tokens of one sequence
	ObserveStep        = "step"  // one forward step, all sequences
	// ObserveConstraint is the time one generated token of a sequence with
	// a Grammar spent in the grammar: forcing, checking, building masks.
	ObserveConstraint = "constraint"
)

// Errors returned by Submit. Validation errors wrap ErrBadRequest.
var (
	// ErrQueueFull means every slot is busy and MaxQueue requests are
	// already waiting; the server should answer 503 with Retry-After.
	ErrQueueFull = errors.New("engine: queue full")
	// ErrPromptTooLong means the prompt does not fit in a slot's context
	// and the request did not ask to truncate it.
	ErrPromptTooLong = errors.New("engine: prompt longer than the context")
	// ErrClosed is returned by Submit after Close, and ends the requests
	// Close interrupts.
	ErrClosed = errors.New("engine: closed")
	// ErrBadRequest is wrapped by the errors Submit returns for a request
	// that can never run (empty prompt, token out of range, bad sampling
	// settings).
	ErrBadRequest = errors.New("engine: bad request")
)

// eventBuffer is the capacity of a request's event channel. The scheduler
// never blocks on it: events that do not fit wait in the sequence's outbox,
// and the last place is kept for the final event, so a request can always
// be ended even when its reader has gone.
const eventBuffer = 64

// Engine runs generation requests on one model: a single scheduler
// goroutine batches every running sequence into one forward call per step.
// Its methods are safe for concurrent use.
type Engine struct {
	m     model.Model
	tok   *tokenizer.Tokenizer
	cfg   Config
	vocab int

	ctx    context.Context // cancelled by Close; ends Forward calls
	cancel context.CancelFunc
	done   chan struct{} // closed when the loop has exited
	wake   chan struct{} // a request arrived

	mu     sync.Mutex
	queue  []*sequence // FIFO of requests waiting for a slot
	free   int         // slots without a sequence
	closed bool

	// Owned by the loop.
	slots    []*slot
	active   []*sequence // in admission order
	draining []*sequence // finished, events still to hand over
	batch    model.Batch
	parts    []part      // the sequences of a step's batch
	rows     []*sequence // the sequence of each logits row of a step
	logits   []float32
	clock    uint64 // steps taken, for least-recently-used slot choice

	stats counters

	indexOnce sync.Once
	index     *grammar.Index // the vocabulary for grammars, built on first use
}

// slot is a key/value cache with the tokens it holds; it outlives requests
// so that a later prompt with the same beginning skips evaluating it.
type slot struct {
	id       int
	cache    *kvcache.Cache
	tokens   []int32 // tokens[:cache.Len()] are the cached positions
	seq      *sequence
	lastUsed uint64
}

type counters struct {
	active, cells                    atomic.Int64
	generated, prompt, cached, steps atomic.Uint64
	requests, cancelled, failed      atomic.Uint64
}

// New makes an engine for m, whose tokenizer is tok, and starts its
// scheduler. Its slots' caches are allocated at once, so MemoryBytes is
// what it will use. The engine does not own m: Close the engine before
// the model.
func New(m model.Model, tok *tokenizer.Tokenizer, cfg Config) (*Engine, error) {
	info := m.Info()
	if tok.VocabSize() != info.VocabSize {
		return nil, fmt.Errorf("engine: tokenizer has %d tokens, model %d", tok.VocabSize(), info.VocabSize)
	}
	cfg, err := resolve(cfg, info)
	if err != nil {
		return nil, err
	}
	e := &Engine{
		m:     m,
		tok:   tok,
		cfg:   cfg,
		vocab: info.VocabSize,
		done:  make(chan struct{}),
		wake:  make(chan struct{}, 1),
		free:  cfg.Parallel,
	}
	for i := range cfg.Parallel {
		c, err := m.NewCache(cfg.Context, !cfg.F32Cache)
		if err != nil {
			return nil, fmt.Errorf("engine: slot %d: %w", i, err)
		}
		e.slots = append(e.slots, &slot{id: i, cache: c})
	}
	e.logits = make([]float32, cfg.Parallel*e.vocab)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	go e.loop()
	return e, nil
}

// resolve fills in the defaults and checks cfg.
func resolve(cfg Config, info model.Info) (Config, error) {
	switch {
	case cfg.Parallel < 0:
		return cfg, fmt.Errorf("engine: parallel %d is negative", cfg.Parallel)
	case cfg.Context < 0:
		return cfg, fmt.Errorf("engine: context %d is negative", cfg.Context)
	case cfg.BatchTokens < 0:
		return cfg, fmt.Errorf("engine: batch tokens %d is negative", cfg.BatchTokens)
	case cfg.PromptChunk < 0:
		return cfg, fmt.Errorf("engine: prompt chunk %d is negative", cfg.PromptChunk)
	}
	if cfg.Parallel == 0 {
		cfg.Parallel = 4
	}
	if cfg.Context == 0 {
		cfg.Context = min(info.ContextLength, DefaultContextCap)
		if cfg.Context <= 0 {
			cfg.Context = DefaultContextCap
		}
	}
	switch {
	case cfg.MaxQueue == 0:
		cfg.MaxQueue = 8 * cfg.Parallel
	case cfg.MaxQueue < 0:
		cfg.MaxQueue = 0
	}
	if cfg.BatchTokens == 0 {
		cfg.BatchTokens = 512
	}
	cfg.BatchTokens = max(cfg.BatchTokens, cfg.Parallel)
	if cfg.PromptChunk == 0 {
		cfg.PromptChunk = 64
	}
	cfg.PromptChunk = min(cfg.PromptChunk, cfg.BatchTokens)
	return cfg, nil
}

// Config returns the engine's settings with the defaults filled in.
func (e *Engine) Config() Config { return e.cfg }

// Submit checks req and queues it. The returned channel carries the
// request's events and is closed after the one with Done set. The request
// ends early when ctx is done: it leaves its slot at the next step, and
// the final event carries ctx's error. A reader that stops reading must
// cancel ctx; it need not drain the channel.
//
// Submit fails at once with an error wrapping ErrBadRequest or
// ErrPromptTooLong for a request that cannot run, ErrQueueFull when the
// queue is full, and ErrClosed after Close.
func (e *Engine) Submit(ctx context.Context, req Request) (<-chan Event, error) {
	prompt, err := e.check(&req)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var con *grammar.Constraint
	if req.Grammar != nil {
		if con, err = e.bind(req.Grammar); err != nil {
			return nil, err
		}
	}
	s := e.newSequence(ctx, req, prompt, con)
	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		return nil, ErrClosed
	case len(e.queue) >= e.cfg.MaxQueue+e.free:
		e.mu.Unlock()
		return nil, ErrQueueFull
	}
	e.queue = append(e.queue, s)
	// A request cancelled while waiting leaves the queue at once, even
	// when the scheduler is in the middle of a long step; once running,
	// it is dropped at the next step.
	s.unwatch = context.AfterFunc(ctx, func() { e.dequeue(s) })
	e.mu.Unlock()
	select {
	case e.wake <- struct{}{}:
	default:
	}
	return s.ch, nil
}

// dequeue ends s with its context's error if it is still waiting for a
// slot; a running s is left to the scheduler.
func (e *Engine) dequeue(s *sequence) {
	e.mu.Lock()
	i := slices.Index(e.queue, s)
	if i >= 0 {
		e.queue = slices.Delete(e.queue, i, i+1)
	}
	e.mu.Unlock()
	if i < 0 {
		return
	}
	e.stats.requests.Add(1)
	e.stats.cancelled.Add(1)
	s.abort(s.ctx.Err())
}

// check validates req and returns the prompt to evaluate, truncated when
// req asks for it.
func (e *Engine) check(req *Request) ([]int32, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrBadRequest}, args...)...)
	}
	p := req.Prompt
	if len(p) == 0 {
		return nil, bad("empty prompt")
	}
	for i, id := range p {
		if id < 0 || int(id) >= e.vocab {
			return nil, bad("prompt token %d at index %d out of range [0, %d)", id, i, e.vocab)
		}
	}
	if err := req.Sampling.Validate(); err != nil {
		return nil, bad("%v", err)
	}
	if req.Logprobs < 0 {
		return nil, bad("logprobs %d is negative", req.Logprobs)
	}
	n := e.cfg.Context
	if len(p) <= n {
		return p, nil
	}
	if !req.Truncate {
		return nil, fmt.Errorf("%w: %d tokens, context %d", ErrPromptTooLong, len(p), n)
	}
	return truncate(p, n, req.MaxTokens, e.tok), nil
}

// truncate shortens a prompt longer than the context n to its end, leaving
// room for maxTokens new tokens (a quarter of the context when unlimited)
// but keeping at least half the context of prompt. A leading BOS stays.
func truncate(p []int32, n, maxTokens int, tok *tokenizer.Tokenizer) []int32 {
	room := maxTokens
	if room <= 0 {
		room = n / 4
	}
	keep := max(1, n-min(room, n/2))
	if tok.AddsBOS() && p[0] == tok.BOS() && keep > 1 {
		out := make([]int32, 0, keep)
		out = append(out, p[0])
		return append(out, p[len(p)-(keep-1):]...)
	}
	return p[len(p)-keep:]
}

// Close ends every request (their final events carry ErrClosed), stops the
// scheduler and waits for it. The model stays open. Close is idempotent.
func (e *Engine) Close() error {
	e.mu.Lock()
	e.closed = true
	e.mu.Unlock()
	e.cancel()
	<-e.done
	return nil
}

// Stats is a snapshot of the engine's state and counters, for metrics.
type Stats struct {
	Slots   int // Config.Parallel
	Active  int // sequences holding a slot
	Queued  int // requests waiting for one
	Context int // positions per slot

	// KV cache positions filled (including those kept in idle slots for
	// prefix reuse) and the total, Slots × Context.
	KVCellsUsed, KVCellsTotal int

	// Totals since New.
	GeneratedTokens uint64 // tokens sampled, end-of-generation included
	PromptTokens    uint64 // prompt tokens evaluated
	CachedTokens    uint64 // prompt tokens reused from a slot's cache
	Steps           uint64 // forward calls
	Requests        uint64 // requests finished, however they ended
	Cancelled       uint64 // of those, ended by their context
	Failed          uint64 // of those, ended by an error of the engine
}

// Stats returns the current counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	queued := len(e.queue)
	e.mu.Unlock()
	c := &e.stats
	return Stats{
		Slots:           e.cfg.Parallel,
		Active:          int(c.active.Load()),
		Queued:          queued,
		Context:         e.cfg.Context,
		KVCellsUsed:     int(c.cells.Load()),
		KVCellsTotal:    e.cfg.Parallel * e.cfg.Context,
		GeneratedTokens: c.generated.Load(),
		PromptTokens:    c.prompt.Load(),
		CachedTokens:    c.cached.Load(),
		Steps:           c.steps.Load(),
		Requests:        c.requests.Load(),
		Cancelled:       c.cancelled.Load(),
		Failed:          c.failed.Load(),
	}
}

// MemoryBytes estimates the memory the engine uses beyond the model's
// weights: the slots' key/value caches, which it holds, and the scratch
// of a full step. See EstimateMemory.
func (e *Engine) MemoryBytes() int64 {
	var kv int64
	for _, s := range e.slots {
		kv += s.cache.Bytes()
	}
	return kv + scratchBytes(e.m.Info(), e.cfg)
}

// EstimateMemory returns what MemoryBytes would report for an engine made
// with cfg on a model of shape info, so that a server can check its memory
// budget before making one.
func EstimateMemory(info model.Info, cfg Config) (int64, error) {
	cfg, err := resolve(cfg, info)
	if err != nil {
		return 0, err
	}
	per := int64(2)
	if cfg.F32Cache {
		per = 4
	}
	kv := int64(cfg.Parallel) * 2 * per * int64(info.Layers) * int64(cfg.Context) * int64(info.KVHeads*info.HeadDim)
	return kv + scratchBytes(info, cfg), nil
}

// scratchBytes estimates the working memory of a step: the model's
// activations for BatchTokens tokens (the residual stream, queries, keys,
// values, attention output and the feed-forward hidden state, as the
// llama forward pass keeps them), activations quantized for the matmul
// kernels, per-worker attention scores, the logits of one row per slot,
// and each slot's sampler and logprob buffers.
func scratchBytes(info model.Info, cfg Config) int64 {
	n := int64(min(cfg.BatchTokens, model.DefaultBatchSize)) // the model splits longer steps
	embd, ffn := int64(info.EmbeddingLength), int64(info.FeedForwardLength)
	q := int64(info.Heads * info.HeadDim)
	kv := int64(info.KVHeads * info.HeadDim)
	act := 4 * n * (2*max(embd, q) + 2*q + 2*kv + 2*ffn + int64(info.HeadDim))
	quant := n * max(embd, q, ffn) * 9 / 8 // one int8 per value plus block scales
	attn := int64(runtime.GOMAXPROCS(0)) * 4 * int64(cfg.Context+info.HeadDim)
	vocab := int64(info.VocabSize)
	logits := 4 * int64(cfg.Parallel) * vocab
	samplers := int64(cfg.Parallel) * 3 * 8 * vocab // candidates, sorting, log-softmax
	return act + quant + attn + logits + samplers
}
