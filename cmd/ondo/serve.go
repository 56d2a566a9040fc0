package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ondo-ai/ondo/server"
	"github.com/ondo-ai/ondo/store"
	"github.com/ondo-ai/ondo/store/resolver"
)

// serveEnv maps each serve flag to the environment variables that set it
// when the flag is not given, first match winning.
var serveEnv = map[string][]string{
	"addr":              {"ONDO_HOST", "ONDO_ADDR"},
	"models-dir":        {"ONDO_MODELS"},
	"parallel":          {"ONDO_PARALLEL"},
	"max-loaded-models": {"ONDO_MAX_LOADED_MODELS"},
	"max-memory":        {"ONDO_MAX_MEMORY"},
	"keep-alive":        {"ONDO_KEEP_ALIVE"},
	"api-key":           {"ONDO_API_KEY"},
	"cors-origins":      {"ONDO_CORS_ORIGINS"},
	"context":           {"ONDO_CONTEXT_LENGTH"},
	"max-queue":         {"ONDO_MAX_QUEUE"},
	"threads":           {"ONDO_THREADS"},
	"no-ui":             {"ONDO_NO_UI"},
}

// shutdownGrace is how long a stopping server waits for streams to finish
// before cancelling them.
const shutdownGrace = 30 * time.Second

func init() {
	var (
		addr, modelsDir, apiKey   string
		parallel, maxLoaded       int
		ctxSize, maxQueue, thread int
		cors                      []string
		maxMem                    = byteSize(0)
		keep                      = keepAliveFlag(server.DefaultKeepAlive)
		verbose, noUI             bool
	)
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve models over OpenAI- and Ollama-compatible HTTP APIs",
		Long: `Serve GGUF models over HTTP with the OpenAI API (/v1/chat/completions,
/v1/completions, /v1/embeddings, /v1/models) and the Ollama API (/api/generate,
/api/chat, /api/embed, /api/tags, /api/show, /api/ps, /api/pull, /api/delete,
/api/version), plus /health and Prometheus /metrics. A chat page is served at /
(open it in a browser; --no-ui turns it off).

Models are looked up in --models-dir, which is the model store (ondo pull and
ondo create write its blobs/ and manifests/ folders) and may also hold plain GGUF
files. A name is first a model of the store ("tiny", "tiny:latest",
"hf.co/OWNER/REPO:Q4_K_M"), else the file NAME.gguf in the folder ("tiny" is
tiny.gguf); a path to a .gguf file works too. POST /api/pull downloads a Hugging
Face model into the store, with HF_ENDPOINT and HF_TOKEN from the server's
environment; DELETE /api/delete removes a store model or a plain file.

Models load on first use, stay loaded for --keep-alive (or a request's
keep_alive), and the least recently used idle one is unloaded when another would
exceed --max-loaded-models or --max-memory.

Every flag can also be set by the environment variable in brackets; a flag given on the
command line wins. The server listens on 127.0.0.1 unless told otherwise. SIGINT or
SIGTERM stops it gracefully: running streams get up to 30 seconds to finish.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := applyEnv(cmd.Flags(), os.LookupEnv); err != nil {
				return err
			}
			listen, err := normalizeAddr(addr)
			if err != nil {
				return err
			}
			switch {
			case parallel < 0:
				return fmt.Errorf("--parallel %d is negative", parallel)
			case maxLoaded < 0:
				return fmt.Errorf("--max-loaded-models %d is negative", maxLoaded)
			case ctxSize < 0:
				return fmt.Errorf("--context %d is negative", ctxSize)
			case thread < 0:
				return fmt.Errorf("--threads %d is negative", thread)
			}
			if modelsDir == "" {
				modelsDir = defaultModelsDir()
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
			res, puller := serveResolver(modelsDir, os.Getenv, log)
			ka := time.Duration(keep)
			srv, err := server.New(server.Config{
				ModelsDir:       modelsDir,
				Resolver:        res,
				Puller:          puller,
				Parallel:        parallel,
				Context:         ctxSize,
				MaxQueue:        maxQueue,
				Threads:         thread,
				MaxLoadedModels: maxLoaded,
				MaxMemory:       int64(maxMem),
				KeepAlive:       &ka,
				APIKey:          apiKey,
				CORSOrigins:     splitList(cors),
				NoUI:            noUI,
				Version:         version,
				Logger:          log,
			})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "ondo: listening on http://%s (models in %s)\n", ln.Addr(), modelsDir)

			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			select {
			case err := <-served:
				srv.Close()
				return err
			case <-ctx.Done():
			}
			stop() // a second signal ends the process at once
			log.Info("shutting down: waiting for running requests", "grace", shutdownGrace)
			sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
			defer cancel()
			if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return err
			}
			if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			log.Info("stopped")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", server.DefaultAddr, "address to listen on, HOST:PORT [ONDO_HOST, ONDO_ADDR]")
	f.StringVar(&modelsDir, "models-dir", "", "the model store, which may also hold NAME.gguf files (default ~/.ondo/models) [ONDO_MODELS]")
	f.IntVar(&parallel, "parallel", 0, "sequences each model generates at once (default 4) [ONDO_PARALLEL]")
	f.IntVar(&maxLoaded, "max-loaded-models", server.DefaultMaxLoadedModels, "most models loaded at once [ONDO_MAX_LOADED_MODELS]")
	f.Var(&maxMem, "max-memory", "memory budget of the loaded models, bytes or with a unit (8GiB, 500M); 0: 3/4 of RAM; -1: none [ONDO_MAX_MEMORY]")
	f.Var(&keep, "keep-alive", "how long an idle model stays loaded: a duration (5m, 1h) or seconds; 0 unloads at once, negative keeps for good [ONDO_KEEP_ALIVE]")
	f.StringVar(&apiKey, "api-key", "", "require \"Authorization: Bearer KEY\" on every request but /health [ONDO_API_KEY]")
	f.StringSliceVar(&cors, "cors-origins", nil, "comma-separated origins browsers may call the API from, or * [ONDO_CORS_ORIGINS]")
	f.IntVar(&ctxSize, "context", 0, "context of each sequence in tokens (default: the model's, at most 4096) [ONDO_CONTEXT_LENGTH]")
	f.IntVar(&maxQueue, "max-queue", 0, "most requests waiting per model before 503 (default 8 × parallel) [ONDO_MAX_QUEUE]")
	f.IntVar(&thread, "threads", 0, "threads per model (default: all CPUs) [ONDO_THREADS]")
	f.BoolVar(&noUI, "no-ui", false, "serve no chat page at / (only \"Ondo is running\") [ONDO_NO_UI]")
	f.BoolVar(&verbose, "verbose", false, "log every request")
	register(cmd)
}

// serveResolver returns the server's resolver and puller for the models
// folder dir: the model store in dir first, then dir's plain NAME.gguf
// files. When the store cannot be opened (a read-only folder without
// one), the plain files are served alone and nothing can be pulled.
func serveResolver(dir string, getenv func(string) string, log *slog.Logger) (server.Resolver, server.Puller) {
	flat := server.DirResolver{Dir: dir}
	st, err := store.Open(dir)
	if err != nil {
		log.Warn("no model store: serving the .gguf files of the folder only; /api/pull is disabled", "dir", dir, "err", err)
		return flat, nil
	}
	token := getenv("HF_TOKEN")
	if token == "" {
		token = getenv("HUGGING_FACE_HUB_TOKEN") // older name
	}
	return server.Chain{resolver.New(st), flat}, &resolver.Puller{Store: st, Endpoint: getenv("HF_ENDPOINT"), Token: token}
}

// applyEnv sets each flag not given on the command line from its
// environment variable, if set.
func applyEnv(fs *pflag.FlagSet, lookup func(string) (string, bool)) error {
	for name, vars := range serveEnv {
		fl := fs.Lookup(name)
		if fl == nil || fl.Changed {
			continue
		}
		for _, v := range vars {
			val, ok := lookup(v)
			if !ok || val == "" {
				continue
			}
			if sv, ok := fl.Value.(pflag.SliceValue); ok {
				if err := sv.Replace(splitList([]string{val})); err != nil {
					return fmt.Errorf("%s=%q: %v", v, val, err)
				}
			} else if err := fl.Value.Set(val); err != nil {
				return fmt.Errorf("%s=%q: %v", v, val, err)
			}
			break
		}
	}
	return nil
}

// normalizeAddr accepts what OLLAMA_HOST accepts: HOST:PORT, HOST alone
// (port 11435), :PORT (every interface, as asked), or a URL.
func normalizeAddr(a string) (string, error) {
	a = strings.TrimSpace(a)
	if strings.Contains(a, "://") {
		u, err := url.Parse(a)
		if err != nil {
			return "", fmt.Errorf("address %q: %v", a, err)
		}
		a = u.Host
	}
	if a == "" {
		return server.DefaultAddr, nil
	}
	_, defPort, _ := net.SplitHostPort(server.DefaultAddr)
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		// No port: the whole thing is a host (an IPv6 one may be
		// bracketed).
		host, port = strings.Trim(a, "[]"), defPort
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return "", fmt.Errorf("address %q: invalid port %q", a, port)
	}
	return net.JoinHostPort(host, port), nil
}

// splitList splits comma-separated entries and drops empty ones.
func splitList(in []string) []string {
	var out []string
	for _, s := range in {
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func defaultModelsDir() string {
	home, err := os.UserHomeDir()
	if err != nil {
		return "models"
	}
	return filepath.Join(home, ".ondo", "models")
}

// keepAliveFlag is a keep-alive flag: a duration or seconds, negative for
// forever.
type keepAliveFlag time.Duration

func (k *keepAliveFlag) String() string {
	if *k < 0 {
		return "-1"
	}
	return time.Duration(*k).String()
}

func (k *keepAliveFlag) Set(s string) error {
	d, err := server.ParseKeepAlive(s)
	if err != nil {
		return err
	}
	*k = keepAliveFlag(d)
	return nil
}

func (k *keepAliveFlag) Type() string { return "duration" }

// byteSize is a size flag: bytes, or a number with a unit (K, M, G, T with
// an optional B; KiB-style units are powers of 1024, KB-style and bare
// letters too, as memory is counted).
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	v, err := parseBytes(s)
	if err != nil {
		return err
	}
	*b = byteSize(v)
	return nil
}

func (b *byteSize) Type() string { return "bytes" }

// parseBytes reads "8589934592", "8GiB", "8G", "512MB", "-1".
func parseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		return n, nil
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" {
		return 0, fmt.Errorf("invalid size %q: want bytes or a number with a unit such as 8GiB", s)
	}
	unit = strings.TrimSuffix(strings.TrimSuffix(unit, "B"), "I")
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
	if mult == 0 {
		return 0, fmt.Errorf("invalid size %q: unknown unit (want K, M, G or T, optionally with B or iB)", s)
	}
	return int64(f * mult), nil
}
