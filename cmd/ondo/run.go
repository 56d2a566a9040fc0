package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ondo-ai/ondo"
	"github.com/ondo-ai/ondo/chat"
	"github.com/ondo-ai/ondo/engine"
	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/grammar/jsonschema"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/server"
	"github.com/ondo-ai/ondo/store"
	"github.com/ondo-ai/ondo/store/resolver"
	"github.com/ondo-ai/ondo/tokenizer"
	"github.com/ondo-ai/ondo/toolcall"
)

// probeTimeout bounds the check for a running server.
const probeTimeout = time.Second

func init() {
	var o runOptions
	cmd := &cobra.Command{
		Use:   "run MODEL [PROMPT...]",
		Short: "Run a model: answer a prompt, or chat on the terminal",
		Long: `Run MODEL: answer one prompt, or chat with it.

MODEL is a model of the store (see ondo list), a file NAME.gguf in the store's
folder, the path of a .gguf file, or a Hugging Face model, hf.co/OWNER/REPO[:QUANT]
or OWNER/REPO[:QUANT]. A Hugging Face model that is not in the store yet is
pulled first: on a terminal ondo asks "pull MODEL? [Y/n]" unless --yes is given;
when standard input is not a terminal it pulls without asking, as ollama run
does.

With a prompt (the arguments after MODEL, or standard input when it is not a
terminal, as in echo hi | ondo run MODEL; both are joined, standard input first)
ondo answers once, streaming the answer to standard output, and exits. An
empty prompt from standard input only loads the model. Without a prompt, on a
terminal, ondo opens a chat: each answer is streamed, the conversation is kept
(and rendered with the model's chat template every turn, the earlier turns
reused from the cache), and these commands work:

  /set parameter NAME VALUE   temperature, top_k, top_p, min_p, num_ctx, seed,
                              repeat_penalty, repeat_last_n, num_predict, stop
  /set system TEXT            set the system message
  /set verbose, /set quiet    show or hide timings
  /show info                  architecture, parameters, quantization, context
  /show parameters, /show system, /show template
  /clear                      forget the conversation
  /bye                        exit (so does Ctrl-D)
  /?, /help                   help
  """                         begins and ends a message of several lines

Ctrl-C stops an answer and returns to the prompt; at the prompt, a second
Ctrl-C in a row exits. Lines are edited by the terminal itself (it stays in
its ordinary line mode), so wide characters such as Korean are shown and
erased correctly, but there is no history of typed lines.

When an ondo server answers at ONDO_HOST (default ` + server.DefaultAddr + `), the model runs
there (its /api/chat), and a pull goes through its /api/pull into its store;
otherwise ondo loads the model itself, from the store in --models-dir.

--format json constrains the answer to a JSON object, and --format FILE.json to
JSON that validates against the JSON schema in the file (Ollama's "format"). It
also adds "Respond using JSON." to the prompt, which small models need to
answer sensibly within the constraint. An answer cut short (num_predict, a full
context) is not valid JSON: that is an error (exit status 1 for a prompt given
on the command line or standard input).

A thinking model's reasoning is shown before its answer, between "Thinking..."
and "...done thinking." (dimmed on a terminal); --hidethinking leaves it out,
--think=false asks the model not to think (where its template can), and
--think=low|medium|high sets the effort of models that take one. Tool calls
the model makes are printed as [tool call] NAME(ARGUMENTS).

--verbose prints timings after each answer to standard error, as ollama does:
total duration, load duration, prompt eval count, duration and rate, eval
count, duration and rate.

Environment:
  ONDO_HOST     the server to use (a running one is used when it answers)
  ONDO_API_KEY  the key the server requires, if any
  ONDO_MODELS   the model store (default ~/.ondo/models)
  HF_ENDPOINT   the Hugging Face Hub or a mirror, for pulls without a server
  HF_TOKEN      access token for gated or private repositories, likewise`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.stdin, o.stdout, o.stderr = os.Stdin, cmd.OutOrStdout(), cmd.ErrOrStderr()
			o.stdinTerminal = term.IsTerminal(int(os.Stdin.Fd()))
			o.stdoutTerminal = term.IsTerminal(int(os.Stdout.Fd()))
			return runModel(cmd.Context(), &o, args[0], args[1:])
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.yes, "yes", "y", false, "pull a missing Hugging Face model without asking")
	f.StringVar(&o.format, "format", "", `"json" for a JSON object, or a JSON schema file the answer must validate against`)
	f.BoolVar(&o.verbose, "verbose", false, "print timings after each answer to standard error")
	f.StringVar(&o.think, "think", "", `think before answering (thinking models): true, false, or a level, "low", "medium" or "high"`)
	f.Lookup("think").NoOptDefVal = "true"
	f.BoolVar(&o.hideThinking, "hidethinking", false, "do not show the model's thinking (it still thinks)")
	f.StringVar(&o.keepAlive, "keepalive", "", "how long the server keeps the model loaded after the request (a duration, or seconds; negative: for good)")
	f.StringArrayVarP(&o.set, "parameter", "p", nil, "set a parameter as /set parameter does, NAME=VALUE (repeatable; stop adds up)")
	f.IntVar(&o.threads, "threads", 0, "threads when the model runs in this process (default: all CPUs)")
	addModelsDir(cmd, &o.dir)
	register(cmd)
}

// runOptions are ondo run's settings.
type runOptions struct {
	dir       string
	yes       bool
	format    string          // --format: "json" or a schema file
	formatArg json.RawMessage // Ollama's format: "json", a schema, or nil
	verbose   bool
	think     string // --think: "", "true", "false", "low", "medium", "high"
	keepAlive string
	// hideThinking is --hidethinking; stdoutTerminal dims the thinking.
	hideThinking   bool
	stdoutTerminal bool
	threads        int
	set            []string // --parameter NAME=VALUE
	params         params   // set's, then /set parameter's

	stdin         io.Reader
	stdout        io.Writer
	stderr        io.Writer
	stdinTerminal bool
	lines         *lineReader // stdin, by lines, for the pull question and the chat
}

// runModel is ondo run.
func runModel(ctx context.Context, o *runOptions, model string, promptArgs []string) error {
	switch o.format {
	case "":
	case "json":
		o.formatArg = json.RawMessage(`"json"`)
	default:
		schema, err := os.ReadFile(o.format)
		if err != nil {
			return fmt.Errorf("--format %q is neither json nor a JSON schema file: %v", o.format, errors.Unwrap(err))
		}
		if !json.Valid(schema) {
			return fmt.Errorf("--format %s: the file is not valid JSON", o.format)
		}
		o.formatArg = json.RawMessage(bytes.TrimSpace(schema))
	}
	if o.threads < 0 {
		return fmt.Errorf("--threads %d is negative", o.threads)
	}
	for _, kv := range o.set {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("--parameter %q: want NAME=VALUE", kv)
		}
		values := []string{value}
		if name == "stop" {
			values = append(o.params.Stop, value) // stop adds up
		}
		if err := o.params.set(name, values); err != nil {
			return fmt.Errorf("--parameter: %v", err)
		}
	}
	var keep *time.Duration
	if o.keepAlive != "" {
		d, err := server.ParseKeepAlive(o.keepAlive)
		if err != nil {
			return fmt.Errorf("--keepalive: %v", err)
		}
		keep = &d
	}
	var parts []string
	if !o.stdinTerminal {
		b, err := io.ReadAll(o.stdin)
		if err != nil {
			return fmt.Errorf("reading the prompt from standard input: %w", err)
		}
		if s := strings.TrimRight(string(b), "\r\n"); s != "" {
			parts = append(parts, s)
		}
	} else {
		o.lines = newLineReader(o.stdin)
	}
	parts = append(parts, promptArgs...)
	prompt := strings.Join(parts, " ")
	interactive := o.stdinTerminal && len(promptArgs) == 0

	// Ctrl-C during the preparations (a pull, a load) ends the program.
	sigCtx, stop := signal.NotifyContext(ctx, os.Interrupt)
	b, err := openBackend(sigCtx, o, model, keep)
	interrupted := sigCtx.Err() != nil && ctx.Err() == nil
	stop()
	if err != nil {
		if interrupted {
			return errors.New("interrupted")
		}
		return err
	}
	defer b.close()

	if interactive {
		return chatLoop(ctx, o, b)
	}
	if prompt == "" {
		return b.load(ctx)
	}
	sigCtx, stop = signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	msgs := []chat.Message{{Role: "user", Content: prompt}}
	answer, stats, err := answer(sigCtx, o, b, msgs, o.params)
	if err != nil {
		if sigCtx.Err() != nil && ctx.Err() == nil {
			return errors.New("interrupted")
		}
		return err
	}
	if !strings.HasSuffix(answer, "\n") {
		fmt.Fprintln(o.stdout)
	}
	if o.verbose {
		stats.print(o.stderr)
	}
	if o.formatArg != nil {
		if err := checkJSON(answer, stats.finish); err != nil {
			return err
		}
	}
	return nil
}

// answer streams the model's answer to msgs to standard output.
func answer(ctx context.Context, o *runOptions, b backend, msgs []chat.Message, p params) (string, runStats, error) {
	if o.formatArg != nil {
		msgs = withJSONInstruction(msgs)
	}
	var sb strings.Builder
	thinking := false // inside a shown reasoning section
	dim := func(s string) string {
		if o.stdoutTerminal {
			return "\x1b[2m" + s + "\x1b[0m"
		}
		return s
	}
	stats, err := b.chat(ctx, msgs, p, askOptions{format: o.formatArg, think: o.think}, func(pc piece) error {
		if err := ctx.Err(); err != nil {
			// Stopped (Ctrl-C): what the model decided after that
			// is neither shown nor kept.
			return err
		}
		var out string
		switch {
		case pc.thinking:
			if o.hideThinking {
				return nil
			}
			if !thinking {
				out = dim("Thinking...") + "\n"
				thinking = true
			}
			out += dim(pc.text)
		default:
			if thinking {
				out = "\n" + dim("...done thinking.") + "\n\n"
				thinking = false
			}
			if pc.call != nil {
				out += fmt.Sprintf("[tool call] %s(%s)\n", pc.call.Name, pc.call.Arguments)
			} else {
				out += pc.text
				sb.WriteString(pc.text)
			}
		}
		_, err := io.WriteString(o.stdout, out)
		return err
	})
	return sb.String(), stats, err
}

// thinkKwargs are the template variables of --think for a template with
// caps: the thinking switch, and reasoning_effort for a level.
func thinkKwargs(caps chat.Caps, think string) (map[string]any, error) {
	if think == "" {
		return nil, nil
	}
	on := think != "false"
	if on && !caps.Thinking {
		return nil, errors.New("--think: the model does not support thinking (its chat template has no reasoning section)")
	}
	kw := map[string]any{}
	if caps.ThinkingKwarg != "" {
		kw[caps.ThinkingKwarg] = on
	}
	if on && think != "true" {
		kw["reasoning_effort"] = think
	}
	return kw, nil
}

// jsonInstruction is added to the last user message with --format: the
// grammar forces JSON, but a small model needs to be asked for it to fill
// it with something sensible.
const jsonInstruction = "\n\nRespond using JSON."

func withJSONInstruction(msgs []chat.Message) []chat.Message {
	out := append([]chat.Message(nil), msgs...)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i].Role == "user" {
			out[i].Content += jsonInstruction
			break
		}
	}
	return out
}

// checkJSON checks an answer given with --format: one JSON value,
// possibly in a ```json fence (a server that ignores format may answer so).
// finish is the finish reason, for the message.
func checkJSON(answer, finish string) error {
	s := strings.TrimSpace(answer)
	if rest, ok := strings.CutPrefix(s, "```"); ok {
		rest = strings.TrimPrefix(rest, "json")
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "```"))
	}
	if s == "" || !json.Valid([]byte(s)) {
		switch finish {
		case "length":
			return errors.New("the answer is not valid JSON: it was cut short (num_predict, or the context) before the JSON was complete")
		case "context":
			return errors.New("the answer is not valid JSON: the context filled up before the JSON was complete")
		}
		return errors.New("the answer is not valid JSON")
	}
	return nil
}

// backend runs the model: a running server, or this process.
type backend interface {
	// chat answers the conversation, calling emit with each piece of the
	// answer as it is generated. format is Ollama's: "json", a JSON
	// schema, or nil for free text.
	chat(ctx context.Context, msgs []chat.Message, p params, ask askOptions, emit func(piece) error) (runStats, error)
	// info describes the model for /show.
	info(ctx context.Context) (modelInfo, error)
	// load loads the model without answering anything.
	load(ctx context.Context) error
	close() error
}

// askOptions are what an answer is asked to be beyond the conversation.
type askOptions struct {
	// format is Ollama's: "json", a JSON schema, or nil for free text.
	format json.RawMessage
	// think is --think: "" (the template's default), "true", "false",
	// "low", "medium" or "high".
	think string
}

// piece is a piece of an answer: text of the answer or of its reasoning,
// or a tool call.
type piece struct {
	text     string
	thinking bool
	call     *toolcall.Call
}

// modelInfo is what /show info and /show template print.
type modelInfo struct {
	arch, params, quant string
	context, embedding  int
	template            string
}

// runStats are the timings of an answer, as Ollama's metrics.
type runStats struct {
	total, load              time.Duration
	promptCount, evalCount   int
	promptEval, eval         time.Duration
	finish                   string
	contextSize              int
	contextFull, interrupted bool
}

// print writes the timings as ollama run --verbose does.
func (s runStats) print(w io.Writer) {
	rate := func(n int, d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return float64(n) / d.Seconds()
	}
	fmt.Fprintf(w, "total duration:       %v\n", s.total)
	fmt.Fprintf(w, "load duration:        %v\n", s.load)
	fmt.Fprintf(w, "prompt eval count:    %d token(s)\n", s.promptCount)
	fmt.Fprintf(w, "prompt eval duration: %v\n", s.promptEval)
	fmt.Fprintf(w, "prompt eval rate:     %.2f tokens/s\n", rate(s.promptCount, s.promptEval))
	fmt.Fprintf(w, "eval count:           %d token(s)\n", s.evalCount)
	fmt.Fprintf(w, "eval duration:        %v\n", s.eval)
	fmt.Fprintf(w, "eval rate:            %.2f tokens/s\n", rate(s.evalCount, s.eval))
}

// params are the settings of /set parameter; nil fields keep the defaults
// (sample.DefaultConfig's, as the server's).
type params struct {
	Temperature   *float32 `json:"temperature,omitempty"`
	TopK          *int     `json:"top_k,omitempty"`
	TopP          *float32 `json:"top_p,omitempty"`
	MinP          *float32 `json:"min_p,omitempty"`
	NumCtx        *int     `json:"num_ctx,omitempty"`
	Seed          *int64   `json:"seed,omitempty"`
	RepeatPenalty *float32 `json:"repeat_penalty,omitempty"`
	RepeatLastN   *int     `json:"repeat_last_n,omitempty"`
	NumPredict    *int     `json:"num_predict,omitempty"`
	Stop          []string `json:"stop,omitempty"`
}

// paramNames are the parameters /set parameter knows.
var paramNames = []string{"temperature", "top_k", "top_p", "min_p", "num_ctx", "seed", "repeat_penalty", "repeat_last_n", "num_predict", "stop"}

// set sets the parameter name from its values (several only for stop).
func (p *params) set(name string, values []string) error {
	if len(values) == 0 {
		return fmt.Errorf("no value for %s", name)
	}
	if name != "stop" && len(values) > 1 {
		return fmt.Errorf("%s takes one value", name)
	}
	v := values[0]
	float := func(dst **float32, lo, hi float64) error {
		f, err := strconv.ParseFloat(v, 32)
		if err != nil || f < lo || f != f || math.IsInf(f, 0) {
			return fmt.Errorf("%s: %q is not a number of at least %g", name, v, lo)
		}
		if f > hi {
			return fmt.Errorf("%s: %s is above %g", name, v, hi)
		}
		x := float32(f)
		*dst = &x
		return nil
	}
	integer := func(dst **int, lo int) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo {
			return fmt.Errorf("%s: %q is not a whole number of at least %d", name, v, lo)
		}
		*dst = &n
		return nil
	}
	switch name {
	case "temperature":
		return float(&p.Temperature, 0, math.MaxFloat32)
	case "top_p":
		return float(&p.TopP, 0, 1)
	case "min_p":
		return float(&p.MinP, 0, 1)
	case "repeat_penalty":
		return float(&p.RepeatPenalty, 0, math.MaxFloat32)
	case "top_k":
		return integer(&p.TopK, 0)
	case "num_ctx":
		return integer(&p.NumCtx, 1)
	case "repeat_last_n":
		return integer(&p.RepeatLastN, -1)
	case "num_predict":
		return integer(&p.NumPredict, -2)
	case "seed":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("seed: %q is not a whole number", v)
		}
		p.Seed = &n
	case "stop":
		p.Stop = append([]string(nil), values...)
	default:
		return fmt.Errorf("unknown parameter %q (known: %s)", name, strings.Join(paramNames, ", "))
	}
	return nil
}

// list returns the parameters that are set, as NAME, VALUE pairs.
func (p params) list() [][2]string {
	b, _ := json.Marshal(p)
	var m map[string]any
	json.Unmarshal(b, &m)
	var out [][2]string
	for _, k := range paramNames {
		if v, ok := m[k]; ok {
			out = append(out, [2]string{k, fmt.Sprint(v)})
		}
	}
	return out
}

// sampling returns the sample.Config of the parameters.
func (p params) sampling() (sample.Config, error) {
	c := sample.DefaultConfig()
	if p.Temperature != nil {
		c.Temperature = *p.Temperature
	}
	if p.TopK != nil {
		c.TopK = *p.TopK
	}
	if p.TopP != nil {
		c.TopP = *p.TopP
	}
	if p.MinP != nil {
		c.MinP = *p.MinP
	}
	if p.RepeatPenalty != nil {
		c.RepeatPenalty = *p.RepeatPenalty
	}
	if p.RepeatLastN != nil {
		c.RepeatLastN = *p.RepeatLastN
	}
	if p.Seed != nil {
		c.Seed = *p.Seed
		if c.Seed < 0 {
			c.Seed = sample.RandomSeed
		}
	}
	return c, c.Validate()
}

// openBackend finds the model, pulling it if need be, on a running server
// or in this process.
func openBackend(ctx context.Context, o *runOptions, model string, keep *time.Duration) (backend, error) {
	c, err := clientFromEnv()
	if err != nil {
		return nil, err
	}
	if c.probe(ctx, probeTimeout) {
		return openRemote(ctx, o, c, model, keep)
	}
	return openLocal(ctx, o, model)
}

// isFile reports whether p is an existing regular file.
func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// looksLikePath reports whether a model argument is meant as a file path.
func looksLikePath(arg string) bool {
	return strings.HasSuffix(strings.ToLower(arg), ".gguf") || filepath.IsAbs(arg) ||
		strings.HasPrefix(arg, "./") || strings.HasPrefix(arg, "../") || strings.ContainsRune(arg, filepath.Separator) && isFile(arg)
}

// hubName returns the canonical name of a Hugging Face model name, or
// false for anything else.
func hubName(arg string) (string, bool) {
	n, err := store.ParseName(arg)
	if err != nil || !n.Hub() {
		return "", false
	}
	return n.String(), true
}

// confirmPull asks whether to pull name, unless --yes was given or
// standard input is not a terminal (then it pulls, as ollama run does).
func confirmPull(o *runOptions, name string) error {
	if o.yes || !o.stdinTerminal {
		return nil
	}
	fmt.Fprintf(o.stderr, "pull %s? [Y/n] ", name)
	line, err := o.lines.readLine()
	if err != nil && line == "" {
		fmt.Fprintln(o.stderr)
		return fmt.Errorf("%s is not in the model store; not pulled", name)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "", "y", "yes":
		return nil
	}
	return fmt.Errorf("%s is not in the model store; not pulled", name)
}

// notFoundHint finishes the message for a model that is not there and
// cannot be pulled.
const notFoundHint = "ondo list shows the models there; ondo create imports a GGUF file, and OWNER/REPO[:QUANT] names a Hugging Face model to pull"

// ---- in this process

// localBackend runs the model in this process.
type localBackend struct {
	name     string
	m        *ondo.Model
	tmpl     *chat.Template
	sess     *ondo.Session
	ctxSize  int // the session's context
	reported bool

	format  string           // the format grammar was compiled from
	grammar *grammar.Grammar // the last format's grammar
}

// openLocal resolves model in the store (pulling a missing Hugging Face
// model) or as a file, and loads it.
func openLocal(ctx context.Context, o *runOptions, model string) (backend, error) {
	path, err := resolveLocal(ctx, o, model)
	if err != nil {
		return nil, err
	}
	m, err := ondo.Load(path, ondo.Options{Threads: o.threads})
	if err != nil {
		return nil, err
	}
	src, _ := m.File().String("tokenizer.chat_template")
	tokens, _ := m.File().Strings("tokenizer.ggml.tokens")
	tmpl, err := chat.ForModel(src, tokens)
	if err != nil {
		// As the server: a template that does not compile leaves a
		// built-in one.
		tmpl = chat.Fallback(tokens)
	}
	return &localBackend{name: model, m: m, tmpl: tmpl}, nil
}

// resolveLocal returns the file of model.
func resolveLocal(ctx context.Context, o *runOptions, model string) (string, error) {
	if looksLikePath(model) {
		if !isFile(model) {
			return "", fmt.Errorf("no GGUF file at %s", model)
		}
		return model, nil
	}
	st, err := store.Open(o.dir)
	if err != nil {
		return "", err
	}
	res := server.Chain{resolver.New(st), server.DirResolver{Dir: st.Dir()}}
	p, err := res.Resolve(model)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, server.ErrModelNotFound) {
		return "", err
	}
	n, perr := store.ParseName(model)
	if perr != nil {
		return "", perr
	}
	if !n.Hub() {
		return "", fmt.Errorf("model %q not found in %s: %s", model, st.Dir(), notFoundHint)
	}
	if err := confirmPull(o, n.String()); err != nil {
		return "", err
	}
	token := os.Getenv("HF_TOKEN")
	if token == "" {
		token = os.Getenv("HUGGING_FACE_HUB_TOKEN")
	}
	d := &pullDisplay{w: o.stderr}
	_, err = st.Pull(ctx, model, store.PullOptions{Endpoint: os.Getenv("HF_ENDPOINT"), Token: token, Progress: d.show})
	d.end(err == nil)
	if err != nil {
		return "", err
	}
	return res.Resolve(model)
}

func (b *localBackend) close() error { return b.m.Close() }

func (b *localBackend) load(ctx context.Context) error { return nil }

// session returns the session, made anew when the context size changes.
func (b *localBackend) session(numCtx *int) (*ondo.Session, error) {
	size := min(b.m.Info().ContextLength, engine.DefaultContextCap)
	if size <= 0 {
		size = engine.DefaultContextCap
	}
	if numCtx != nil {
		size = *numCtx
	}
	if b.sess == nil || size != b.ctxSize {
		s, err := b.m.NewSession(ondo.SessionOptions{Context: size})
		if err != nil {
			return nil, err
		}
		b.sess, b.ctxSize = s, size
	}
	return b.sess, nil
}

// prompt renders and tokenizes the conversation, leaving out its oldest
// turns (never a system message or the last one) while it does not fit in
// size tokens with room for an answer.
func (b *localBackend) prompt(msgs []chat.Message, kwargs map[string]any, size int) ([]int32, string, error) {
	tok := b.m.Tokenizer()
	piece := func(id int32) string {
		if id == tokenizer.NoToken {
			return ""
		}
		return tok.Piece(id)
	}
	bos, eos := piece(tok.BOS()), piece(tok.EOS())
	room := min(size/4, 256)
	for {
		text, err := b.tmpl.Render(chat.Input{Messages: msgs, AddGenerationPrompt: true, BOSToken: bos, EOSToken: eos, Kwargs: kwargs})
		if err != nil {
			return nil, "", fmt.Errorf("rendering the chat template: %w", err)
		}
		opts := tokenizer.EncodeOptions{AddSpecial: true, ParseSpecial: true, EOS: tokenizer.Off}
		if bos != "" && strings.HasPrefix(text, bos) {
			opts.BOS = tokenizer.Off
		}
		ids := tok.Encode(text, opts)
		if len(ids)+room <= size {
			return ids, text, nil
		}
		drop := -1
		for i := 0; i < len(msgs)-1; i++ {
			if msgs[i].Role != "system" {
				drop = i
				break
			}
		}
		if drop < 0 {
			if len(ids) < size {
				return ids, text, nil // it fits, with little room for the answer
			}
			return nil, "", fmt.Errorf("the prompt has %d tokens, more than the context of %d (raise it with /set parameter num_ctx)", len(ids), size)
		}
		msgs = append(append([]chat.Message(nil), msgs[:drop]...), msgs[drop+1:]...)
	}
}

// constraint returns the grammar of an Ollama format, compiled once.
func (b *localBackend) constraint(format json.RawMessage) (*grammar.Grammar, error) {
	if format == nil {
		return nil, nil
	}
	if b.grammar != nil && b.format == string(format) {
		return b.grammar, nil
	}
	var g *grammar.Grammar
	var err error
	if string(format) == `"json"` {
		g, err = grammar.Parse(jsonschema.JSONObject())
	} else {
		g, err = compileSchema("--format", format)
	}
	if err != nil {
		return nil, err
	}
	b.format, b.grammar = string(format), g
	return g, nil
}

func (b *localBackend) chat(ctx context.Context, msgs []chat.Message, p params, ask askOptions, emit func(piece) error) (runStats, error) {
	start := time.Now()
	var st runStats
	cfg, err := p.sampling()
	if err != nil {
		return st, err
	}
	g, err := b.constraint(ask.format)
	if err != nil {
		return st, err
	}
	sess, err := b.session(p.NumCtx)
	if err != nil {
		return st, err
	}
	kwargs, err := thinkKwargs(b.tmpl.Caps(), ask.think)
	if err != nil {
		return st, err
	}
	ids, text, err := b.prompt(msgs, kwargs, sess.Context())
	if err != nil {
		return st, err
	}
	spec := toolcall.Detect(b.tmpl.Source())
	popt := toolcall.Options{Reasoning: spec.Reasons() && ask.think != "false"}
	popt.InReasoning = popt.Reasoning && spec.ThinkOpen != "" && strings.HasSuffix(strings.TrimRight(text, " \t\r\n"), spec.ThinkOpen)
	if g != nil && popt.Reasoning {
		// The format constrains the answer, after the reasoning.
		if g, err = grammar.Parse(spec.Wrap(g.Source(), toolcall.GrammarOptions{Reasoning: true, InReasoning: popt.InReasoning})); err != nil {
			return st, err
		}
	}
	parser := spec.NewParser(popt)
	send := func(evs []toolcall.Event) error {
		for _, e := range evs {
			var err error
			switch e.Kind {
			case toolcall.Content:
				err = emit(piece{text: e.Text})
			case toolcall.Reasoning:
				err = emit(piece{text: e.Text, thinking: true})
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	gen := ondo.GenerateOptions{Sampling: cfg, Stop: p.Stop, Grammar: g, Special: popt.Reasoning}
	if p.NumPredict != nil && *p.NumPredict > 0 {
		gen.MaxTokens = *p.NumPredict
	}
	if !b.reported {
		st.load = b.m.LoadDuration()
		b.reported = true
	}
	var res *ondo.Result
	if p.NumPredict == nil || *p.NumPredict != 0 {
		res, err = sess.Generate(ctx, ids, gen, func(text string) error { return send(parser.Write(text)) })
		if err == nil {
			err = send(parser.Close())
		}
	}
	st.total = time.Since(start) + st.load
	st.contextSize = sess.Context()
	if res != nil {
		st.promptCount = res.PromptTokens - res.ReusedTokens
		st.promptEval = res.PromptDuration
		st.evalCount = len(res.Tokens)
		st.eval = res.GenDuration
		st.finish = res.FinishReason
		st.contextFull = res.FinishReason == ondo.FinishContext
	}
	return st, err
}

func (b *localBackend) info(ctx context.Context) (modelInfo, error) {
	s := summarize(b.m.File())
	quant := s.FileType
	if quant == "" && len(s.Mix) > 0 {
		quant = s.Mix[0].Type.String()
	}
	return modelInfo{arch: s.Arch, params: paramSize(s.Params), quant: quant, context: int(s.Ctx), embedding: int(s.Embd), template: b.tmpl.Source()}, nil
}

// paramSize writes a parameter count as Ollama does ("8.0B", "135M").
func paramSize(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.0fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// ---- on a running server

// remoteBackend runs the model on a server, through Ollama's API.
type remoteBackend struct {
	c     *apiClient
	model string
	keep  *time.Duration
}

// openRemote makes sure the server has the model, pulling it through the
// server when it is a Hugging Face model the server lacks.
func openRemote(ctx context.Context, o *runOptions, c *apiClient, model string, keep *time.Duration) (backend, error) {
	if looksLikePath(model) {
		if !isFile(model) {
			return nil, fmt.Errorf("no GGUF file at %s", model)
		}
		if abs, err := filepath.Abs(model); err == nil {
			model = abs // the server resolves paths from its own folder
		}
	}
	b := &remoteBackend{c: c, model: model, keep: keep}
	_, err := b.show(ctx)
	var se *apiStatusError
	if !errors.As(err, &se) || se.Status != http.StatusNotFound {
		return b, err
	}
	name, ok := hubName(model)
	if !ok {
		if _, perr := store.ParseName(model); perr != nil && !looksLikePath(model) {
			return nil, perr
		}
		return nil, fmt.Errorf("%v (asked the server at %s): %s", err, c.base, notFoundHint)
	}
	if err := confirmPull(o, name); err != nil {
		return nil, err
	}
	d := &pullDisplay{w: o.stderr}
	err = c.stream(ctx, "/api/pull", map[string]any{"model": model}, func(line []byte) error {
		var p store.PullProgress
		if err := json.Unmarshal(line, &p); err != nil {
			return err
		}
		d.show(p)
		return nil
	})
	d.end(err == nil)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (b *remoteBackend) close() error { return nil }

// keepAlive is the request's keep_alive, or nil.
func (b *remoteBackend) keepAlive() any {
	if b.keep == nil {
		return nil
	}
	if *b.keep < 0 {
		return -1
	}
	return b.keep.String()
}

func (b *remoteBackend) load(ctx context.Context) error {
	body := map[string]any{"model": b.model, "stream": false}
	if k := b.keepAlive(); k != nil {
		body["keep_alive"] = k
	}
	var v map[string]any
	return b.c.postJSON(ctx, http.MethodPost, "/api/generate", body, &v)
}

type showResponse struct {
	Template string `json:"template"`
	Details  struct {
		Family            string `json:"family"`
		ParameterSize     string `json:"parameter_size"`
		QuantizationLevel string `json:"quantization_level"`
	} `json:"details"`
	ModelInfo map[string]any `json:"model_info"`
}

func (b *remoteBackend) show(ctx context.Context) (*showResponse, error) {
	var r showResponse
	if err := b.c.postJSON(ctx, http.MethodPost, "/api/show", map[string]any{"model": b.model}, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (b *remoteBackend) info(ctx context.Context) (modelInfo, error) {
	r, err := b.show(ctx)
	if err != nil {
		return modelInfo{}, err
	}
	arch, _ := r.ModelInfo["general.architecture"].(string)
	if arch == "" {
		arch = r.Details.Family
	}
	num := func(key string) int {
		f, _ := r.ModelInfo[arch+"."+key].(float64)
		return int(f)
	}
	return modelInfo{arch: arch, params: r.Details.ParameterSize, quant: r.Details.QuantizationLevel,
		context: num("context_length"), embedding: num("embedding_length"), template: r.Template}, nil
}

func (b *remoteBackend) chat(ctx context.Context, msgs []chat.Message, p params, ask askOptions, emit func(piece) error) (runStats, error) {
	var st runStats
	type message struct {
		Role      string `json:"role"`
		Content   string `json:"content"`
		Thinking  string `json:"thinking,omitempty"`
		ToolCalls []struct {
			Function struct {
				Name      string          `json:"name"`
				Arguments json.RawMessage `json:"arguments"`
			} `json:"function"`
		} `json:"tool_calls,omitempty"`
	}
	body := map[string]any{"model": b.model, "stream": true, "options": p}
	ms := make([]message, len(msgs))
	for i, m := range msgs {
		ms[i] = message{Role: m.Role, Content: m.Content}
	}
	body["messages"] = ms
	if ask.format != nil {
		body["format"] = ask.format
	}
	switch ask.think {
	case "":
	case "true", "false":
		body["think"] = ask.think == "true"
	default:
		body["think"] = ask.think
	}
	if k := b.keepAlive(); k != nil {
		body["keep_alive"] = k
	}
	err := b.c.stream(ctx, "/api/chat", body, func(line []byte) error {
		var r struct {
			Message            message       `json:"message"`
			Done               bool          `json:"done"`
			DoneReason         string        `json:"done_reason"`
			TotalDuration      time.Duration `json:"total_duration"`
			LoadDuration       time.Duration `json:"load_duration"`
			PromptEvalCount    int           `json:"prompt_eval_count"`
			PromptEvalDuration time.Duration `json:"prompt_eval_duration"`
			EvalCount          int           `json:"eval_count"`
			EvalDuration       time.Duration `json:"eval_duration"`
		}
		if err := json.Unmarshal(line, &r); err != nil {
			return fmt.Errorf("/api/chat: %w", err)
		}
		if r.Message.Thinking != "" {
			if err := emit(piece{text: r.Message.Thinking, thinking: true}); err != nil {
				return err
			}
		}
		if r.Message.Content != "" {
			if err := emit(piece{text: r.Message.Content}); err != nil {
				return err
			}
		}
		for _, c := range r.Message.ToolCalls {
			if err := emit(piece{call: &toolcall.Call{Name: c.Function.Name, Arguments: string(c.Function.Arguments)}}); err != nil {
				return err
			}
		}
		if r.Done {
			st = runStats{total: r.TotalDuration, load: r.LoadDuration, promptCount: r.PromptEvalCount, promptEval: r.PromptEvalDuration,
				evalCount: r.EvalCount, eval: r.EvalDuration, finish: r.DoneReason, contextFull: r.DoneReason == "context"}
		}
		return nil
	})
	return st, err
}

// ---- the chat

// lineReader reads standard input line by line. The terminal stays in its
// ordinary (cooked) mode: it edits the line, wide characters included, and
// turns Ctrl-C into SIGINT and Ctrl-D into the end of input.
type lineReader struct {
	r *bufio.Reader
}

func newLineReader(r io.Reader) *lineReader { return &lineReader{r: bufio.NewReader(r)} }

// readLine returns the next line without its line ending; at the end of
// input it returns what is left (maybe "") with io.EOF.
func (l *lineReader) readLine() (string, error) {
	s, err := l.r.ReadString('\n')
	s = strings.TrimRight(s, "\r\n")
	return s, err
}

// line is a line read, or the end of input.
type line struct {
	text string
	err  error
}

// chat is the state of a chat.
type chatState struct {
	o       *runOptions
	b       backend
	msgs    []chat.Message
	system  string
	p       params
	out     io.Writer
	lines   chan line
	signals chan os.Signal
}

// chatLoop reads messages and commands from the terminal until /bye,
// Ctrl-D or a second Ctrl-C in a row at the prompt.
func chatLoop(ctx context.Context, o *runOptions, b backend) error {
	c := &chatState{o: o, b: b, p: o.params, out: o.stdout, lines: make(chan line), signals: make(chan os.Signal, 1)}
	signal.Notify(c.signals, os.Interrupt)
	defer signal.Stop(c.signals)
	// Lines are read ahead, so a Ctrl-C can be seen while a read blocks;
	// what is typed during an answer is read after it.
	go func() {
		for {
			s, err := o.lines.readLine()
			if err != nil && s != "" {
				c.lines <- line{text: s}
				s = ""
			}
			c.lines <- line{s, err}
			if err != nil {
				return
			}
		}
	}()

	var multi strings.Builder
	inMulti := false
	interrupts := 0
	for {
		if inMulti {
			fmt.Fprint(c.out, "... ")
		} else {
			fmt.Fprint(c.out, ">>> ")
		}
		var l line
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.signals:
			// The terminal dropped the line being typed.
			if inMulti {
				inMulti = false
				multi.Reset()
				fmt.Fprintln(c.out)
				continue
			}
			interrupts++
			if interrupts > 1 {
				fmt.Fprintln(c.out)
				return nil
			}
			fmt.Fprintln(c.out, "\nUse Ctrl + d or /bye to exit (or press Ctrl + c again).")
			continue
		case l = <-c.lines:
		}
		if l.err != nil {
			fmt.Fprintln(c.out)
			if errors.Is(l.err, io.EOF) {
				return nil
			}
			return l.err
		}
		interrupts = 0
		text := l.text
		switch {
		case inMulti:
			before, end := strings.CutSuffix(text, `"""`)
			multi.WriteString(before)
			if !end {
				multi.WriteString("\n")
				continue
			}
			inMulti = false
			text = multi.String()
			multi.Reset()
		case strings.HasPrefix(text, `"""`):
			rest := strings.TrimPrefix(text, `"""`)
			if before, end := strings.CutSuffix(rest, `"""`); end {
				text = before
				break
			}
			if rest != "" {
				multi.WriteString(rest + "\n")
			}
			inMulti = true
			continue
		case strings.HasPrefix(text, "/"):
			if done := c.command(ctx, text); done {
				return nil
			}
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		c.send(ctx, text)
	}
}

// send asks the model and streams its answer; Ctrl-C stops the answer.
func (c *chatState) send(ctx context.Context, text string) {
	c.msgs = append(c.msgs, chat.Message{Role: "user", Content: text})
	genCtx, cancel := context.WithCancel(ctx)
	stopped := make(chan bool, 1)
	done := make(chan struct{})
	go func() {
		select {
		case <-c.signals:
			cancel()
			stopped <- true
		case <-done:
			stopped <- false
		}
	}()
	msgs := c.msgs
	if c.system != "" {
		msgs = append([]chat.Message{{Role: "system", Content: c.system}}, msgs...)
	}
	ans, st, err := answer(genCtx, c.o, c.b, msgs, c.p)
	close(done)
	interrupted := <-stopped
	cancel()
	switch {
	case interrupted:
		fmt.Fprintln(c.out)
	case err != nil:
		if ans != "" {
			fmt.Fprintln(c.out)
		}
		fmt.Fprintf(c.out, "error: %v\n\n", err)
	default:
		if !strings.HasSuffix(ans, "\n") {
			fmt.Fprintln(c.out)
		}
		fmt.Fprintln(c.out)
		if st.contextFull {
			fmt.Fprintln(c.o.stderr, "(the answer stopped: the context is full; /clear, or /set parameter num_ctx)")
		}
		if c.o.verbose {
			st.print(c.o.stderr)
			fmt.Fprintln(c.o.stderr)
		}
		if c.o.formatArg != nil {
			if err := checkJSON(ans, st.finish); err != nil {
				fmt.Fprintf(c.out, "error: %v\n\n", err)
			}
		}
	}
	if ans == "" {
		// Nothing was answered: forget the question too, so that the
		// roles keep alternating.
		c.msgs = c.msgs[:len(c.msgs)-1]
		return
	}
	// An answer cut short stays as far as it went: that is what was shown.
	c.msgs = append(c.msgs, chat.Message{Role: "assistant", Content: ans})
}

// command runs a /command and reports whether the chat is over.
func (c *chatState) command(ctx context.Context, text string) bool {
	args := strings.Fields(text)
	w := c.out
	switch args[0] {
	case "/bye", "/exit":
		return true
	case "/clear":
		c.msgs = nil
		fmt.Fprintln(w, "Cleared session context")
	case "/set":
		if len(args) < 2 {
			usageSet(w)
			break
		}
		switch args[1] {
		case "parameter":
			if len(args) < 4 {
				usageParameters(w)
				break
			}
			if err := c.p.set(args[2], args[3:]); err != nil {
				fmt.Fprintf(w, "Couldn't set parameter: %v\n", err)
				break
			}
			fmt.Fprintf(w, "Set parameter '%s' to '%s'\n", args[2], strings.Join(args[3:], ", "))
		case "system":
			_, rest, _ := strings.Cut(text, "system")
			rest = strings.TrimSpace(rest)
			if rest == "" {
				usageSet(w)
				break
			}
			c.system = strings.TrimSuffix(strings.TrimPrefix(rest, `"""`), `"""`)
			fmt.Fprintln(w, "Set system message.")
		case "verbose":
			c.o.verbose = true
			fmt.Fprintln(w, "Set 'verbose' mode.")
		case "quiet":
			c.o.verbose = false
			fmt.Fprintln(w, "Set 'quiet' mode.")
		case "format":
			if len(args) < 3 || args[2] != "json" {
				fmt.Fprintln(w, "Invalid or missing format. For 'json' mode use '/set format json'")
				break
			}
			c.o.format, c.o.formatArg = "json", json.RawMessage(`"json"`)
			fmt.Fprintln(w, "Set format to 'json' mode.")
		case "noformat":
			c.o.format, c.o.formatArg = "", nil
			fmt.Fprintln(w, "Disabled format.")
		default:
			fmt.Fprintf(w, "Unknown command '/set %s'. Type /? for help\n", args[1])
		}
	case "/show":
		if len(args) < 2 {
			usageShow(w)
			break
		}
		switch args[1] {
		case "info", "template":
			info, err := c.b.info(ctx)
			if err != nil {
				fmt.Fprintf(w, "error: %v\n", err)
				break
			}
			if args[1] == "template" {
				fmt.Fprintln(w, info.template)
				break
			}
			printInfo(w, info)
		case "parameters":
			ps := c.p.list()
			if len(ps) == 0 {
				fmt.Fprintln(w, "No parameters were set; the defaults apply (temperature 0.8, top_k 40, top_p 0.95, min_p 0.05).")
				break
			}
			fmt.Fprintln(w, "User defined parameters:")
			for _, kv := range ps {
				fmt.Fprintf(w, "  %-30s %s\n", kv[0], kv[1])
			}
		case "system":
			if c.system == "" {
				fmt.Fprintln(w, "No system message was specified for this model.")
			} else {
				fmt.Fprintln(w, c.system)
			}
		default:
			fmt.Fprintf(w, "Unknown command '/show %s'. Type /? for help\n", args[1])
		}
	case "/help", "/?":
		switch {
		case len(args) > 1 && strings.TrimPrefix(args[1], "/") == "set":
			usageSet(w)
		case len(args) > 1 && strings.TrimPrefix(args[1], "/") == "show":
			usageShow(w)
		case len(args) > 1 && strings.HasPrefix(args[1], "shortcut"):
			usageShortcuts(w)
		default:
			usage(w)
		}
	default:
		fmt.Fprintf(w, "Unknown command '%s'. Type /? for help\n", args[0])
	}
	return false
}

// printInfo writes /show info as ollama does.
func printInfo(w io.Writer, m modelInfo) {
	fmt.Fprintln(w, "  Model")
	tw := tabwriter.NewWriter(w, 0, 0, 4, ' ', 0)
	row := func(k, v string) {
		if v != "" && v != "0" {
			fmt.Fprintf(tw, "    %s\t%s\n", k, v)
		}
	}
	row("architecture", m.arch)
	row("parameters", m.params)
	row("context length", strconv.Itoa(m.context))
	row("embedding length", strconv.Itoa(m.embedding))
	row("quantization", m.quant)
	tw.Flush()
	fmt.Fprintln(w)
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Available Commands:
  /set            Set session variables
  /show           Show model information
  /clear          Clear session context
  /bye            Exit
  /?, /help       Help for a command
  /? shortcuts    Help for keyboard shortcuts

Use """ to begin a multi-line message.

`)
}

func usageSet(w io.Writer) {
	fmt.Fprint(w, `Available Commands:
  /set parameter ...     Set a parameter
  /set system <string>   Set system message
  /set format json       Constrain answers to a JSON object
  /set noformat          Disable formatting
  /set verbose           Show LLM stats
  /set quiet             Disable LLM stats

`)
}

func usageShow(w io.Writer) {
	fmt.Fprint(w, `Available Commands:
  /show info         Show details for this model
  /show parameters   Show parameters for this model
  /show system       Show system message
  /show template     Show prompt template

`)
}

func usageParameters(w io.Writer) {
	fmt.Fprint(w, `Available Parameters:
  /set parameter seed <int>             Random number seed
  /set parameter num_predict <int>      Max number of tokens to predict
  /set parameter top_k <int>            Pick from top k num of tokens
  /set parameter top_p <float>          Pick token based on sum of probabilities
  /set parameter min_p <float>          Pick token based on top token probability * min_p
  /set parameter num_ctx <int>          Set the context size
  /set parameter temperature <float>    Set creativity level
  /set parameter repeat_penalty <float> How strongly to penalize repetitions
  /set parameter repeat_last_n <int>    Set how far back to look for repetitions
  /set parameter stop <string> <string> ...   Set the stop parameters

`)
}

func usageShortcuts(w io.Writer) {
	fmt.Fprint(w, `Available keyboard shortcuts:
  Ctrl + c            Stop the model from responding
  Ctrl + d            Exit ondo (/bye)
  Ctrl + u            Delete the line typed so far
  Ctrl + w            Delete the word before the cursor

`)
}
