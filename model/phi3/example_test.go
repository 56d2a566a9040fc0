package phi3_test

import (
	"context"
	"fmt"
	"log"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/phi3" // registers "phi3"
)

// A 128k Phi-3 rotates with its short LongRoPE factors in a cache of up to
// rope.scaling.original_context_length (4096) positions, as llama.cpp does
// with a context of that size, and with the long factors in a larger one.
func Example_longRoPE() {
	f, err := gguf.Open("Phi-3-mini-128k-instruct-Q4_K_M.gguf")
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	m, err := model.Load(f, model.Config{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	for _, size := range []int{4096, 16384} {
		cache, err := m.NewCache(size, true)
		if err != nil {
			log.Fatal(err)
		}
		logits := make([]float32, m.Info().VocabSize)
		prompt := []int32{1, 32010, 15043} // <s>, <|user|>, "Hello"
		if err := m.Forward(context.Background(), model.SeqBatch(cache, prompt, 0, false), logits); err != nil {
			log.Fatal(err)
		}
		fmt.Println(size, kernels.Argmax(logits))
	}
}
