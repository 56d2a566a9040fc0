// Package server serves loaded models over HTTP with OpenAI's and Ollama's
// APIs, so that existing clients and libraries work unchanged:
//
//	OpenAI:  GET  /v1/models, GET /v1/models/{model}
//	         POST /v1/chat/completions, POST /v1/completions (SSE streaming)
//	         POST /v1/embeddings
//	         POST /v1/rerank (and /rerank: llama-server's Jina and TEI shapes)
//	Ollama:  POST /api/generate, POST /api/chat (NDJSON streaming)
//	         POST /api/embed, POST /api/embeddings, POST /api/show
//	         POST /api/pull (NDJSON progress, with Config.Puller)
//	         GET  /api/tags, GET /api/ps, GET /api/version, DELETE /api/delete
//	         GET and HEAD / (the chat page, package webui; with
//	         Config.NoUI, "Ondo is running")
//	ondo:    GET  /health, GET /metrics (Prometheus)
//
// Models are addressed by name through a Resolver (DirResolver: the name
// "tiny" is the file tiny.gguf in the models folder; store/resolver: the
// models of a model store; Chain: several in turn, as ondo serve does) or
// by the path of a .gguf file. A model is loaded on first use and kept for its keep-alive
// (Ollama's rules: the last request's keep_alive, 5 minutes by default, 0
// unloads right after the request, a negative one keeps it for good); the
// least recently used idle model is unloaded when a new one would exceed
// Config.MaxLoadedModels or Config.MaxMemory, where a model costs its file
// size plus its engine's caches and scratch (engine.EstimateMemory before
// loading, Engine.MemoryBytes after). A model with requests in flight is
// never unloaded; a load that needs its room waits for it up to
// Config.LoadWait and then answers 503. A model that cannot fit at all is a
// 507 with the numbers, never an out-of-memory kill. Each loaded model has
// its own engine (package engine), so requests to different models run
// concurrently, and requests to one model are batched by its engine.
//
// # Prompts
//
// Chat requests are rendered with the model's chat template (the GGUF key
// tokenizer.chat_template, run by package chat; a model without one gets
// chat.Fallback's built-in template chosen from its vocabulary) and
// tokenized with control tokens parsed, as llama.cpp's and Ollama's servers
// do; BOS is added when the model's metadata asks for it, unless the
// rendered text already starts with the BOS token's text. Ollama's
// "template" field overrides the template for one request, but takes a
// Jinja chat template (the language of tokenizer.chat_template), not
// Ollama's Go templates. /api/generate with "raw" and /v1/completions
// tokenize the prompt as given (control tokens parsed, BOS per metadata).
//
// # Sampling
//
// Every API's settings go through one sample.Config handed to the engine,
// starting from llama.cpp's defaults (sample.DefaultConfig: temperature 0.8,
// top-k 40, top-p 0.95, min-p 0.05, no penalties, random seed), so that a
// field a client leaves out means the same thing in both APIs. OpenAI's
// logit_bias of -100 bans a token.
//
// # Structured output
//
// OpenAI's response_format (json_object, json_schema with strict),
// llama.cpp's grammar (GBNF) and json_schema fields, and Ollama's format
// ("json" or a schema) all become one grammar.Grammar (constraint.go):
// schemas through package grammar/jsonschema, any JSON object through
// jsonschema.JSONObject. Compiled grammars are kept by their GBNF text, so
// a schema sent with every request is compiled once and its parser tables
// and token masks serve the requests after it. A schema or grammar that
// cannot be used is a 400 naming the field and the reason (the keyword
// and JSON pointer, or the GBNF line and column); two constraints at once
// are a 400 too. The time each constrained token spends in the grammar is
// the ondo_grammar_seconds histogram of /metrics.
//
// # Limits
//
// Request bodies are limited (Config.MaxBodyBytes, 8 MiB: 413 beyond), and
// a body must arrive within a minute; there is no write timeout, so long
// streams are not cut, but each write must make progress within a minute.
// A prompt longer than the context is a 400 saying so unless the request
// asks to truncate (Ollama's "truncate": true). A full queue is a 503 with
// Retry-After. A client that disconnects cancels its generation at once.
package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ondo-ai/ondo/webui"
)

// Config configures a Server. The zero value serves the models in the
// current directory with the defaults below.
type Config struct {
	// ModelsDir is the folder DirResolver looks in when Resolver is nil.
	ModelsDir string
	// Resolver maps model names to files; nil means DirResolver{ModelsDir}.
	// Chain combines several, e.g. a model store and a folder.
	Resolver Resolver
	// Puller downloads models for /api/pull (store/resolver.Puller pulls
	// from the Hugging Face Hub into a model store); nil answers /api/pull
	// with 501.
	Puller Puller

	// Parallel is the number of sequences each loaded model generates at
	// once (engine.Config.Parallel); 0 means the engine's default, 4.
	Parallel int
	// Context is the context of each sequence in tokens; 0 means the
	// model's trained context capped at engine.DefaultContextCap. Ollama's
	// num_ctx option overrides it: a model loaded with another context is
	// reloaded with the request's when it is idle.
	Context int
	// MaxQueue is the most requests waiting per model; 0 means the
	// engine's default, 8 × Parallel.
	MaxQueue int
	// Threads the kernels of each model use; 0 means all CPUs.
	Threads int

	// MaxLoadedModels is the most models loaded at once; 0 means 3.
	MaxLoadedModels int
	// MaxMemory is the memory budget of all loaded models in bytes; 0
	// means three quarters of the machine's memory where it can be read
	// (Linux), otherwise no budget; a negative value means no budget.
	MaxMemory int64
	// KeepAlive is how long an idle model stays loaded; nil means 5
	// minutes, 0 unloads a model as soon as its last request ends, and a
	// negative value keeps models until they are evicted.
	KeepAlive *time.Duration
	// LoadWait is how long a request waits for busy models to make room
	// for the model it needs before a 503; 0 means 30 seconds.
	LoadWait time.Duration

	// APIKey, when not empty, is required as "Authorization: Bearer KEY" on
	// every request except /health and CORS preflights.
	APIKey string
	// CORSOrigins are the origins browsers may call the API from ("*" for
	// any); none by default.
	CORSOrigins []string
	// MaxBodyBytes limits request bodies; 0 means 8 MiB.
	MaxBodyBytes int64
	// NoUI turns the chat page (package webui) off: / then answers
	// "Ondo is running" in plain text. With the page on, GET / and
	// GET /ui/... load without the API key; the page asks for it and
	// sends it on its API calls.
	NoUI bool

	// Version is reported by /api/version and in system_fingerprint.
	Version string
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// Defaults of Config's zero fields.
const (
	DefaultKeepAlive       = 5 * time.Minute
	DefaultMaxLoadedModels = 3
	DefaultMaxBodyBytes    = 8 << 20
	DefaultLoadWait        = 30 * time.Second
	DefaultAddr            = "127.0.0.1:11435"
)

// Server answers the OpenAI and Ollama APIs. Make one with New, serve it
// with Serve (or mount Handler), and stop it with Shutdown.
type Server struct {
	cfg     Config
	models  *manager
	met     *metrics
	log     *slog.Logger
	mux     *http.ServeMux
	handler http.Handler
	// grammars are the compiled constraints of recent requests.
	grammars *grammarCache

	// base is the parent of every request's context; Shutdown cancels it
	// when its grace period ends, which ends the streams still running.
	base       context.Context
	cancelBase context.CancelFunc

	mu    sync.Mutex
	https []*http.Server
}

// New returns a server for cfg. Nothing is loaded until a request needs it.
func New(cfg Config) (*Server, error) {
	if cfg.Resolver == nil {
		dir := cfg.ModelsDir
		if dir == "" {
			dir = "."
		}
		cfg.Resolver = DirResolver{Dir: dir}
	}
	switch {
	case cfg.Parallel < 0:
		return nil, fmt.Errorf("server: parallel %d is negative", cfg.Parallel)
	case cfg.Context < 0:
		return nil, fmt.Errorf("server: context %d is negative", cfg.Context)
	case cfg.MaxLoadedModels < 0:
		return nil, fmt.Errorf("server: max loaded models %d is negative", cfg.MaxLoadedModels)
	case cfg.MaxBodyBytes < 0:
		return nil, fmt.Errorf("server: max body bytes %d is negative", cfg.MaxBodyBytes)
	}
	if cfg.MaxLoadedModels == 0 {
		cfg.MaxLoadedModels = DefaultMaxLoadedModels
	}
	switch {
	case cfg.MaxMemory == 0:
		if total := totalMemory(); total > 0 {
			cfg.MaxMemory = total / 4 * 3
		}
	case cfg.MaxMemory < 0:
		cfg.MaxMemory = 0
	}
	if cfg.KeepAlive == nil {
		d := DefaultKeepAlive
		cfg.KeepAlive = &d
	}
	if cfg.LoadWait <= 0 {
		cfg.LoadWait = DefaultLoadWait
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.Version == "" {
		cfg.Version = "0.0.0"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, log: log, grammars: newGrammarCache(grammarCacheSize)}
	s.base, s.cancelBase = context.WithCancel(context.Background())
	var mgr *manager
	s.met = newMetrics(func() []modelStats { return mgr.stats() })
	mgr = newManager(cfg, s.met, log)
	s.models = mgr
	s.routes()
	return s, nil
}

// keepAlive is the server's default keep-alive.
func (c *Config) keepAlive() time.Duration { return *c.KeepAlive }

// routes registers the handlers and builds the middleware chain: metrics
// and logging outermost, then CORS, authentication and the body limit.
func (s *Server) routes() {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, errorHandler(h))
	}
	if s.cfg.NoUI {
		mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			io.WriteString(w, "Ondo is running")
		})
	} else {
		page := webui.Handler()
		mux.Handle("GET /{$}", page)
		mux.Handle("GET "+webui.AssetPrefix, page)
	}
	mux.HandleFunc("GET /health", s.handleHealth)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.met.reg, promhttp.HandlerOpts{}))

	handle("GET /v1/models", s.handleOpenAIModels)
	handle("GET /v1/models/{model...}", s.handleOpenAIModel)
	handle("POST /v1/chat/completions", s.handleChatCompletions)
	handle("POST /v1/completions", s.handleCompletions)
	handle("POST /v1/embeddings", s.handleOpenAIEmbeddings)
	for _, p := range []string{"/v1/rerank", "/rerank", "/v1/reranking", "/reranking"} { // llama-server's paths
		handle("POST "+p, s.handleRerank)
	}

	handle("POST /api/generate", s.handleGenerate)
	handle("POST /api/chat", s.handleChat)
	handle("POST /api/embed", s.handleEmbed)
	handle("POST /api/embeddings", s.handleEmbeddingsLegacy)
	handle("POST /api/show", s.handleShow)
	handle("GET /api/tags", s.handleTags)
	handle("GET /api/ps", s.handlePs)
	handle("DELETE /api/delete", s.handleDelete)
	handle("GET /api/version", s.handleVersion)
	handle("POST /api/pull", s.handlePull)
	for _, p := range []string{"/api/push", "/api/create", "/api/copy", "/api/blobs/{digest}"} {
		handle("POST "+p, func(w http.ResponseWriter, r *http.Request) error {
			return &apiError{Status: http.StatusNotImplemented, Type: typeNotImplemented,
				Msg: fmt.Sprintf("%s is not supported by ondo: put GGUF files in the models folder", r.URL.Path)}
		})
	}
	s.mux = mux
	s.handler = s.instrument(s.cors(s.auth(s.limitBody(http.HandlerFunc(s.route)))))
}

// route dispatches through the mux, answering unknown paths and methods
// in JSON (the mux's own answers are plain text).
func (s *Server) route(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern != "" {
		s.mux.ServeHTTP(w, r)
		return
	}
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodDelete} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, p := s.mux.Handler(probe); p != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) > 0 {
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, r, &apiError{Status: http.StatusMethodNotAllowed, Type: typeInvalidRequest,
			Msg: fmt.Sprintf("method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allowed, ", "))})
		return
	}
	writeError(w, r, &apiError{Status: http.StatusNotFound, Type: typeInvalidRequest, Code: "unknown_url",
		Msg: fmt.Sprintf("no such endpoint: %s %s", r.Method, r.URL.Path)})
}

// errorHandler adapts a handler that returns an error: an error before
// anything was written becomes the API's error response.
func errorHandler(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			if sw, ok := w.(*statusWriter); ok && sw.wrote {
				return // a stream already under way reports its own errors
			}
			if r.Context().Err() != nil && errors.Is(err, r.Context().Err()) {
				// The client is gone; nobody reads an answer. 499 is
				// nginx's "client closed request", for the metrics.
				w.WriteHeader(499)
				return
			}
			writeError(w, r, err)
		}
	})
}

// Handler returns the server's HTTP handler, middleware included.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve accepts connections on ln until Shutdown or Close. It returns
// http.ErrServerClosed after a Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	hs := &http.Server{
		Handler: s.handler,
		// No ReadTimeout or WriteTimeout: they would cut long streams.
		// Bodies have their own deadline (decodeJSON) and stream writes
		// theirs (streamWriter).
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.base },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	if s.base.Err() != nil {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.https = append(s.https, hs)
	s.mu.Unlock()
	return hs.Serve(ln)
}

// Shutdown stops accepting connections and waits for the requests in
// flight, streams included, to finish. When ctx ends first, the remaining
// requests are cancelled (streams end with an error message in their
// API's format) and given a moment to write it. Then every model is
// unloaded.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	hss := slices.Clone(s.https)
	s.mu.Unlock()
	var wg sync.WaitGroup
	errs := make([]error, len(hss))
	for i, hs := range hss {
		wg.Go(func() { errs[i] = hs.Shutdown(ctx) })
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err != nil {
		// Out of patience: cancel what is left and let it write its end.
		s.cancelBase()
		grace, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		for _, hs := range hss {
			if hs.Shutdown(grace) != nil {
				hs.Close()
			}
		}
		cancel()
	}
	s.cancelBase()
	s.models.close()
	return err
}

// Close closes the listeners and connections at once and unloads every
// model.
func (s *Server) Close() error {
	s.cancelBase()
	s.mu.Lock()
	hss := slices.Clone(s.https)
	s.mu.Unlock()
	var errs []error
	for _, hs := range hss {
		errs = append(errs, hs.Close())
	}
	s.models.close()
	return errors.Join(errs...)
}

// shuttingDown reports whether Shutdown has cancelled the requests.
func (s *Server) shuttingDown() bool { return s.base.Err() != nil }

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "loaded_models": len(s.models.loaded())})
}

// statusWriter records a response's status for the metrics and whether
// anything was written; it passes Flush and deadlines through Unwrap.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	return w.ResponseWriter.Write(b)
}

// Flush implements http.Flusher.
func (w *statusWriter) Flush() {
	if !w.wrote {
		w.status, w.wrote = http.StatusOK, true
	}
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// instrument counts requests by route and status, times them, logs them,
// and turns a panic into a 500.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := "other"
		if _, p := s.mux.Handler(r); p != "" {
			route = p
		}
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
				if !sw.wrote {
					writeError(sw, r, &apiError{Status: http.StatusInternalServerError, Type: typeServer, Msg: "internal error"})
				}
			}
			code := strconv.Itoa(sw.status)
			s.met.requests.WithLabelValues(route, code).Inc()
			s.met.requestDuration.WithLabelValues(route).Observe(time.Since(start).Seconds())
			s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
		}()
		next.ServeHTTP(sw, r)
	})
}

// cors answers preflights and marks responses readable by the listed
// origins. Other origins get no CORS headers, so browsers block them.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := origin != "" && s.originAllowed(origin)
		if len(s.cfg.CORSOrigins) > 0 {
			// The answer depends on the origin: caches must know.
			w.Header().Add("Vary", "Origin")
		}
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
		}
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			if allowed {
				h := w.Header()
				h.Set("Access-Control-Allow-Methods", "GET, HEAD, POST, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, X-Requested-With, OpenAI-Organization, OpenAI-Project, X-Stainless-Lang, X-Stainless-Package-Version, X-Stainless-OS, X-Stainless-Arch, X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Retry-Count, X-Stainless-Timeout")
				h.Set("Access-Control-Max-Age", "600")
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.cfg.CORSOrigins {
		if o == "*" || strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// auth requires the API key, when one is set, on everything but /health
// and the chat page's own GETs (which hold no data: the page asks for the
// key and sends it on its API calls).
func (s *Server) auth(next http.Handler) http.Handler {
	if s.cfg.APIKey == "" {
		return next
	}
	want := []byte(s.cfg.APIKey)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" || !s.cfg.NoUI && webui.IsPagePath(r.Method, r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		h := r.Header.Get("Authorization")
		token, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			token, ok = strings.CutPrefix(h, "bearer ")
		}
		if !ok || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(token)), want) != 1 {
			msg := "missing API key: send it as \"Authorization: Bearer KEY\""
			if h != "" {
				msg = "invalid API key"
			}
			writeError(w, r, &apiError{Status: http.StatusUnauthorized, Type: typeAuthentication, Code: "invalid_api_key", Msg: msg})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// limitBody caps request bodies; reading past the cap fails with an
// *http.MaxBytesError that the handlers turn into 413.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			writeError(w, r, asAPIError(&http.MaxBytesError{Limit: s.cfg.MaxBodyBytes}))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}
