package grammar

import (
	"fmt"
	"math/bits"
)

// maskBudget bounds the bytes of cached masks per Constraint; past it the
// cache is emptied and refilled as states come back.
const maskBudget = 8 << 20

// Constraint is a Grammar bound to a vocabulary: its token references
// resolved, and the token mask of each parser state cached as it is met.
// It is safe for concurrent use; each generated sequence takes its own
// Matcher.
type Constraint struct {
	g       *Grammar
	ix      *Index
	ids     []int32 // the token of each of g.tokens
	masks   map[int32]*mask
	locals  map[int32]*localMask // by cut stack
	bytes   int                  // held by masks and locals
	walkBuf []visit
}

type mask struct {
	bits  []uint64
	count int
	only  int32 // the token to emit when forced
	// forced: one token allowed, or only end-of-generation tokens
	forced bool
}

// Bind resolves the grammar's token references in ix's vocabulary. Binding
// the same grammar to the same index again returns the same Constraint, so
// its cached masks serve every request that uses the grammar.
func (g *Grammar) Bind(ix *Index) (*Constraint, error) {
	g.bindMu.Lock()
	defer g.bindMu.Unlock()
	if c, ok := g.bound[ix]; ok {
		return c, nil
	}
	c := &Constraint{g: g, ix: ix, masks: map[int32]*mask{}, locals: map[int32]*localMask{}}
	for _, t := range g.tokens {
		id := t.id
		if id < 0 {
			if id = ix.lookup(t.text); id < 0 {
				return nil, &SyntaxError{t.pos.line, t.pos.col, fmt.Sprintf("token %s is not in the vocabulary", t.text)}
			}
		} else if int(id) >= ix.n {
			return nil, &SyntaxError{t.pos.line, t.pos.col, fmt.Sprintf("token <[%d]> is beyond the vocabulary of %d tokens", id, ix.n)}
		}
		c.ids = append(c.ids, id)
	}
	if g.bound == nil {
		g.bound = map[*Index]*Constraint{}
	}
	g.bound[ix] = c
	return c, nil
}

// Grammar returns the grammar the constraint was made from.
func (c *Constraint) Grammar() *Grammar { return c.g }

// NewMatcher returns a matcher at the start of the grammar.
func (c *Constraint) NewMatcher() *Matcher {
	return &Matcher{c: c, state: c.g.a.start}
}

// Matcher follows one generated sequence through the grammar. It is not
// safe for concurrent use (its Constraint is).
type Matcher struct {
	c     *Constraint
	state int32 // deadState once an end-of-generation token is accepted
	ended bool
	err   error
}

// Reset goes back to the start of the grammar.
func (m *Matcher) Reset() {
	m.state, m.ended, m.err = m.c.g.a.start, false, nil
}

// Err returns the error that stopped the matcher (ErrTooComplex), if any.
func (m *Matcher) Err() error { return m.err }

// Complete reports whether the tokens accepted so far form a whole sentence
// of the grammar, so that generation may end here.
func (m *Matcher) Complete() bool {
	if m.ended {
		return true
	}
	a := &m.c.g.a
	a.mu.Lock()
	defer a.mu.Unlock()
	return m.err == nil && a.states[m.state].accept
}

// next returns the state after token id, or deadState. The lock is held.
func (c *Constraint) next(state, id int32) int32 {
	g := c.g
	if id < 0 || int(id) >= c.ix.n {
		return deadState
	}
	n := int32(deadState)
	if t := c.ix.text[id]; t != nil {
		n = g.stepBytes(state, t)
	}
	if g.a.states[state].tokens {
		n = g.union(n, g.stepToken(state, id, c.ids))
	}
	return n
}

// Allows reports whether token id may come next.
func (m *Matcher) Allows(id int32) bool {
	if m.ended || m.err != nil {
		return false
	}
	a := &m.c.g.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if id >= 0 && int(id) < m.c.ix.n && m.c.ix.isEOG[id] {
		return a.states[m.state].accept
	}
	return m.c.next(m.state, id) != deadState
}

// Accept moves past token id. It fails, leaving the matcher as it was,
// when the grammar does not allow the token.
func (m *Matcher) Accept(id int32) error {
	if m.err != nil {
		return m.err
	}
	if m.ended {
		return fmt.Errorf("grammar: token %d after the end of generation", id)
	}
	a := &m.c.g.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if id >= 0 && int(id) < m.c.ix.n && m.c.ix.isEOG[id] {
		if !a.states[m.state].accept {
			return fmt.Errorf("grammar: end of generation (token %d) before the grammar is complete", id)
		}
		m.ended = true
		return nil
	}
	n := m.c.next(m.state, id)
	if a.err != nil {
		m.err = a.err
		return m.err
	}
	if n == deadState {
		return fmt.Errorf("grammar: token %d is not allowed here", id)
	}
	m.state = n
	return nil
}

// Mask returns the set of tokens that may come next, as a bit per token
// id (bit id%64 of word id/64), and how many there are. The slice is shared
// by every Matcher in the same state and must not be modified.
func (m *Matcher) Mask() ([]uint64, int) {
	mk := m.mask()
	return mk.bits, mk.count
}

// Forced returns the only token that may come next, when there is exactly
// one. It builds the mask only when that is cheap: when the grammar allows
// a single next byte and no named token, or the mask is already cached.
func (m *Matcher) Forced() (int32, bool) {
	if m.ended || m.err != nil {
		return -1, false
	}
	a := &m.c.g.a
	a.mu.Lock()
	st := &a.states[m.state]
	_, cached := m.c.masks[m.state]
	cheap := cached || !st.tokens && (bits.OnesCount64(st.first[0])+bits.OnesCount64(st.first[1])+
		bits.OnesCount64(st.first[2])+bits.OnesCount64(st.first[3])) <= 1
	a.mu.Unlock()
	if !cheap {
		return -1, false
	}
	if mk := m.mask(); mk.forced {
		return mk.only, true
	}
	return -1, false
}

var emptyMask = &mask{only: -1}

func (m *Matcher) mask() *mask {
	if m.ended || m.err != nil {
		return emptyMask
	}
	c := m.c
	a := &c.g.a
	a.mu.Lock()
	defer a.mu.Unlock()
	if mk, ok := c.masks[m.state]; ok {
		return mk
	}
	mk := c.build(m.state)
	if a.err != nil {
		m.err = a.err
		return emptyMask
	}
	if c.bytes+len(mk.bits)*8 > maskBudget {
		clear(c.masks)
		clear(c.locals)
		c.bytes = 0
	}
	c.masks[m.state] = mk
	c.bytes += len(mk.bits) * 8
	return mk
}

// build computes the mask of a state: the union of its stacks' masks. A
// stack's mask splits in two (see Grammar.cutStack): the tokens its frames
// above the cut decide alone, which depend on those frames only and are
// cached per cut stack (the inside of a JSON string is walked once, not
// once per place a string appears), and the tokens that run past the end of
// the cut frame's rule, found by walking on from each trie node where that
// happens with the state of the frames below.
func (c *Constraint) build(state int32) *mask {
	g, ix := c.g, c.ix
	mk := &mask{bits: make([]uint64, (ix.n+63)/64), only: -1}
	st := g.a.states[state]
	groups := map[int32][]int32{} // cut stacks by the frame below their cut
	var rests []int32
	for _, s := range st.stacks {
		if s < 0 {
			continue
		}
		switch e := g.elems[g.a.frames[s].pos]; e.kind {
		case eToken:
			setBit(mk.bits, c.ids[e.arg])
			continue
		case eNotToken:
			for id := range int32(ix.n) {
				if id != c.ids[e.arg] && !ix.isEOG[id] {
					setBit(mk.bits, id)
				}
			}
			continue
		}
		ct := g.cutStack(s)
		if _, ok := groups[ct.rest]; !ok {
			rests = append(rests, ct.rest)
		}
		groups[ct.rest] = append(groups[ct.rest], ct.local)
	}
	// Stacks cut above the same frame are walked together, so that the
	// alternatives of one loop (a string's characters, its escapes, its
	// closing quote) make one state that comes back to itself.
	for _, rest := range rests {
		lr := c.local(g.intern(groups[rest]))
		lr.orInto(mk.bits)
		if lr.pend.empty() {
			continue
		}
		below := g.belowState(rest)
		if below == deadState {
			continue
		}
		for _, n := range lr.pend.popOnly {
			for _, id := range ix.toks[ix.tokOff[n]:ix.tokOff[n+1]] {
				setBit(mk.bits, id)
			}
		}
		c.walkPending(&lr.pend, below, mk.bits)
	}
	other := 0
	for _, w := range mk.bits {
		other += bits.OnesCount64(w)
	}
	mk.count = other
	if st.accept {
		for _, id := range ix.eog {
			if mk.bits[id>>6]&(1<<(id&63)) == 0 {
				setBit(mk.bits, id)
				mk.count++
			}
		}
	}
	switch {
	case other == 0 && mk.count > 0:
		// Only the end of generation is left: any end token will do.
		mk.only, mk.forced = ix.eog[0], true
	case mk.count == 1:
		for i, w := range mk.bits {
			if w != 0 {
				mk.only = int32(i*64 + bits.TrailingZeros64(w))
			}
		}
		mk.forced = true
	}
	return mk
}

func setBit(b []uint64, id int32) { b[id>>6] |= 1 << (id & 63) }

// localMask is what the frames above a cut decide: the tokens they take
// whole, and the trie nodes where a token runs into the hole (popOnly when
// nothing above the cut is left there, so the tokens ending at that node
// depend on the frames below too).
type localMask struct {
	bits []uint64 // the tokens as bits, or nil when they are few
	toks []int32  // else the tokens listed
	pend pendSet
}

// sparseLocal is the most tokens a local mask lists rather than holding
// as bits (a quarter of the bits' size, so that caches keep many).
const sparseLocal = 1024

// compact lists the tokens of a local mask that takes few.
func (lm *localMask) compact() {
	n := 0
	for _, w := range lm.bits {
		n += bits.OnesCount64(w)
	}
	if n > sparseLocal {
		return
	}
	lm.toks = make([]int32, 0, n)
	for i, w := range lm.bits {
		for ; w != 0; w &= w - 1 {
			lm.toks = append(lm.toks, int32(i<<6|bits.TrailingZeros64(w)))
		}
	}
	lm.bits = nil
}

// orInto adds the local mask's tokens to out.
func (lm *localMask) orInto(out []uint64) {
	if lm.bits == nil {
		for _, id := range lm.toks {
			out[id>>6] |= 1 << (id & 63)
		}
		return
	}
	for i, w := range lm.bits {
		out[i] |= w
	}
}

func (lm *localMask) size() int { return len(lm.bits)*8 + len(lm.toks)*4 + lm.pend.size() }

// pendSet is the trie nodes where a token runs into the hole, the popOnly
// ones also in their own list. Few nodes are kept as a list; past
// densePend of them, as a bit per trie node (a string's local walk can
// leave one at nearly every node).
type pendSet struct {
	list    []int32  // the nodes, while there are at most densePend
	nodes   []uint64 // the nodes as bits, once there are more
	popOnly []int32
}

const densePend = 1024

func (p *pendSet) add(ix *Index, node int32, popOnly bool) {
	if p.nodes == nil && len(p.list) < densePend {
		p.list = append(p.list, node)
	} else {
		if p.nodes == nil {
			p.nodes = make([]uint64, (len(ix.edgeOff)-1+63)/64)
			for _, n := range p.list {
				p.nodes[n>>6] |= 1 << (n & 63)
			}
			p.list = nil
		}
		p.nodes[node>>6] |= 1 << (node & 63)
	}
	if popOnly {
		p.popOnly = append(p.popOnly, node)
	}
}

func (p *pendSet) empty() bool { return p.nodes == nil && len(p.list) == 0 }

func (p *pendSet) size() int { return len(p.nodes)*8 + len(p.list)*4 + len(p.popOnly)*4 }

// walkPending walks on from every pending node with the state of the frames
// below the cut. Rather than visiting each of many pending nodes, it takes
// the bytes that state can start with and, for each, the trie edges with
// that byte whose parent is pending: a string's end leaves thousands of
// pending nodes, of which only those followed by a closing quote matter.
func (c *Constraint) walkPending(p *pendSet, below int32, out []uint64) {
	g, ix := c.g, c.ix
	st := &g.a.states[below]
	if st.tokens {
		// Named tokens are not bytes: visit every pending node.
		for _, n := range p.list {
			c.walk(n, below, out, nil)
		}
		for w, word := range p.nodes {
			for ; word != 0; word &= word - 1 {
				c.walk(int32(w<<6|bits.TrailingZeros64(word)), below, out, nil)
			}
		}
		return
	}
	first := st.first
	if p.nodes == nil {
		for _, n := range p.list {
			for i := ix.edgeOff[n]; i < ix.edgeOff[n+1]; i++ {
				e := &ix.edges[i]
				if !first.has(e.b) {
					continue
				}
				if ns := g.step(below, e.b); ns != deadState {
					c.edgeFrom(e, ns, out, nil)
				}
			}
		}
		return
	}
	for b := range 256 {
		if !first.has(byte(b)) {
			continue
		}
		ns := g.step(below, byte(b))
		if ns == deadState {
			continue
		}
		for _, pe := range ix.parents[b] {
			if p.nodes[pe.node>>6]&(1<<(pe.node&63)) != 0 {
				c.edgeFrom(&ix.edges[pe.edge], ns, out, nil)
			}
		}
	}
}

func (c *Constraint) local(s int32) *localMask {
	if lm, ok := c.locals[s]; ok {
		return lm
	}
	sig := c.g.stateSignature(s)
	lm := c.ix.sharedLocal(sig)
	if lm == nil {
		if len(c.g.chains) > 0 {
			lm = c.chainLocal(s)
		}
		if lm == nil {
			lm = &localMask{bits: make([]uint64, (c.ix.n+63)/64)}
			if d := c.loopOf(s); d != nil {
				c.walkLoop(d, lm.bits, &lm.pend)
			} else {
				c.walkRoot(s, lm.bits, &lm.pend)
			}
			lm.compact()
		}
		if sig != "" && c.g.a.err == nil {
			c.ix.shareLocal(sig, lm)
		}
	}
	if c.bytes+lm.size() > maskBudget {
		clear(c.locals)
		clear(c.masks)
		c.bytes = 0
	}
	c.locals[s] = lm
	c.bytes += lm.size()
	return lm
}

type visit struct{ node, state int32 }

// walk visits the trie below node from state, setting the bit of every
// token the state takes whole. States holding the popped marker are
// recorded in pend (only cut stacks reach them). It is the hot loop of
// mask building: per edge, one look-up in the state's transition table,
// and the child's token and children read from the edge itself.
func (c *Constraint) walk(node, state int32, out []uint64, pend *pendSet) {
	g, ix := c.g, c.ix
	a := &g.a
	// The buffer is taken while walking: a slice's exits walk on inside.
	stack := append(c.walkBuf[:0], visit{node, state})
	c.walkBuf = nil
	for len(stack) > 0 && a.err == nil {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		next := a.states[v.state].next
		// Children are pushed last first, so that they are visited in
		// preorder, the order of the trie's arrays in memory.
		for i := ix.edgeOff[v.node+1] - 1; i >= ix.edgeOff[v.node]; i-- {
			e := &ix.edges[i]
			var n int32
			if next != nil {
				n = next[e.b]
			}
			if n == 0 {
				if g.step(v.state, e.b) == deadState {
					continue
				}
				next = a.states[v.state].next
				n = next[e.b]
			}
			if n < 0 {
				continue
			}
			ns := n&^poppedBit - 1
			if n&poppedBit != 0 {
				popOnly := len(a.states[ns].stacks) == 1
				pend.add(ix, e.child, popOnly)
				if popOnly {
					continue
				}
			}
			if e.tok >= 0 {
				out[e.tok>>6] |= 1 << (e.tok & 63)
				if e.more {
					for _, id := range ix.toks[ix.tokOff[e.child]:ix.tokOff[e.child+1]] {
						out[id>>6] |= 1 << (id & 63)
					}
				}
			}
			if e.kids {
				// A large subtree entered in a character loop (a key's
				// characters after its opening quote) is the loop's slice.
				if e.big && c.sliceSubtree(e.child, ns, false, out, pend) {
					continue
				}
				stack = append(stack, visit{e.child, ns})
			}
		}
	}
	c.walkBuf = stack[:0]
}

// minSliceNodes is the smallest subtree below the root that walk takes
// from a loop's slice rather than walking it.
const minSliceNodes = 64
