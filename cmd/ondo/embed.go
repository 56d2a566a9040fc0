package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo"
	"github.com/ondo-ai/ondo/model"
)

func init() {
	var (
		modelPath, pooling string
		texts              []string
		threads            int
		raw, unknownPre    bool
	)
	cmd := &cobra.Command{
		Use:   "embed --model FILE --text TEXT [--text TEXT …]",
		Short: "Print the embedding of a text as a JSON array",
		Long: `Embed prints the embedding of each text as a JSON array of numbers, one
line per text. The text is --text (which may be given several times) or,
without it, all of standard input.

The embedding is the model's final hidden states pooled as the file says
(pooling_type: mean, cls or last; the last token when it declares none, as
decoders usually do) and scaled to unit length, so the dot product of two
embeddings is their cosine similarity. Encoders (bert, nomic-bert) and
decoders both work; --pooling overrides the file and --raw skips the scaling
(what llama.cpp's embedding context returns).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" {
				return errors.New("--model is required")
			}
			if threads < 0 {
				return fmt.Errorf("--threads %d is negative", threads)
			}
			if pooling != "" {
				if _, err := model.ParsePooling(pooling); err != nil {
					return fmt.Errorf("--pooling: %w", err)
				}
			}
			if !cmd.Flags().Changed("text") {
				t, ok, err := stdinText()
				if err != nil {
					return err
				}
				if !ok {
					return errors.New("give --text or the text on standard input")
				}
				texts = []string{t}
			}
			m, err := ondo.Load(modelPath, ondo.Options{Threads: threads, AllowUnknownPre: unknownPre})
			if err != nil {
				return err
			}
			defer m.Close()
			if _, ok := m.Pooling(); !ok {
				return fmt.Errorf("%s: architecture %q does not compute embeddings", modelPath, m.Info().Arch)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			w := bufio.NewWriter(cmd.OutOrStdout())
			for _, text := range texts {
				embs, err := m.EmbedWith(ctx, []string{text}, ondo.EmbedOptions{Pooling: pooling, Unnormalized: raw})
				if err != nil {
					return err
				}
				b, err := json.Marshal(embs[0])
				if err != nil {
					return err
				}
				w.Write(append(b, '\n'))
			}
			return w.Flush()
		},
	}
	f := cmd.Flags()
	f.StringVar(&modelPath, "model", "", "GGUF model file")
	f.StringArrayVar(&texts, "text", nil, "text to embed (repeatable)")
	f.StringVar(&pooling, "pooling", "", "pooling instead of the file's: mean, cls, last or none")
	f.BoolVar(&raw, "raw", false, "print the pooled hidden state without scaling it to unit length")
	f.IntVar(&threads, "threads", 0, "threads (0: all CPUs)")
	f.BoolVar(&unknownPre, "allow-unknown-pre", false, "use GPT-2's pre-tokenizer for an unknown tokenizer.ggml.pre")
	register(cmd)
}
