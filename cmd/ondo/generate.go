package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo"
	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/grammar/jsonschema"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/tokenizer"
)

func init() {
	var (
		modelPath, prompt, logitsOut string
		grammarFile, schemaFile      string
		n, threads, ctxSize          int
		noBOS, special, verbose      bool
		allowUnknownPre, f32Cache    bool
		cfg                          sample.Config
	)
	cmd := &cobra.Command{
		Use:   "generate --model FILE [--prompt TEXT] [flags]",
		Short: "Generate text from a prompt and print only the generated text",
		Long: `Generate text from a prompt (from --prompt, or read whole from standard
input when it is not a terminal) and print only the generated text to standard
output as it is produced. Sampling is greedy unless --temperature is above 0.

--grammar FILE constrains the generated text to a GBNF grammar (llama.cpp's
syntax, start rule root); --json-schema FILE to the JSON texts that validate
against a JSON schema. Generation then ends when the text is whole (or at -n,
which may cut it short).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if modelPath == "" {
				return fmt.Errorf("--model is required")
			}
			if n < 0 {
				return fmt.Errorf("-n %d is negative (0 generates until the end of text)", n)
			}
			if threads < 0 {
				return fmt.Errorf("--threads %d is negative", threads)
			}
			if ctxSize < 0 {
				return fmt.Errorf("--ctx %d is negative", ctxSize)
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			g, err := loadConstraint(grammarFile, schemaFile)
			if err != nil {
				return err
			}
			if !cmd.Flags().Changed("prompt") {
				if p, ok, err := stdinText(); err != nil {
					return err
				} else if ok {
					prompt = p
				}
			}
			m, err := ondo.Load(modelPath, ondo.Options{Threads: threads, AllowUnknownPre: allowUnknownPre})
			if err != nil {
				return err
			}
			defer m.Close()
			opts := tokenizer.EncodeOptions{AddSpecial: true, ParseSpecial: special}
			if noBOS {
				opts.BOS = tokenizer.Off
			}
			// EOS at the end of a prompt would end the text before it
			// starts; generation prompts never get one.
			opts.EOS = tokenizer.Off
			ids := m.Tokenizer().Encode(prompt, opts)
			if len(ids) == 0 {
				return fmt.Errorf("the prompt is empty and the model adds no BOS token: give --prompt")
			}
			s, err := m.NewSession(ondo.SessionOptions{Context: ctxSize, F32Cache: f32Cache})
			if err != nil {
				return err
			}
			if len(ids) > s.Context() {
				return fmt.Errorf("the prompt has %d tokens, more than the context of %d (raise --ctx)", len(ids), s.Context())
			}
			gen := ondo.GenerateOptions{MaxTokens: n, Sampling: cfg, Special: special, Grammar: g}
			if logitsOut != "" {
				f, err := os.Create(logitsOut)
				if err != nil {
					return err
				}
				defer f.Close()
				w := bufio.NewWriterSize(f, 1<<20)
				defer w.Flush()
				gen.Logits = func(row []float32) error { return writeFloats(w, row) }
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			out := bufio.NewWriter(cmd.OutOrStdout())
			res, err := s.Generate(ctx, ids, gen, func(text string) error {
				if _, err := out.WriteString(text); err != nil {
					return err
				}
				return out.Flush()
			})
			out.Flush()
			var se *grammar.SyntaxError
			if errors.As(err, &se) && grammarFile != "" {
				// A token the grammar names that the vocabulary lacks:
				// said as parse errors are.
				return fmt.Errorf("%s:%d:%d: %s", grammarFile, se.Line, se.Col, se.Msg)
			}
			if err != nil && ctx.Err() == nil {
				return err
			}
			if verbose {
				printTimings(cmd.ErrOrStderr(), m, res)
			}
			if res != nil && res.FinishReason == ondo.FinishContext {
				fmt.Fprintf(cmd.ErrOrStderr(), "\nondo: stopped: the context of %d tokens is full (raise --ctx)\n", s.Context())
			}
			return ctx.Err()
		},
	}
	f := cmd.Flags()
	f.StringVarP(&modelPath, "model", "m", "", "GGUF model file")
	f.StringVarP(&prompt, "prompt", "p", "", "prompt text (default: standard input when it is not a terminal)")
	f.IntVarP(&n, "n", "n", 128, "new tokens to generate (0: until the end of text or a full context)")
	f.Float32Var(&cfg.Temperature, "temperature", 0, "sampling temperature (0: greedy)")
	f.IntVar(&cfg.TopK, "top-k", 40, "keep the K most likely tokens (0: off)")
	f.Float32Var(&cfg.TopP, "top-p", 0.95, "nucleus sampling threshold (1: off)")
	f.Float32Var(&cfg.MinP, "min-p", 0.05, "drop tokens less likely than this fraction of the best (0: off)")
	f.Float32Var(&cfg.RepeatPenalty, "repeat-penalty", 1, "penalty for repeated tokens (1: off)")
	f.IntVar(&cfg.RepeatLastN, "repeat-last-n", 64, "tokens the repeat penalty looks back over (-1: all)")
	f.Int64Var(&cfg.Seed, "seed", -1, "random seed (-1: random)")
	f.IntVar(&threads, "threads", 0, "threads (default: all CPUs)")
	f.IntVar(&ctxSize, "ctx", 0, "context size in tokens (default: the model's)")
	f.BoolVar(&noBOS, "no-bos", false, "do not add the BOS token")
	f.BoolVar(&special, "special", false, "parse control tokens in the prompt and print them in the output")
	f.BoolVar(&f32Cache, "f32-cache", false, "store the KV cache as float32 instead of fp16")
	f.StringVar(&grammarFile, "grammar", "", "constrain the output to the GBNF grammar in FILE")
	f.StringVar(&schemaFile, "json-schema", "", "constrain the output to JSON that validates against the JSON schema in FILE")
	f.StringVar(&logitsOut, "logits-out", "", "write every evaluated position's logits (little-endian float32 rows) to FILE")
	f.BoolVar(&verbose, "verbose", false, "print load time and prompt and generation speed to standard error")
	f.BoolVar(&allowUnknownPre, "allow-unknown-pre", false, "use GPT-2 pre-tokenizer rules for an unknown tokenizer.ggml.pre")
	register(cmd)
}

// loadConstraint compiles the grammar of --grammar or --json-schema (at
// most one of them), or returns nil. Errors name the file, and for GBNF
// the line and column, as FILE:LINE:COLUMN.
func loadConstraint(grammarFile, schemaFile string) (*grammar.Grammar, error) {
	switch {
	case grammarFile != "" && schemaFile != "":
		return nil, errors.New("--grammar and --json-schema both constrain the output: give only one")
	case grammarFile != "":
		src, err := os.ReadFile(grammarFile)
		if err != nil {
			return nil, fmt.Errorf("--grammar: %w", err)
		}
		return parseGrammar(grammarFile, string(src))
	case schemaFile != "":
		schema, err := os.ReadFile(schemaFile)
		if err != nil {
			return nil, fmt.Errorf("--json-schema: %w", err)
		}
		return compileSchema(schemaFile, schema)
	}
	return nil, nil
}

// parseGrammar compiles GBNF read from file.
func parseGrammar(file, src string) (*grammar.Grammar, error) {
	g, err := grammar.Parse(src)
	var se *grammar.SyntaxError
	if errors.As(err, &se) {
		return nil, fmt.Errorf("%s:%d:%d: %s", file, se.Line, se.Col, se.Msg)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "grammar: "))
	}
	return g, nil
}

// compileSchema compiles the JSON schema read from file into a grammar.
func compileSchema(file string, schema []byte) (*grammar.Grammar, error) {
	src, err := jsonschema.Compile(schema, jsonschema.Options{})
	var je *jsonschema.Error
	if errors.As(err, &je) {
		where := ""
		if je.Pointer != "" {
			where = " at " + je.Pointer
		}
		return nil, fmt.Errorf("%s: JSON schema%s: %s", file, where, je.Msg)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", file, err)
	}
	g, err := grammar.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: the grammar made from the schema does not compile (a bug in ondo): %v", file, err)
	}
	return g, nil
}

// stdinText reads standard input verbatim when it is not a terminal.
func stdinText() (string, bool, error) {
	st, err := os.Stdin.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice != 0 {
		return "", false, nil
	}
	b, err := io.ReadAll(os.Stdin)
	if err != nil {
		return "", false, fmt.Errorf("reading the prompt from standard input: %w", err)
	}
	return string(b), true, nil
}

func writeFloats(w io.Writer, row []float32) error {
	var buf [4]byte
	for _, v := range row {
		binary.LittleEndian.PutUint32(buf[:], math.Float32bits(v))
		if _, err := w.Write(buf[:]); err != nil {
			return err
		}
	}
	return nil
}

func printTimings(w io.Writer, m *ondo.Model, res *ondo.Result) {
	if res == nil {
		return
	}
	rate := func(n int, d time.Duration) float64 {
		if d <= 0 {
			return 0
		}
		return float64(n) / d.Seconds()
	}
	evaluated := res.PromptTokens - res.ReusedTokens
	fmt.Fprintf(w, "\nload time:       %8.2f ms\n", float64(m.LoadDuration().Microseconds())/1000)
	fmt.Fprintf(w, "prompt eval:     %8.2f ms / %4d tokens (%8.2f tokens/s)\n", float64(res.PromptDuration.Microseconds())/1000, evaluated, rate(evaluated, res.PromptDuration))
	fmt.Fprintf(w, "generation:      %8.2f ms / %4d tokens (%8.2f tokens/s)\n", float64(res.GenDuration.Microseconds())/1000, len(res.Tokens), rate(len(res.Tokens), res.GenDuration))
	fmt.Fprintf(w, "finish reason:   %s\n", res.FinishReason)
}
