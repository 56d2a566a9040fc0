package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"sync"
	"time"

	"github.com/ondo-ai/ondo/chat"
	"github.com/ondo-ai/ondo/engine"
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/all" // the architectures the server runs
	"github.com/ondo-ai/ondo/tokenizer"
)

// generator is what the server needs of an engine (*engine.Engine); tests
// wrap it to hold or fail requests on cue.
type generator interface {
	Submit(ctx context.Context, req engine.Request) (<-chan engine.Event, error)
	Stats() engine.Stats
	MemoryBytes() int64
	// Index is the model's vocabulary as grammars see it.
	Index() *grammar.Index
	Close() error
}

// newEngine makes the engine of a loaded model.
func newEngine(m model.Model, tok *tokenizer.Tokenizer, cfg engine.Config) (generator, error) {
	e, err := engine.New(m, tok, cfg)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return e, nil
}

// runner is one loaded model: its file, tokenizer, network, chat template
// and engine, with the bookkeeping for keep-alive and eviction.
type runner struct {
	name    string // the name it was loaded by, for listings and metrics
	path    string
	entry   ModelEntry
	file    *gguf.File
	net     model.Model
	tok     *tokenizer.Tokenizer
	tmpl    *chat.Template
	gen     generator
	info    model.Info
	context int // positions per sequence
	loadDur time.Duration

	ready chan struct{} // closed when loading has ended, well or not
	err   error         // why loading failed, set before ready is closed

	// Guarded by manager.mu.
	size      int64 // bytes charged against the memory budget
	reserved  bool  // size is counted in manager.used
	refs      int   // requests using the model
	keepAlive time.Duration
	lastUsed  time.Time
	timer     *time.Timer
	live      bool // loaded and in service
	gone      bool // unloaded or unloading: no new requests

	embedOnce sync.Once
	emb       embedder
	embErr    error
}

// expiresAt is when an idle model will be unloaded; the zero time means
// never. Called with manager.mu held.
func (r *runner) expiresAt() time.Time {
	switch {
	case r.keepAlive < 0:
		return time.Date(2318, 1, 1, 0, 0, 0, 0, time.UTC) // "forever", as Ollama shows it
	case r.refs > 0:
		return time.Now().Add(r.keepAlive)
	default:
		return r.lastUsed.Add(r.keepAlive)
	}
}

// manager loads models on first use, keeps them for their keep-alive and
// unloads the least recently used when a new one would exceed the model
// count or the memory budget. A model with requests in flight is never
// unloaded: a load that needs its place waits for it, up to loadWait.
type manager struct {
	cfg     Config
	res     Resolver
	met     *metrics
	log     *slog.Logger
	newGen  func(model.Model, *tokenizer.Tokenizer, engine.Config) (generator, error)
	newEmb  func(r *runner) (embedder, error)
	maxMem  int64 // 0: no budget
	maxLoad int

	mu      sync.Mutex
	models  map[string]*runner // by path
	used    int64              // bytes reserved by loaded and loading models
	changed chan struct{}      // closed (and replaced) when a model is released or unloaded
	closed  bool
}

func newManager(cfg Config, met *metrics, log *slog.Logger) *manager {
	return &manager{
		cfg:     cfg,
		res:     cfg.Resolver,
		met:     met,
		log:     log,
		newGen:  newEngine,
		newEmb:  newEmbedder,
		maxMem:  cfg.MaxMemory,
		maxLoad: cfg.MaxLoadedModels,
		models:  map[string]*runner{},
		changed: make(chan struct{}),
	}
}

// notify wakes everything waiting for a change. Called with mu held.
func (m *manager) notify() {
	close(m.changed)
	m.changed = make(chan struct{})
}

// loadOptions are a request's settings that matter when it loads a model.
type loadOptions struct {
	// keepAlive is the request's keep_alive, or nil for the default.
	keepAlive *time.Duration
	// numCtx is Ollama's num_ctx: the context of each sequence. A model
	// loaded with another context is reloaded when idle. 0 means the
	// server's setting, or whatever the loaded model has.
	numCtx int
}

// Errors of acquire, as HTTP answers.
var (
	errShuttingDown = &apiError{Status: http.StatusServiceUnavailable, Type: typeUnavailable, Code: "shutting_down",
		Msg: "the server is shutting down", RetryAfter: 5 * time.Second}
)

// acquire returns the model called name, loading it when needed, and
// counts a request on it; the caller must release it. The request's
// keep-alive becomes the model's (Ollama's rule: the last request sets it).
func (m *manager) acquire(ctx context.Context, name string, lo loadOptions) (*runner, error) {
	path, err := m.res.Resolve(name)
	if err != nil {
		return nil, notFound(name, err)
	}
	keep := m.cfg.keepAlive()
	if lo.keepAlive != nil {
		keep = *lo.keepAlive
	}
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return nil, errShuttingDown
		}
		r := m.models[path]
		if r == nil {
			r = &runner{name: name, path: path, ready: make(chan struct{}), keepAlive: keep}
			m.models[path] = r
			m.mu.Unlock()
			if err := m.load(ctx, r, lo); err != nil {
				return nil, err
			}
			return r, nil
		}
		select {
		case <-r.ready:
		default:
			// Someone else is loading it: wait for them.
			m.mu.Unlock()
			select {
			case <-r.ready:
				if r.err != nil {
					return nil, r.err
				}
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			continue
		}
		if lo.numCtx > 0 && lo.numCtx != r.context && r.refs == 0 && r.gen != nil {
			// Ollama's rule: a request with another num_ctx reloads the
			// model (when idle; a busy one is used as it is).
			m.remove(r)
			m.notify()
			m.mu.Unlock()
			m.unload(r, "reload")
			continue
		}
		r.refs++
		r.keepAlive = keep
		r.lastUsed = time.Now()
		if r.timer != nil {
			r.timer.Stop()
			r.timer = nil
		}
		m.mu.Unlock()
		return r, nil
	}
}

// release ends a request's use of r. An idle model is unloaded after its
// keep-alive: at once for 0, never for a negative one.
func (m *manager) release(r *runner) {
	m.mu.Lock()
	r.refs--
	r.lastUsed = time.Now()
	var victim *runner
	if r.refs == 0 && !r.gone {
		switch {
		case r.keepAlive == 0:
			victim = r
			m.remove(r)
		case r.keepAlive > 0:
			r.timer = time.AfterFunc(r.keepAlive, func() { m.expire(r) })
		}
	}
	m.notify()
	m.mu.Unlock()
	if victim != nil {
		m.unload(victim, "keep_alive")
	}
}

// expire unloads r if it is still idle and its keep-alive has passed.
func (m *manager) expire(r *runner) {
	m.mu.Lock()
	if r.gone || r.refs > 0 || r.keepAlive < 0 || time.Since(r.lastUsed) < r.keepAlive {
		m.mu.Unlock()
		return
	}
	m.remove(r)
	m.notify()
	m.mu.Unlock()
	m.unload(r, "keep_alive")
}

// remove takes r out of the map and the budget. Called with mu held; the
// caller then unloads r without the lock.
func (m *manager) remove(r *runner) {
	r.gone = true
	if r.timer != nil {
		r.timer.Stop()
		r.timer = nil
	}
	if m.models[r.path] == r {
		delete(m.models, r.path)
	}
	if r.reserved {
		m.used -= r.size
		r.reserved = false
	}
}

// unload closes a removed model's engine, network and file.
func (m *manager) unload(r *runner, reason string) {
	if r.gen != nil {
		r.gen.Close()
	}
	if c, ok := r.emb.(interface{ Close() error }); ok {
		c.Close()
	}
	if r.net != nil {
		r.net.Close()
	}
	if r.file != nil {
		r.file.Close()
	}
	m.met.evictions.WithLabelValues(r.name, reason).Inc()
	m.log.Info("model unloaded", "model", r.name, "reason", reason)
}

// load fills in r, which acquire has put in the map, evicting idle models
// to make room, and counts the caller's request on it. On failure r leaves
// the map and waiters are woken.
func (m *manager) load(ctx context.Context, r *runner, lo loadOptions) (err error) {
	start := time.Now()
	var victims []*runner
	defer func() {
		for _, v := range victims {
			m.unload(v, "lru")
		}
		result := "ok"
		if err != nil {
			result = "error"
			var ae *apiError
			if errors.As(err, &ae) && ae.Status == http.StatusInsufficientStorage {
				result = "too_large"
			}
			m.mu.Lock()
			r.err = err
			m.remove(r)
			m.notify()
			m.mu.Unlock()
			r.close()
		}
		close(r.ready)
		m.met.loads.WithLabelValues(r.name, result).Inc()
	}()

	if err := r.open(m.cfg.Threads); err != nil {
		return &apiError{Status: http.StatusInternalServerError, Type: typeServer, Code: "model_load_failed",
			Msg: fmt.Sprintf("loading model %q: %v", r.name, err)}
	}
	ecfg := engine.Config{
		Parallel:  m.cfg.Parallel,
		Context:   m.cfg.Context,
		MaxQueue:  m.cfg.MaxQueue,
		OnObserve: m.met.observer(r.name),
	}
	if lo.numCtx > 0 {
		ecfg.Context = lo.numCtx
	}
	mem, err := engine.EstimateMemory(r.info, ecfg)
	if err != nil {
		return badRequest("options.num_ctx", "model %q: %v", r.name, err)
	}
	need := r.entry.Size + mem

	// Make room, waiting for busy models to become idle if need be.
	deadline := time.NewTimer(m.cfg.LoadWait)
	defer deadline.Stop()
	m.mu.Lock()
	for {
		if m.closed {
			m.mu.Unlock()
			return errShuttingDown
		}
		if m.maxMem > 0 && need > m.maxMem {
			m.mu.Unlock()
			return &apiError{Status: http.StatusInsufficientStorage, Type: typeInsufficient, Code: "model_too_large",
				Msg: fmt.Sprintf("model %q needs %s (file %s, caches and scratch %s for %d sequences of %d tokens) but the memory budget is %s; lower num_ctx or --parallel, or raise --max-memory",
					r.name, fmtBytes(need), fmtBytes(r.entry.Size), fmtBytes(mem), parallelOf(ecfg), contextOf(ecfg, r.info), fmtBytes(m.maxMem))}
		}
		victims = append(victims, m.makeRoom(r, need)...)
		if m.fits(need) {
			break
		}
		ch := m.changed
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-deadline.C:
			return &apiError{Status: http.StatusServiceUnavailable, Type: typeUnavailable, Code: "server_busy", RetryAfter: 10 * time.Second,
				Msg: fmt.Sprintf("model %q cannot be loaded now: the loaded models are all busy and together with it would exceed %s; try again later", r.name, m.limitText())}
		}
		m.mu.Lock()
	}
	r.size, r.reserved = need, true
	m.used += need
	m.mu.Unlock()
	// Free the evicted models' memory before allocating ours.
	for _, v := range victims {
		m.unload(v, "lru")
	}
	victims = nil

	gen, err := m.newGen(r.net, r.tok, ecfg)
	switch {
	case isEmbeddingOnly(err):
		// An encoder: no engine, embeddings only.
	case err != nil:
		return &apiError{Status: http.StatusInternalServerError, Type: typeServer, Code: "model_load_failed",
			Msg: fmt.Sprintf("starting model %q: %v", r.name, err)}
	}
	r.gen = gen
	r.context = contextOf(ecfg, r.info)
	var genMem int64
	if gen != nil {
		r.context = gen.Stats().Context
		genMem = gen.MemoryBytes()
	}
	r.loadDur = time.Since(start)

	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return errShuttingDown
	}
	actual := r.entry.Size + genMem
	m.used += actual - r.size
	r.size = actual
	r.refs = 1
	r.live = true
	r.lastUsed = time.Now()
	m.mu.Unlock()
	m.log.Info("model loaded", "model", r.name, "path", r.path, "bytes", actual, "context", r.context, "duration", r.loadDur)
	return nil
}

// makeRoom removes idle models, least recently used first, until need
// more bytes and one more model fit, or no idle model is left. It returns
// the removed models, to be unloaded without the lock. Called with mu held.
func (m *manager) makeRoom(self *runner, need int64) []*runner {
	var idle []*runner
	for _, r := range m.models {
		if r != self && r.refs == 0 && r.live && !r.gone {
			idle = append(idle, r)
		}
	}
	sort.Slice(idle, func(i, j int) bool { return idle[i].lastUsed.Before(idle[j].lastUsed) })
	var out []*runner
	for _, r := range idle {
		if m.fits(need) {
			break
		}
		m.remove(r)
		out = append(out, r)
	}
	return out
}

// fits reports whether a model of need bytes can be added to those
// reserved. Called with mu held.
func (m *manager) fits(need int64) bool {
	n := 0
	for _, r := range m.models {
		if r.reserved {
			n++
		}
	}
	if m.maxLoad > 0 && n+1 > m.maxLoad {
		return false
	}
	return m.maxMem <= 0 || m.used+need <= m.maxMem
}

func (m *manager) limitText() string {
	s := fmt.Sprintf("%d loaded models", m.maxLoad)
	if m.maxMem > 0 {
		s += " or " + fmtBytes(m.maxMem) + " of memory"
	}
	return s
}

// open maps the model file and prepares the tokenizer, network and chat
// template: cheap, since the weights stay in the mapping.
func (r *runner) open(threads int) error {
	st, err := os.Stat(r.path)
	if err != nil {
		return err
	}
	r.entry = entryFor(r.name, r.path, st)
	f, err := gguf.Open(r.path)
	if err != nil {
		return err
	}
	r.file = f
	tok, err := tokenizer.FromGGUF(f, tokenizer.Options{})
	if err != nil {
		return err
	}
	r.tok = tok
	net, err := model.Load(f, model.Config{Threads: threads})
	if err != nil {
		return err
	}
	r.net = net
	r.info = net.Info()
	if r.info.VocabSize != tok.VocabSize() {
		return fmt.Errorf("the tokenizer has %d tokens but the output layer %d", tok.VocabSize(), r.info.VocabSize)
	}
	src, _ := f.String("tokenizer.chat_template")
	tokens, _ := f.Strings("tokenizer.ggml.tokens")
	tmpl, err := chat.ForModel(src, tokens)
	if err != nil {
		// A template we cannot compile should not make the model
		// unusable for completions; chat falls back to a built-in one.
		tmpl = chat.Fallback(tokens)
	}
	r.tmpl = tmpl
	return nil
}

// close releases what open acquired, after a failed load.
func (r *runner) close() {
	if r.gen != nil {
		r.gen.Close()
	}
	if r.net != nil {
		r.net.Close()
	}
	if r.file != nil {
		r.file.Close()
	}
}

// loaded returns the loaded models, most recently used first.
func (m *manager) loaded() []loadedModel {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []loadedModel
	for _, r := range m.models {
		if !r.live || r.gone {
			continue
		}
		out = append(out, loadedModel{r: r, size: r.size, expires: r.expiresAt(), lastUsed: r.lastUsed, refs: r.refs})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lastUsed.After(out[j].lastUsed) })
	return out
}

// loadedModel is a snapshot of a loaded model for /api/ps.
type loadedModel struct {
	r        *runner
	size     int64
	expires  time.Time
	lastUsed time.Time
	refs     int
}

// stats returns the loaded models' engine state, for the metrics.
func (m *manager) stats() []modelStats {
	var out []modelStats
	for _, l := range m.loaded() {
		ms := modelStats{name: l.r.name, memory: l.size}
		if l.r.gen != nil {
			ms.stats = l.r.gen.Stats()
		}
		out = append(out, ms)
	}
	return out
}

// delete removes the model called name from the resolver and unloads it
// once idle.
func (m *manager) delete(name string) error {
	path, err := m.res.Resolve(name)
	if err != nil {
		return notFound(name, err)
	}
	if err := m.res.Delete(name); err != nil {
		if errors.Is(err, ErrModelNotFound) {
			return notFound(name, err)
		}
		return err
	}
	m.mu.Lock()
	r := m.models[path]
	var victim *runner
	if r != nil && !r.gone {
		// The mapping stays valid after the file is removed; requests in
		// flight finish, and the model goes when the last one does.
		r.keepAlive = 0
		if r.refs == 0 && r.live {
			m.remove(r)
			victim = r
		}
	}
	m.notify()
	m.mu.Unlock()
	if victim != nil {
		m.unload(victim, "delete")
	}
	return nil
}

// unloadNow unloads the model at name if it is loaded and idle; a busy one
// goes when its last request ends. It is keep_alive 0 without a request.
func (m *manager) unloadNow(name string) error {
	path, err := m.res.Resolve(name)
	if err != nil {
		return notFound(name, err)
	}
	m.mu.Lock()
	r := m.models[path]
	var victim *runner
	if r != nil && !r.gone {
		r.keepAlive = 0
		if r.refs == 0 && r.live {
			m.remove(r)
			victim = r
		}
	}
	m.notify()
	m.mu.Unlock()
	if victim != nil {
		m.unload(victim, "keep_alive")
	}
	return nil
}

// close unloads every model; requests still running end with the engine's
// ErrClosed.
func (m *manager) close() {
	m.mu.Lock()
	m.closed = true
	var all []*runner
	for _, r := range m.models {
		if r.live && !r.gone {
			m.remove(r)
			all = append(all, r)
		}
	}
	m.notify()
	m.mu.Unlock()
	for _, r := range all {
		m.unload(r, "shutdown")
	}
}

// notFound is the 404 for an unknown model.
func notFound(name string, err error) error {
	if !errors.Is(err, ErrModelNotFound) {
		return err
	}
	return &apiError{Status: http.StatusNotFound, Type: typeNotFound, Code: "model_not_found", Param: "model", Msg: err.Error()}
}

func parallelOf(c engine.Config) int {
	if c.Parallel > 0 {
		return c.Parallel
	}
	return 4
}

func contextOf(c engine.Config, info model.Info) int {
	if c.Context > 0 {
		return c.Context
	}
	if info.ContextLength > 0 {
		return min(info.ContextLength, engine.DefaultContextCap)
	}
	return engine.DefaultContextCap
}

// fmtBytes writes a byte count for people.
func fmtBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for v := n / unit; v >= unit; v /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
