package sample

import (
	"math/bits"
)

// Constraint limits which tokens may come next, following the generated
// tokens: a grammar (package grammar's Matcher), a tool-call format. The
// Sampler runs it before every other step, with a fast path: it samples
// as if unconstrained, checks that one token with Allows, and builds the
// full mask only when the token is rejected. Because rejected draws are
// redrawn from the masked distribution, each allowed token keeps the
// probability it has after masking (exactly so for greedy decoding and
// plain temperature sampling; filters such as top-k see the unmasked
// candidates on the first try, as in llama.cpp's grammar sampler).
type Constraint interface {
	// Allows reports whether token id may come next.
	Allows(id int32) bool
	// Mask returns the allowed tokens as bits (bit id%64 of word id/64),
	// and their number. The slice is read, never written.
	Mask() ([]uint64, int)
	// Forced returns the only token that may come next, when it is cheap
	// to know that there is exactly one; the Sampler then emits it
	// without sampling.
	Forced() (int32, bool)
	// Accept moves past a generated token.
	Accept(id int32) error
	// Reset goes back to the start.
	Reset()
	// Err returns an error that stops the constraint for good.
	Err() error
}

// ConstraintStats counts how the Sampler's constrained draws were decided.
type ConstraintStats struct {
	Forced   int // emitted without sampling: the only allowed token
	Verified int // the unconstrained draw was allowed
	Masked   int // the full mask was built and the token drawn again
}

// Constrain makes the sampler obey c from the next Sample on (nil removes
// it). Accept passes generated tokens on to c; AcceptPrompt does not.
func (s *Sampler) Constrain(c Constraint) {
	s.con = c
	s.conErr = nil
}

// ConstraintStats returns the counts of constrained draws so far.
func (s *Sampler) ConstraintStats() ConstraintStats { return s.stats }

// Err returns the error of the constraint, if it failed: a token that it
// did not allow was accepted, or its own Err. Sample returns -1 then.
func (s *Sampler) Err() error {
	if s.con == nil {
		return nil
	}
	if s.conErr != nil {
		return s.conErr
	}
	return s.con.Err()
}

func (s *Sampler) sampleConstrained(logits []float32) int32 {
	if s.Err() != nil {
		return -1
	}
	if id, ok := s.con.Forced(); ok {
		s.stats.Forced++
		return id
	}
	if id := s.sampleSteps(logits, nil, 0); id >= 0 && s.con.Allows(id) {
		s.stats.Verified++
		return id
	}
	s.stats.Masked++
	m, n := s.con.Mask()
	return s.sampleSteps(logits, m, n)
}

// restrict bans every token whose bit in allowed is clear. With few
// allowed tokens the candidates become the list of them; otherwise the
// banned logits are set to -Inf.
func (c *Candidates) restrict(allowed []uint64, count int) {
	n := len(c.dense)
	if c.list {
		c.Filter(func(it Candidate) bool {
			return int(it.ID>>6) < len(allowed) && allowed[it.ID>>6]&(1<<(it.ID&63)) != 0
		})
		return
	}
	if count*16 <= n {
		items := c.itemsBuf()
		for w, word := range allowed {
			for word != 0 {
				id := w<<6 | bits.TrailingZeros64(word)
				word &= word - 1
				if id < n && c.dense[id] > negInf {
					items = append(items, Candidate{ID: int32(id), Logit: c.dense[id]})
				}
			}
		}
		c.setList(items, false)
		return
	}
	logits := c.MutableLogits()
	for w := 0; w<<6 < n; w++ {
		var word uint64
		if w < len(allowed) {
			word = allowed[w]
		}
		for ban := ^word; ban != 0; ban &= ban - 1 {
			if id := w<<6 | bits.TrailingZeros64(ban); id < n {
				logits[id] = negInf
			}
		}
	}
}
