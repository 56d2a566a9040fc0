package sample

import (
	"math/rand/v2"
	"testing"
)

// setConstraint allows a fixed set of tokens that changes with each
// accepted token (the allowed set is a function of the count of accepted
// tokens), and counts how it was asked.
type setConstraint struct {
	vocab    int
	accepted int
	allowed  func(step int) []int32
	masks    int
}

func (c *setConstraint) set() map[int32]bool {
	m := map[int32]bool{}
	for _, id := range c.allowed(c.accepted) {
		m[id] = true
	}
	return m
}

func (c *setConstraint) Allows(id int32) bool { return c.set()[id] }

func (c *setConstraint) Mask() ([]uint64, int) {
	c.masks++
	bits := make([]uint64, (c.vocab+63)/64)
	ids := c.allowed(c.accepted)
	for _, id := range ids {
		bits[id>>6] |= 1 << (id & 63)
	}
	return bits, len(ids)
}

func (c *setConstraint) Forced() (int32, bool) {
	if ids := c.allowed(c.accepted); len(ids) == 1 {
		return ids[0], true
	}
	return -1, false
}

func (c *setConstraint) Accept(int32) error { c.accepted++; return nil }
func (c *setConstraint) Reset()             { c.accepted = 0 }
func (c *setConstraint) Err() error         { return nil }

// A constraint composes with every sampler setting: whatever the filters,
// penalties, biases and seed, only allowed tokens come out, and a forced
// token comes out without a draw.
func TestConstraintComposes(t *testing.T) {
	const vocab = 300
	rng := rand.New(rand.NewPCG(1, 2))
	configs := []Config{
		{},
		{Temperature: 1, Seed: 1},
		{Temperature: 0.7, TopK: 5, Seed: 2},
		{Temperature: 1.2, TopP: 0.5, Seed: 3},
		{Temperature: 1, MinP: 0.2, Seed: 4},
		{Temperature: 0.9, TopK: 40, TopP: 0.9, MinP: 0.05, RepeatPenalty: 1.3, FrequencyPenalty: 0.5,
			PresencePenalty: 0.5, RepeatLastN: 16, Seed: 5},
		{Temperature: 1, Seed: 6, LogitBias: map[int32]float32{7: 100, 8: -100}},
	}
	for ci, cfg := range configs {
		c := &setConstraint{vocab: vocab, allowed: func(step int) []int32 {
			switch step % 4 {
			case 0:
				return []int32{3, 100, 299} // few, all far from the likely tokens
			case 1:
				return []int32{42} // forced
			case 2:
				ids := make([]int32, 0, 200) // many: the dense path
				for id := int32(0); id < 200; id++ {
					ids = append(ids, id)
				}
				return ids
			}
			return []int32{8, 9} // 8 is banned by one config's bias
		}}
		s := New(cfg)
		s.Constrain(c)
		for step := range 200 {
			logits := make([]float32, vocab)
			for i := range logits {
				logits[i] = float32(rng.NormFloat64() * 3)
			}
			logits[7] = 50 // the model's favourite is never allowed
			allowed := c.set()
			id := s.Sample(logits)
			if !allowed[id] {
				if cfg.LogitBias != nil && step%4 == 3 && id == 9 {
					// 8 is banned by the bias: 9 is the only choice left.
				} else {
					t.Fatalf("config %d step %d: token %d is not allowed (%v)", ci, step, id, c.allowed(c.accepted))
				}
			}
			if step%4 == 1 && id != 42 {
				t.Fatalf("config %d: forced token not taken: %d", ci, id)
			}
			s.Accept(id)
		}
		st := s.ConstraintStats()
		if st.Forced != 50 || st.Masked == 0 {
			t.Errorf("config %d: stats %+v: want 50 forced and some masked", ci, st)
		}
	}
}

// The prompt goes to the penalties but never to the constraint.
func TestAcceptPromptSkipsConstraint(t *testing.T) {
	c := &setConstraint{vocab: 10, allowed: func(int) []int32 { return []int32{1, 2} }}
	s := New(Config{RepeatPenalty: 2, RepeatLastN: 8})
	s.Constrain(c)
	s.AcceptPrompt(5)
	if c.accepted != 0 {
		t.Fatalf("the constraint saw a prompt token")
	}
	s.Accept(1)
	if c.accepted != 1 {
		t.Fatalf("the constraint did not see a generated token")
	}
}
