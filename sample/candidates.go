package sample

import (
	"math"
	"slices"
)

var negInf = float32(math.Inf(-1))

// Candidate is one token still in the running, with its current logit.
type Candidate struct {
	ID    int32
	Logit float32
}

// better is the order every step and the chooser agree on: higher logit first, and on equal
// logits the lower id first. It is a strict total order on NaN-free candidates with distinct
// ids, so whatever algorithm sorts or selects, the outcome is the same.
func better(a, b Candidate) bool {
	return a.Logit > b.Logit || (a.Logit == b.Logit && a.ID < b.ID)
}

func cmpBetter(a, b Candidate) int {
	switch {
	case better(a, b):
		return -1
	case better(b, a):
		return 1
	}
	return 0
}

// Candidates is the working set of one sampling position, which each Step narrows or reshapes.
//
// It starts in dense form: the logits of the whole vocabulary, indexed by token id, read from
// the caller's slice without a copy (Logits). A step that changes logits in dense form asks for
// MutableLogits, which copies them once into a reused buffer. A step that needs a list calls
// Items, which turns the candidates into a list of (id, logit) pairs, dropping tokens whose
// logit is -Inf or NaN; from then on the candidates stay a list. Built-in steps switch to a list
// only as far as they must: top-k builds the list of its K winners straight from the dense
// logits.
//
// A step that changes logits of a list in place must call MarkUnsorted; one that removes
// candidates rearranges Items and calls Truncate. Tokens banned with a -Inf logit may stay in a
// list: they have probability zero and are never chosen.
type Candidates struct {
	dense  []float32 // the vocabulary's logits by id; the caller's slice until owned
	owned  bool      // dense is buf, which steps may write
	buf    []float32 // reused copy of the caller's logits
	items  []Candidate
	list   bool // items, not dense, holds the candidates
	sorted bool // items are in better order
	hist   *topPHist
	probs  []float64
}

// NewCandidates returns candidates over logits, in dense form. The logits are read, never
// written.
func NewCandidates(logits []float32) *Candidates {
	c := &Candidates{}
	c.Reset(logits)
	return c
}

// Reset starts over with new logits, keeping the buffers.
func (c *Candidates) Reset(logits []float32) {
	c.dense = logits
	c.owned = false
	c.items = c.items[:0]
	c.list = false
	c.sorted = false
}

// VocabSize returns the number of logits the candidates started from.
func (c *Candidates) VocabSize() int { return len(c.dense) }

// IsList reports whether the candidates are in list form (see Items).
func (c *Candidates) IsList() bool { return c.list }

// Len returns the number of candidates: the vocabulary size in dense form (banned tokens
// included), the list length in list form.
func (c *Candidates) Len() int {
	if c.list {
		return len(c.items)
	}
	return len(c.dense)
}

// Logits returns the logits indexed by token id while the candidates are in dense form, and nil
// once they are a list. The slice may be the caller's: do not write to it (see MutableLogits).
func (c *Candidates) Logits() []float32 {
	if c.list {
		return nil
	}
	return c.dense
}

// MutableLogits is Logits in a form that the step may write: the first call copies the
// caller's logits into a reused buffer. It returns nil once the candidates are a list.
func (c *Candidates) MutableLogits() []float32 {
	if c.list {
		return nil
	}
	if !c.owned {
		if cap(c.buf) < len(c.dense) {
			c.buf = make([]float32, len(c.dense))
		}
		c.buf = c.buf[:len(c.dense)]
		copy(c.buf, c.dense)
		c.dense = c.buf
		c.owned = true
	}
	return c.dense
}

// itemsBuf returns the list buffer, empty, with room for the whole vocabulary.
func (c *Candidates) itemsBuf() []Candidate {
	if cap(c.items) < len(c.dense) {
		c.items = make([]Candidate, 0, len(c.dense))
	}
	return c.items[:0]
}

func (c *Candidates) setList(items []Candidate, sorted bool) {
	c.items = items
	c.list = true
	c.sorted = sorted
}

// Items turns the candidates into a list, if they are not one yet, and returns it. In dense
// form the list is every token whose logit is neither -Inf nor NaN, in id order. A step may
// change the logits (then it calls MarkUnsorted) and reorder the elements in place.
func (c *Candidates) Items() []Candidate {
	if !c.list {
		items := c.itemsBuf()
		for i, v := range c.dense {
			if v > negInf {
				items = append(items, Candidate{ID: int32(i), Logit: v})
			}
		}
		c.setList(items, false)
	}
	return c.items
}

// Truncate keeps the first n candidates of the list (see Items); n beyond the length is a
// no-op. Sortedness is kept.
func (c *Candidates) Truncate(n int) {
	c.Items()
	if n < len(c.items) {
		c.items = c.items[:max(n, 0)]
	}
}

// Sorted reports whether the list is known to be sorted best first: higher logit first, lower
// id first among equal logits. Dense candidates are never sorted.
func (c *Candidates) Sorted() bool { return c.list && c.sorted }

// MarkUnsorted records that a step changed logits in the list, so it may no longer be sorted.
func (c *Candidates) MarkUnsorted() { c.sorted = false }

// Sort turns the candidates into a list and sorts it best first.
func (c *Candidates) Sort() {
	items := c.Items()
	if !c.sorted {
		slices.SortFunc(items, cmpBetter)
		c.sorted = true
	}
}

// SortTop turns the candidates into a list and moves the k best to its front, sorted best first,
// without sorting the rest. It costs O(n log k).
func (c *Candidates) SortTop(k int) {
	items := c.Items()
	switch {
	case c.sorted || k <= 0:
	case k >= len(items):
		c.Sort()
	default:
		selectTop(items, k)
	}
}

// Filter keeps the candidates for which keep returns true, in their order, as a list.
func (c *Candidates) Filter(keep func(Candidate) bool) {
	items := c.Items()
	n := 0
	for _, it := range items {
		if keep(it) {
			items[n] = it
			n++
		}
	}
	c.items = items[:n]
}

// Max returns the best candidate: the highest logit, the lowest id among equals. It reports
// false when no candidate has a logit above -Inf.
func (c *Candidates) Max() (Candidate, bool) {
	if !c.list {
		at := argmaxDense(c.dense)
		if at < 0 {
			return Candidate{ID: -1}, false
		}
		return Candidate{ID: int32(at), Logit: c.dense[at]}, true
	}
	if c.sorted && len(c.items) > 0 {
		b := c.items[0]
		return b, b.Logit > negInf
	}
	b, ok := Candidate{ID: -1, Logit: negInf}, false
	for _, it := range c.items {
		if it.Logit > negInf && (!ok || better(it, b)) {
			b, ok = it, true
		}
	}
	return b, ok
}

// expSum returns the sum over the candidates of exp(logit - max), in candidate order, where max
// is the best logit. ok is false when no logit is above -Inf.
func (c *Candidates) expSum() (maxL float32, sum float64, ok bool) {
	best, ok := c.Max()
	if !ok {
		return 0, 0, false
	}
	m := float64(best.Logit)
	if c.list {
		for _, it := range c.items {
			sum += exp64(float64(it.Logit) - m)
		}
	} else {
		for _, v := range c.dense {
			if v > negInf {
				sum += exp64(float64(v) - m)
			}
		}
	}
	return best.Logit, sum, true
}

// draw picks a candidate with probability proportional to exp(logit): u in [0, 1) is placed in
// the cumulative distribution of the candidates, in their current order. It returns -1 when no
// candidate has a logit above -Inf.
func (c *Candidates) draw(u float64) int32 {
	best, ok := c.Max()
	if !ok {
		return -1
	}
	if math.IsInf(float64(best.Logit), 1) {
		return best.ID // +Inf outweighs everything; only a broken model gets here
	}
	m := float64(best.Logit)
	n := c.Len()
	if cap(c.probs) < n {
		c.probs = make([]float64, n)
	}
	probs := c.probs[:n]
	sum := 0.0
	if c.list {
		for i, it := range c.items {
			e := exp64(float64(it.Logit) - m)
			probs[i] = e
			sum += e
		}
	} else {
		for i, v := range c.dense {
			e := 0.0
			if v > negInf {
				e = exp64(float64(v) - m)
			}
			probs[i] = e
			sum += e
		}
	}
	// The running sum repeats the additions of sum in the same order, so it ends at exactly sum,
	// which is > target: the loop always stops on a token with non-zero probability.
	target := u * sum
	cum, pick := 0.0, -1
	for i, e := range probs {
		if e == 0 {
			continue
		}
		cum += e
		pick = i
		if cum > target {
			break
		}
	}
	if pick < 0 {
		return -1
	}
	if c.list {
		return c.items[pick].ID
	}
	return int32(pick)
}

// argmaxDense returns the index of the highest logit above -Inf, the lowest index among equals,
// or -1. The maximum rarely changes, so four logits are tested against it at once and only a
// group holding a new maximum is looked at one by one (in order, keeping the first maximum);
// that runs about twice as fast as the plain loop.
func argmaxDense(x []float32) int {
	best, at := negInf, -1
	i := 0
	for ; i+4 <= len(x); i += 4 {
		v := x[i : i+4 : i+4]
		if v[0] > best || v[1] > best || v[2] > best || v[3] > best {
			for j, y := range v {
				if y > best {
					best, at = y, i+j
				}
			}
		}
	}
	for ; i < len(x); i++ {
		if x[i] > best {
			best, at = x[i], i
		}
	}
	return at
}

// siftDown restores the heap property below i in a heap whose root is its worst candidate.
func siftDown(h []Candidate, i int) {
	n := len(h)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		w := l // the worse child
		if r := l + 1; r < n && better(h[l], h[r]) {
			w = r
		}
		if !better(h[i], h[w]) {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}

func heapify(h []Candidate) {
	for i := len(h)/2 - 1; i >= 0; i-- {
		siftDown(h, i)
	}
}

// topDense appends to dst[:0] the k best tokens of logits (ignoring -Inf and NaN), sorted best
// first. One pass with a k-sized heap: O(n log k), and most tokens cost one comparison.
func topDense(dst []Candidate, logits []float32, k int) []Candidate {
	h := dst[:0]
	if k <= 0 {
		return h
	}
	i := 0
	for ; i < len(logits) && len(h) < k; i++ {
		if v := logits[i]; v > negInf {
			h = append(h, Candidate{ID: int32(i), Logit: v})
		}
	}
	if len(h) == k {
		heapify(h)
		// Ids rise as we go, so a newcomer with the root's logit loses the tie: only a strictly
		// higher logit gets in.
		thr := h[0].Logit
		push := func(i int, v float32) {
			h[0] = Candidate{ID: int32(i), Logit: v}
			siftDown(h, 0)
			thr = h[0].Logit
		}
		// Most tokens lose to the threshold: test four at a time, in id order.
		for ; i+4 <= len(logits); i += 4 {
			v := logits[i : i+4 : i+4]
			if v[0] > thr || v[1] > thr || v[2] > thr || v[3] > thr {
				for j, x := range v {
					if x > thr {
						push(i+j, x)
					}
				}
			}
		}
		for ; i < len(logits); i++ {
			if v := logits[i]; v > thr {
				push(i, v)
			}
		}
	}
	slices.SortFunc(h, cmpBetter)
	return h
}

// selectTop moves the k best of items (0 < k < len(items)) to the front, sorted best first.
func selectTop(items []Candidate, k int) {
	h := items[:k]
	heapify(h)
	for j := k; j < len(items); j++ {
		if better(items[j], h[0]) {
			h[0], items[j] = items[j], h[0]
			siftDown(h, 0)
		}
	}
	slices.SortFunc(h, cmpBetter)
}
