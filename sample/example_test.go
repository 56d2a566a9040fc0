package sample_test

import (
	"fmt"
	"strings"

	"github.com/ondo-ai/ondo/sample"
)

// The decode loop: sample a token from the model's logits, accept it so the penalties see it,
// and pass its text through a StopMatcher.
func Example() {
	vocab := []string{"안녕", "하세요", "!", "<|im_end|>", " 반갑습니다"}
	// Stand-in for the model: fixed logits per step.
	steps := [][]float32{
		{5, 1, 0, 0, 0},
		{0, 5, 1, 0, 0},
		{0, 0, 4, 3, 0},
		{0, 0, 0, 5, 4},
	}

	cfg := sample.Config{Temperature: 0} // greedy: no randomness
	if err := cfg.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	s := sample.New(cfg)
	stop := sample.NewStopMatcher("<|im_end|>")

	var out strings.Builder
	for _, logits := range steps {
		id := s.Sample(logits)
		s.Accept(id)
		text, done := stop.Feed(vocab[id])
		out.WriteString(text)
		if done {
			break
		}
	}
	out.WriteString(stop.Flush())
	fmt.Printf("%q stopped=%v by %q\n", out.String(), stop.Stopped(), stop.Matched())

	// A seeded sampler gives the same tokens on every run and machine.
	seeded := sample.DefaultConfig()
	seeded.Seed = 42
	a, b := sample.New(seeded), sample.New(seeded)
	same := true
	for range 100 {
		if a.Sample(steps[2]) != b.Sample(steps[2]) {
			same = false
		}
	}
	fmt.Println("reproducible:", same)

	fmt.Println(sample.Config{TopP: 1.5}.Validate())

	for _, t := range sample.TopLogProbs(steps[2], 2) {
		fmt.Printf("%s %.3f\n", vocab[t.ID], t.LogProb)
	}
	// Output:
	// "안녕하세요!" stopped=true by "<|im_end|>"
	// reproducible: true
	// sample: top_p 1.5 outside [0, 1]
	// ! -0.353
	// <|im_end|> -1.353
}
