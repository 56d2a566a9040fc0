package sample

import (
	"fmt"
	"math"
	"slices"
)

// Step is one stage of the sampling pipeline: it narrows or reshapes the candidates of one
// position. Steps run in order on the same Candidates; see the package documentation for the
// built-in order. A step must be deterministic: the same candidates and state give the same
// result.
type Step interface {
	Apply(c *Candidates)
}

// Stateful is a Step that follows the generated tokens, such as a penalty window or a grammar.
// Sampler.Accept and Sampler.Reset pass on to every Stateful step in the chain.
type Stateful interface {
	Step
	// Accept records that id was generated (or fed as prompt).
	Accept(id int32)
	// Reset forgets every accepted token.
	Reset()
}

// LogitBias adds a fixed bias to the logits of chosen tokens; a -Inf bias bans a token. Ids
// beyond the vocabulary are ignored.
type LogitBias struct {
	ids  []int32 // ascending
	bias []float32
	m    map[int32]float32
}

// NewLogitBias returns the step for the biases in m (id → bias). It copies m.
func NewLogitBias(m map[int32]float32) *LogitBias {
	b := &LogitBias{m: make(map[int32]float32, len(m))}
	for id, v := range m {
		b.ids = append(b.ids, id)
		b.m[id] = v
	}
	slices.Sort(b.ids)
	for _, id := range b.ids {
		b.bias = append(b.bias, m[id])
	}
	return b
}

// Apply adds the biases.
func (b *LogitBias) Apply(c *Candidates) {
	if len(b.ids) == 0 {
		return
	}
	if logits := c.MutableLogits(); logits != nil {
		for i, id := range b.ids {
			if id >= 0 && int(id) < len(logits) {
				logits[id] += b.bias[i]
			}
		}
		return
	}
	items := c.Items()
	for i := range items {
		if v, ok := b.m[items[i].ID]; ok {
			items[i].Logit += v
		}
	}
	c.MarkUnsorted()
}

// String describes the step for logs, e.g. "logit_bias(3 tokens)".
func (b *LogitBias) String() string { return fmt.Sprintf("logit_bias(%d tokens)", len(b.ids)) }

// Penalties applies llama.cpp's repetition, frequency and presence penalties, counted over the
// last LastN accepted tokens (-1: all of them; 0: off). For a token seen count > 0 times in the
// window, a positive logit is divided by Repeat and a non-positive one multiplied by it, then
// count·Frequency + Presence is subtracted.
type Penalties struct {
	lastN                       int
	repeat, frequency, presence float32

	ring   []int32 // the window, oldest at head once full (LastN > 0 only)
	head   int
	counts map[int32]int32
}

// NewPenalties returns the penalty step. A repeat penalty of 0 is taken as 1 (off).
func NewPenalties(lastN int, repeat, frequency, presence float32) *Penalties {
	if repeat == 0 {
		repeat = 1
	}
	return &Penalties{
		lastN: lastN, repeat: repeat, frequency: frequency, presence: presence,
		counts: make(map[int32]int32),
	}
}

func (p *Penalties) off() bool {
	return p.lastN == 0 || (p.repeat == 1 && p.frequency == 0 && p.presence == 0)
}

// Accept adds id to the window, dropping the oldest token when the window is full.
func (p *Penalties) Accept(id int32) {
	if p.lastN == 0 {
		return
	}
	p.counts[id]++
	if p.lastN < 0 {
		return
	}
	if len(p.ring) < p.lastN { // grow up to the window; a huge LastN costs only what is used
		p.ring = append(p.ring, id)
		return
	}
	old := p.ring[p.head]
	if p.counts[old]--; p.counts[old] == 0 {
		delete(p.counts, old)
	}
	p.ring[p.head] = id
	p.head = (p.head + 1) % p.lastN
}

// Reset empties the window.
func (p *Penalties) Reset() {
	p.ring = p.ring[:0]
	p.head = 0
	clear(p.counts)
}

// penalize returns logit l of a token seen count times.
func (p *Penalties) penalize(l float32, count int32) float32 {
	// Every product is rounded on its own by an explicit conversion, so that no platform fuses
	// it with the subtraction into a multiply-add.
	if l <= 0 {
		l = float32(l * p.repeat)
	} else {
		l /= p.repeat
	}
	return l - (float32(float32(count)*p.frequency) + p.presence)
}

// Apply penalizes the tokens in the window.
func (p *Penalties) Apply(c *Candidates) {
	if p.off() || len(p.counts) == 0 {
		return
	}
	if logits := c.MutableLogits(); logits != nil {
		for id, n := range p.counts { // each id is independent: map order does not matter
			if id >= 0 && int(id) < len(logits) {
				logits[id] = p.penalize(logits[id], n)
			}
		}
		return
	}
	items := c.Items()
	for i := range items {
		if n, ok := p.counts[items[i].ID]; ok {
			items[i].Logit = p.penalize(items[i].Logit, n)
		}
	}
	c.MarkUnsorted()
}

// String describes the step and its settings for logs.
func (p *Penalties) String() string {
	return fmt.Sprintf("penalties(last_n=%d, repeat=%v, frequency=%v, presence=%v)",
		p.lastN, p.repeat, p.frequency, p.presence)
}

// TopK keeps the K candidates with the highest logits (ties go to the lower id), sorted best
// first. K <= 0 keeps everything.
type TopK struct{ K int }

// Apply keeps the K best. In dense form it selects them in one pass over the vocabulary with a
// K-sized heap, never sorting the rest.
func (s TopK) Apply(c *Candidates) {
	if s.K <= 0 || s.K >= c.Len() {
		return
	}
	if !c.list {
		c.setList(topDense(c.itemsBuf(), c.dense, s.K), true)
		return
	}
	c.SortTop(s.K)
	c.Truncate(s.K)
	c.sorted = true
}

// String describes the step for logs, e.g. "top_k(40)".
func (s TopK) String() string { return fmt.Sprintf("top_k(%d)", s.K) }

// TopP (nucleus sampling) keeps the best candidates until their share of the probability mass
// reaches P, and at least MinKeep (at least 1) of them. P outside (0, 1) keeps everything.
type TopP struct {
	P       float32
	MinKeep int
}

// keepPosInf keeps only the candidates whose logit is +Inf.
func keepPosInf(c *Candidates) {
	c.Filter(func(x Candidate) bool { return math.IsInf(float64(x.Logit), 1) })
}

// Top-p buckets the candidates by how far their logit lies below the best one, in steps of
// 1/topPPerUnit; logits more than topPBuckets/topPPerUnit below the best (probability ratio
// under e^-64) share the last bucket.
const (
	topPPerUnit = 32
	topPBuckets = 64 * topPPerUnit
)

// topPHist is top-p's histogram of probability mass (unnormalized) and count per bucket.
type topPHist struct {
	mass  [topPBuckets]float64
	count [topPBuckets]int32
}

func topPBucket(maxL float64, l float32) int {
	d := (maxL - float64(l)) * topPPerUnit // ≥ 0, and monotone in l
	if d >= topPBuckets-1 {
		return topPBuckets - 1
	}
	return int(d)
}

// cutTopP returns how many of items, which are sorted best first, top-p keeps, and whether the
// mass reached p within them.
func cutTopP(items []Candidate, maxL float32, sum, p float64, minKeep int) (int, bool) {
	cum := 0.0
	m := float64(maxL)
	for i, it := range items {
		cum += exp64(float64(it.Logit)-m) / sum
		if cum >= p && i+1 >= minKeep {
			return i + 1, true
		}
	}
	return len(items), false
}

// Apply keeps the nucleus. Sorted candidates (after top-k) are walked directly. Otherwise one
// pass computes the softmax normalizer and a histogram of the mass by logit; the bucket where
// the running mass reaches P bounds the nucleus from below, and only the candidates down to that
// bucket are listed and sorted: O(n) plus a sort of about the nucleus, never of the vocabulary
// (unless the nucleus is the vocabulary).
func (s TopP) Apply(c *Candidates) {
	if !(s.P > 0 && s.P < 1) || c.Len() <= 1 {
		return
	}
	best, ok := c.Max()
	if !ok {
		return
	}
	if math.IsInf(float64(best.Logit), 1) {
		keepPosInf(c) // a broken model; the finite tokens have probability 0
		return
	}
	p, minKeep := float64(s.P), max(s.MinKeep, 1)
	m := float64(best.Logit)
	if c.Sorted() {
		sum := 0.0
		for _, it := range c.items {
			sum += exp64(float64(it.Logit) - m)
		}
		k, _ := cutTopP(c.items, best.Logit, sum, p, minKeep)
		c.items = c.items[:k]
		return
	}

	if c.hist == nil {
		c.hist = new(topPHist)
	}
	h := c.hist
	clear(h.mass[:])
	clear(h.count[:])
	sum, total := 0.0, 0
	add := func(l float32) {
		e := exp64(float64(l) - m)
		sum += e
		total++
		b := topPBucket(m, l)
		h.mass[b] += e
		h.count[b]++
	}
	if c.list {
		for _, it := range c.items {
			if it.Logit > negInf {
				add(it.Logit)
			}
		}
	} else {
		for _, v := range c.dense {
			if v > negInf {
				add(v)
			}
		}
	}
	need, cum, count, last := p*sum, 0.0, 0, topPBuckets-1
	for b := range topPBuckets {
		cum += h.mass[b]
		count += int(h.count[b])
		if cum >= need && count >= minKeep {
			last = b
			break
		}
	}

	// List the candidates down to bucket last (a head of the sorted order: ties share a
	// bucket), in front.
	wasDense := !c.list
	n := 0
	if wasDense {
		items := c.itemsBuf()
		for i, v := range c.dense {
			if v > negInf && topPBucket(m, v) <= last {
				items = append(items, Candidate{ID: int32(i), Logit: v})
			}
		}
		c.setList(items, false)
		n = len(items)
	} else {
		for i, it := range c.items {
			if it.Logit > negInf && topPBucket(m, it.Logit) <= last {
				c.items[n], c.items[i] = c.items[i], c.items[n]
				n++
			}
		}
	}
	head := c.items[:n]
	slices.SortFunc(head, cmpBetter)
	if k, ok := cutTopP(head, best.Logit, sum, p, minKeep); ok || n == total {
		c.items = head[:k]
		c.sorted = true
		return
	}
	// Rounding left the head a hair short of P (or of MinKeep): sort everything.
	if wasDense {
		c.list = false
	}
	c.sorted = false
	c.Sort()
	k, _ := cutTopP(c.items, best.Logit, sum, p, minKeep)
	c.items = c.items[:k]
}

// String describes the step for logs, e.g. "top_p(0.95)".
func (s TopP) String() string { return fmt.Sprintf("top_p(%v)", s.P) }

// MinP keeps the candidates whose probability is at least P times the best one's, that is whose
// logit is at least the best logit + ln P, and at least MinKeep (at least 1) of them. P <= 0
// keeps everything.
type MinP struct {
	P       float32
	MinKeep int
}

// Apply drops the unlikely candidates. On unsorted candidates it filters in one pass, keeping
// their order; it sorts only when fewer than MinKeep would survive.
func (s MinP) Apply(c *Candidates) {
	if !(s.P > 0) || c.Len() <= 1 {
		return
	}
	best, ok := c.Max()
	if !ok {
		return
	}
	thr := float64(best.Logit) + log64(float64(s.P))
	minKeep := max(s.MinKeep, 1)
	keep := func(l float32) bool { return float64(l) >= thr }
	if !c.Sorted() {
		n := 0
		if c.list {
			for _, it := range c.items {
				if keep(it.Logit) {
					n++
				}
			}
		} else {
			for _, v := range c.dense {
				if v > negInf && keep(v) {
					n++
				}
			}
		}
		if n >= minKeep {
			if !c.list {
				items := c.itemsBuf()
				for i, v := range c.dense {
					if v > negInf && keep(v) {
						items = append(items, Candidate{ID: int32(i), Logit: v})
					}
				}
				c.setList(items, false)
				return
			}
			items := c.items[:0]
			for _, it := range c.items {
				if keep(it.Logit) {
					items = append(items, it)
				}
			}
			c.items = items
			return
		}
		c.Sort()
	}
	i := 1 // the best always stays
	for ; i < len(c.items); i++ {
		if !keep(c.items[i].Logit) && i >= minKeep {
			break
		}
	}
	c.items = c.items[:i]
}

// String describes the step for logs, e.g. "min_p(0.05)".
func (s MinP) String() string { return fmt.Sprintf("min_p(%v)", s.P) }

// Temperature divides every logit by T: below 1 it sharpens the distribution, above 1 it
// flattens it. T <= 0 and T == 1 leave the logits alone (greedy decoding is the Sampler's
// chooser, not this step).
type Temperature struct{ T float32 }

// Apply scales the logits.
func (s Temperature) Apply(c *Candidates) {
	if !(s.T > 0) || s.T == 1 {
		return
	}
	if logits := c.MutableLogits(); logits != nil {
		for i := range logits {
			logits[i] /= s.T
		}
		return
	}
	for i := range c.items {
		c.items[i].Logit /= s.T
	}
	// Division keeps the order, but rounding can make two logits equal, which may reorder ties.
	c.MarkUnsorted()
}

// String describes the step for logs, e.g. "temperature(0.8)".
func (s Temperature) String() string { return fmt.Sprintf("temperature(%v)", s.T) }
