package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/tokenizer"
)

func init() {
	register(newTokenizeCmd(), newDetokenizeCmd())
}

// openTokenizer builds the tokenizer of a GGUF model file.
func openTokenizer(path string, allowUnknownPre bool) (*tokenizer.Tokenizer, error) {
	if path == "" {
		return nil, errors.New("--model is required")
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tk, err := tokenizer.FromGGUF(f, tokenizer.Options{AllowUnknownPre: allowUnknownPre})
	if errors.Is(err, tokenizer.ErrUnknownPre) {
		return nil, fmt.Errorf("%w; --allow-unknown-pre uses GPT-2's rules instead", err)
	}
	return tk, err
}

func newTokenizeCmd() *cobra.Command {
	var (
		model                    string
		text                     string
		noBOS, special           bool
		asJSON, asJSONL, unknown bool
	)
	cmd := &cobra.Command{
		Use:   "tokenize --model FILE [--text TEXT]",
		Short: "Print the token ids of a text",
		Long: `Tokenize prints the token ids of a text, separated by single spaces, as the
model's own tokenizer gives them. The text is --text or, without it, all of
standard input, read verbatim (no newline is added or removed).

With --jsonl every line of standard input is one JSON string, and every
output line is the JSON array of its ids.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if asJSON && asJSONL {
				return errors.New("--json and --jsonl cannot be used together")
			}
			if asJSONL && cmd.Flags().Changed("text") {
				return errors.New("--jsonl reads its texts from standard input; --text cannot be used with it")
			}
			tk, err := openTokenizer(model, unknown)
			if err != nil {
				return err
			}
			opts := tokenizer.EncodeOptions{AddSpecial: !noBOS, ParseSpecial: special}
			w := bufio.NewWriter(cmd.OutOrStdout())
			if asJSONL {
				if err := tokenizeLines(tk, opts, cmd.InOrStdin(), w); err != nil {
					return err
				}
				return w.Flush()
			}
			if !cmd.Flags().Changed("text") {
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return fmt.Errorf("read standard input: %w", err)
				}
				text = string(b)
			}
			ids := tk.Encode(text, opts)
			if asJSON {
				pieces := make([]string, len(ids))
				for i, id := range ids {
					pieces[i] = tk.Piece(id)
				}
				enc := json.NewEncoder(w)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(struct {
					IDs    []int32  `json:"ids"`
					Pieces []string `json:"pieces"`
				}{append([]int32{}, ids...), pieces}); err != nil {
					return err
				}
			} else {
				w.Write(appendIDs(nil, ids))
				w.WriteByte('\n')
			}
			return w.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&model, "model", "m", "", "GGUF model (or vocab-only) file")
	fl.StringVar(&text, "text", "", "text to tokenize (default: standard input)")
	fl.BoolVar(&noBOS, "no-bos", false, "add no BOS/EOS tokens, even where the model's metadata asks for them")
	fl.BoolVar(&special, "special", false, `turn control tokens written in the text (such as "<|eot_id|>") into those tokens`)
	fl.BoolVar(&asJSON, "json", false, `print {"ids":[…],"pieces":[…]} (pieces are the vocabulary strings)`)
	fl.BoolVar(&asJSONL, "jsonl", false, "tokenize many texts: each input line a JSON string, each output line a JSON array of ids")
	fl.BoolVar(&unknown, "allow-unknown-pre", false, "use GPT-2's pre-tokenizer for an unknown tokenizer.ggml.pre (ids may be wrong)")
	return cmd
}

// tokenizeLines handles --jsonl.
func tokenizeLines(tk *tokenizer.Tokenizer, opts tokenizer.EncodeOptions, in io.Reader, w *bufio.Writer) error {
	r := bufio.NewReaderSize(in, 1<<16)
	var ids []int32
	var out []byte
	for n := 1; ; n++ {
		line, err := r.ReadString('\n')
		if line == "" && err == io.EOF {
			return nil
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read standard input: %w", err)
		}
		var text string
		if jerr := json.Unmarshal([]byte(line), &text); jerr != nil {
			return fmt.Errorf("line %d: want a JSON string: %v", n, jerr)
		}
		ids = tk.AppendEncode(ids[:0], text, opts)
		out = append(out[:0], '[')
		for i, id := range ids {
			if i > 0 {
				out = append(out, ',')
			}
			out = strconv.AppendInt(out, int64(id), 10)
		}
		out = append(out, ']', '\n')
		if _, werr := w.Write(out); werr != nil {
			return werr
		}
		if err == io.EOF {
			return nil
		}
	}
}

func appendIDs(b []byte, ids []int32) []byte {
	for i, id := range ids {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return b
}

func newDetokenizeCmd() *cobra.Command {
	var (
		model            string
		special, unknown bool
	)
	cmd := &cobra.Command{
		Use:   "detokenize --model FILE [ID...]",
		Short: "Print the text of token ids",
		Long: `Detokenize prints the text of token ids given as arguments or, without
arguments, read from standard input (separated by spaces or newlines). The
text is printed as is, with no newline added.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			tk, err := openTokenizer(model, unknown)
			if err != nil {
				return err
			}
			var fields []string
			if len(args) > 0 {
				for _, a := range args {
					fields = append(fields, strings.Fields(a)...)
				}
			} else {
				b, err := io.ReadAll(cmd.InOrStdin())
				if err != nil {
					return fmt.Errorf("read standard input: %w", err)
				}
				fields = strings.Fields(string(b))
			}
			ids := make([]int32, len(fields))
			for i, f := range fields {
				v, err := strconv.ParseInt(f, 10, 32)
				if err != nil {
					return fmt.Errorf("%q is not a token id", f)
				}
				ids[i] = int32(v)
			}
			text, err := tk.Decode(ids, tokenizer.DecodeOptions{Special: special})
			if err != nil {
				return err
			}
			_, err = io.WriteString(cmd.OutOrStdout(), text)
			return err
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&model, "model", "m", "", "GGUF model (or vocab-only) file")
	fl.BoolVar(&special, "special", false, "render control tokens (BOS, <|eot_id|>, …) as their text")
	fl.BoolVar(&unknown, "allow-unknown-pre", false, "use GPT-2's pre-tokenizer for an unknown tokenizer.ggml.pre")
	return cmd
}
