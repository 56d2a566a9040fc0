package llama_test

import (
	"context"
	"testing"

	"github.com/ondo-ai/ondo/model"
)

// BenchmarkForward measures prompt processing (a 64-token batch) and
// decoding (one token at position 64) on the shared test models; tokens/s
// is reported per operation.
func BenchmarkForward(b *testing.B) {
	for _, file := range [][]string{
		{"gguf", "stories260K.gguf"},
		{"llamacpp-quant", "synth-llama-Q4_K_M.gguf"},
		{"llamacpp-quant", "synth-llama-F16.gguf"},
	} {
		_, m := load(b, file...)
		vocab := m.Info().VocabSize
		prompt := make([]int32, 64)
		for i := range prompt {
			prompt[i] = int32(1 + i*7%(vocab-1))
		}
		logits := make([]float32, vocab)
		c, err := m.NewCache(128, true)
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		b.Run(file[1]+"/prompt64", func(b *testing.B) {
			for b.Loop() {
				if err := m.Forward(ctx, model.SeqBatch(c, prompt, 0, false), logits); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(prompt)*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
		b.Run(file[1]+"/decode", func(b *testing.B) {
			if err := m.Forward(ctx, model.SeqBatch(c, prompt, 0, false), logits); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if err := m.Forward(ctx, model.SeqBatch(c, prompt[:1], len(prompt), false), logits); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
