package llama_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/llama" // registers "llama"
)

// Greedy decoding: the prompt is evaluated as one batch, then one token per
// step.
func Example() {
	f, err := gguf.Open("stories260K.gguf")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	m, err := model.Load(f, model.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	cache, err := m.NewCache(256, true)
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	logits := make([]float32, m.Info().VocabSize)
	prompt := []int32{1, 403, 407} // BOS and two tokens
	if err := m.Forward(ctx, model.SeqBatch(cache, prompt, 0, false), logits); err != nil {
		log.Fatal(err)
	}
	for pos := len(prompt); pos < 20; pos++ {
		next := int32(kernels.Argmax(logits))
		fmt.Print(next, " ")
		if err := m.Forward(ctx, model.SeqBatch(cache, []int32{next}, pos, false), logits); err != nil {
			log.Fatal(err)
		}
	}
}
