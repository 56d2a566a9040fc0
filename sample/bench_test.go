package sample

import (
	"fmt"
	"testing"
)

// BenchmarkSample measures one Sample call on a realistic vocabulary (Llama 2's 32000 and
// Qwen's ~152000 tokens) with llama.cpp-like settings, greedy decoding, and top-p without
// top-k (the lazy-sort path).
func BenchmarkSample(b *testing.B) {
	configs := []struct {
		name string
		cfg  Config
	}{
		{"topk40-topp0.95", Config{Temperature: 0.8, TopK: 40, TopP: 0.95, Seed: 1}},
		{"greedy", Config{}},
		{"default", Config{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05,
			RepeatPenalty: 1.1, RepeatLastN: 64, Seed: 1}},
		{"topp0.95-only", Config{Temperature: 0.8, TopP: 0.95, Seed: 1}},
	}
	for _, vocab := range []int{32000, 152000} {
		logits := randLogits(11, vocab, 3)
		for _, c := range configs {
			b.Run(fmt.Sprintf("vocab=%d/%s", vocab, c.name), func(b *testing.B) {
				s := New(c.cfg)
				for i := range 64 {
					s.Accept(int32(i * 31))
				}
				s.Sample(logits) // grow the reused buffers outside the measurement
				b.ReportAllocs()
				for b.Loop() {
					s.Sample(logits)
				}
			})
		}
	}
}
