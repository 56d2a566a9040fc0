package model

import (
	"fmt"

	"github.com/ondo-ai/ondo/kvcache"
)

// Batch is a set of tokens to evaluate in one call: the tokens of one
// sequence (a prompt, or the one new token of a decoding step), or, for a
// scheduler, tokens of several sequences with different caches.
//
// Token i belongs to sequence Seq[i], whose cache is Caches[Seq[i]], and
// sits at position Pos[i] in it. Within a sequence the tokens must be in
// order at consecutive positions, the first no later than the cache's
// current length; a first position before it rewinds the cache there
// (dropping what followed), so re-evaluating a changed suffix needs no
// separate call.
type Batch struct {
	Tokens []int32
	Pos    []int
	// Seq gives each token's sequence; nil means every token belongs to
	// Caches[0].
	Seq    []int
	Caches []*kvcache.Cache
	// Logits marks the tokens whose logits are wanted; nil means only the
	// last token's.
	Logits []bool
}

// SeqBatch returns the batch of one sequence's tokens at positions pos,
// pos+1, … in cache c, asking for the logits of every token when all is
// true and of the last one otherwise.
func SeqBatch(c *kvcache.Cache, tokens []int32, pos int, all bool) *Batch {
	b := &Batch{Tokens: tokens, Pos: make([]int, len(tokens)), Caches: []*kvcache.Cache{c}}
	for i := range b.Pos {
		b.Pos[i] = pos + i
	}
	if all {
		b.Logits = make([]bool, len(tokens))
		for i := range b.Logits {
			b.Logits[i] = true
		}
	}
	return b
}

// Outputs returns the number of logit rows the batch asks for.
func (b *Batch) Outputs() int {
	if b.Logits == nil {
		if len(b.Tokens) == 0 {
			return 0
		}
		return 1
	}
	n := 0
	for _, w := range b.Logits {
		if w {
			n++
		}
	}
	return n
}

// Plan is a checked batch in the form a forward pass walks: per token its
// cache and position, and the tokens that produce logits.
type Plan struct {
	Tokens []int32
	Pos    []int
	Cache  []*kvcache.Cache // per token
	Out    []bool           // per token: write its logits
	NOut   int

	caches []*kvcache.Cache
	starts []int // per sequence: first position in the batch
	ends   []int // per sequence: length after the batch, -1 if absent
}

// NewPlan checks b against the model described by info (token ids in
// range, positions consecutive per sequence and within each cache, caches
// shaped for the model, logits buffer of logitsLen large enough), rewinds
// each cache to its sequence's first position, and returns the plan. Every
// architecture's Forward starts here.
func NewPlan(b *Batch, info Info, logitsLen int) (*Plan, error) {
	n := len(b.Tokens)
	switch {
	case n == 0:
		return nil, fmt.Errorf("model: empty batch")
	case len(b.Pos) != n:
		return nil, fmt.Errorf("model: batch has %d tokens and %d positions", n, len(b.Pos))
	case b.Seq != nil && len(b.Seq) != n:
		return nil, fmt.Errorf("model: batch has %d tokens and %d sequence ids", n, len(b.Seq))
	case b.Logits != nil && len(b.Logits) != n:
		return nil, fmt.Errorf("model: batch has %d tokens and %d logit flags", n, len(b.Logits))
	case len(b.Caches) == 0:
		return nil, fmt.Errorf("model: batch has no cache")
	}
	p := &Plan{
		Tokens: b.Tokens,
		Pos:    b.Pos,
		Cache:  make([]*kvcache.Cache, n),
		Out:    make([]bool, n),
		caches: b.Caches,
		starts: make([]int, len(b.Caches)),
		ends:   make([]int, len(b.Caches)),
	}
	seen := make(map[*kvcache.Cache]int, len(b.Caches))
	for s, c := range b.Caches {
		if c == nil {
			return nil, fmt.Errorf("model: cache %d is nil", s)
		}
		if !info.fits(c) {
			return nil, fmt.Errorf("model: cache %d is for %d layers of %d×%d, model has %d layers of %d×%d",
				s, c.Layers(), c.KVHeads(), c.HeadDim(), info.Layers, info.KVHeads, info.HeadDim)
		}
		if t, dup := seen[c]; dup {
			return nil, fmt.Errorf("model: caches %d and %d are the same cache", t, s)
		}
		seen[c] = s
		p.ends[s] = -1
	}
	for i, tok := range b.Tokens {
		if tok < 0 || int(tok) >= info.VocabSize {
			return nil, fmt.Errorf("model: token %d at batch index %d out of range [0, %d)", tok, i, info.VocabSize)
		}
		s := 0
		if b.Seq != nil {
			s = b.Seq[i]
			if s < 0 || s >= len(b.Caches) {
				return nil, fmt.Errorf("model: token %d has sequence %d, batch has %d caches", i, s, len(b.Caches))
			}
		}
		c, pos := b.Caches[s], b.Pos[i]
		switch end := p.ends[s]; {
		case end < 0 && (pos < 0 || pos > c.Len()):
			return nil, fmt.Errorf("model: sequence %d starts at position %d, its cache holds %d", s, pos, c.Len())
		case end >= 0 && pos != end:
			return nil, fmt.Errorf("model: sequence %d: token %d at position %d, want %d", s, i, pos, end)
		case end < 0:
			p.starts[s] = pos
		}
		if err := c.Check(pos, 1); err != nil {
			return nil, err
		}
		p.ends[s] = pos + 1
		p.Cache[i] = c
		p.Out[i] = b.Logits == nil && i == n-1 || b.Logits != nil && b.Logits[i]
		if p.Out[i] {
			p.NOut++
		}
	}
	if need := p.NOut * info.VocabSize; logitsLen < need {
		return nil, fmt.Errorf("model: logits buffer of %d for %d rows of %d", logitsLen, p.NOut, info.VocabSize)
	}
	// Only now, with the batch known to be good, rewind the caches.
	for s, c := range b.Caches {
		if p.ends[s] >= 0 && p.starts[s] < c.Len() {
			if err := c.Truncate(p.starts[s]); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

// Commit records the batch's positions as filled in every cache; Forward
// calls it after the last layer.
func (p *Plan) Commit() error {
	for s, c := range p.caches {
		if p.ends[s] < 0 {
			continue
		}
		if err := c.Commit(p.ends[s]); err != nil {
			return err
		}
	}
	return nil
}

// Run evaluates the plan in passes of at most size tokens: pass gets each
// pass's tokens, positions, caches and output marks, and the logits rows
// (vocab wide) where the pass's marked tokens go, one after the other.
// The caches are committed only when all passes succeed.
func (p *Plan) Run(size, vocab int, logits []float32, pass func(tokens []int32, pos []int, caches []*kvcache.Cache, out []bool, logits []float32) error) error {
	for lo := 0; lo < len(p.Tokens); lo += size {
		hi := min(lo+size, len(p.Tokens))
		if err := pass(p.Tokens[lo:hi], p.Pos[lo:hi], p.Cache[lo:hi], p.Out[lo:hi], logits); err != nil {
			return err
		}
		for _, o := range p.Out[lo:hi] {
			if o {
				logits = logits[vocab:]
			}
		}
	}
	return p.Commit()
}
