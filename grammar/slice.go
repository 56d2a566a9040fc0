package grammar

import (
	"math/bits"
	"slices"
	"unsafe"
)

// Slicing the vocabulary by character loops.
//
// Inside a string the grammar takes any character and comes back to the
// same state, and nearly every token is allowed: walking the whole trie for
// such a state costs milliseconds. But the walk only depends on a small
// automaton: the state, the states in the middle of a multi-byte character,
// and which bytes leave the loop. That automaton is the same in every JSON
// grammar's strings (and in keys, and in patterns' "any character" parts),
// so the Index walks the trie with it once per vocabulary and keeps the
// tokens that stay inside the loop, plus the trie edges that leave it. A
// mask then ORs those tokens in and walks on only from the exits (a
// closing quote, an escape), a small part of the trie.

// loopDFA is the character loop of a state: dstates[0] is the state, the
// others are the states inside a multi-byte character. next gives, per
// dstate and byte, the dstate it goes to, or loopDead or loopExit (a
// character ends in another state, or a byte leaves the loop).
type loopDFA struct {
	dstates []int32
	next    [][256]int16 // shared by every grammar's loops of this shape
	paths   [][]byte     // the bytes from dstates[0] to each dstate
	slice   *loopSlice   // the index's slice of this shape, once looked up
	sig     string       // see signature
}

const (
	loopDead = -1
	loopExit = -2
	// minLoopBytes is the fewest ASCII bytes a state must loop on to be
	// sliced; below it the plain walk is cheap anyway.
	minLoopBytes = 16
)

// utf8Rest is how many continuation bytes follow a lead byte (0: not a
// lead byte of a valid encoding).
func utf8Rest(b byte) int {
	switch {
	case b >= 0xC2 && b <= 0xDF:
		return 1
	case b >= 0xE0 && b <= 0xEF:
		return 2
	case b >= 0xF0 && b <= 0xF4:
		return 3
	}
	return 0
}

// loop returns the character loop of state s, or nil when s does not loop
// on at least minLoopBytes ASCII bytes. The lock is held.
func (g *Grammar) loop(s int32) *loopDFA {
	if g.a.states[s].popped {
		return nil
	}
	// Only first bytes can come back to s: give up as soon as too few of
	// them are left to make minLoopBytes (most states go elsewhere).
	f := &g.a.states[s].first
	left := bits.OnesCount64(f[0]) + bits.OnesCount64(f[1])
	for b := range 128 {
		if left < minLoopBytes {
			return nil
		}
		if f.has(byte(b)) && g.step(s, byte(b)) != s {
			left--
		}
	}
	if left < minLoopBytes {
		return nil
	}
	type key struct {
		state int32
		rest  int
	}
	d := &loopDFA{dstates: []int32{s}, paths: [][]byte{nil}}
	rests := []int{0}
	index := map[key]int16{{s, 0}: 0}
	for i := 0; i < len(d.dstates); i++ {
		d.next = append(d.next, [256]int16{})
		from, rest := d.dstates[i], rests[i]
		for b := range 256 {
			n := g.step(from, byte(b))
			t := int16(loopExit)
			switch {
			case n == deadState:
				t = loopDead
			case g.a.states[n].popped:
			case rest == 0 && n == s:
				t = 0
			case rest == 0 && utf8Rest(byte(b)) > 0 || rest > 1:
				r := rest - 1
				if rest == 0 {
					r = utf8Rest(byte(b))
				}
				k := key{n, r}
				j, ok := index[k]
				if !ok {
					if len(d.dstates) >= 64 {
						return nil // not a character loop after all
					}
					j = int16(len(d.dstates))
					index[k] = j
					d.dstates = append(d.dstates, n)
					d.paths = append(d.paths, append(slices.Clone(d.paths[i]), byte(b)))
					rests = append(rests, r)
				}
				t = j
			case rest == 1 && n == s:
				t = 0
			}
			d.next[i][b] = t
		}
	}
	return d
}

// signature identifies the loop's shape, whatever its states are.
func (d *loopDFA) signature() string {
	if d.sig == "" {
		d.sig = string(unsafe.Slice((*byte)(unsafe.Pointer(&d.next[0][0])), len(d.next)*256*2))
	}
	return d.sig
}

// loopSlice is what a character loop takes of a vocabulary: the tokens that
// stay inside it, and the edges that leave it, sorted by dstate and byte.
type loopSlice struct {
	ix     *Index
	within []uint64
	exits  []loopEdge
	// units[u] are the within tokens that start u characters (units) of
	// the loop, u ≥ 1: a counted repetition with k left takes units[1..k].
	units    [][]int32
	midExits bool // some exit leaves from inside a character
	// For walks that enter the loop below the root (a string's first
	// character, a key's, a key's pattern after its first match): the
	// nodes the slice's walk entered between characters (in dstate 0, so
	// that its walk below them is the loop state's), and the within tokens
	// (with their units) and the exits by node in preorder, so that a
	// subtree's are a range.
	entered   []uint64
	byNode    []nodeTok
	exitsNode []loopEdge
}

type nodeTok struct {
	node, tok int32
	units     uint8
}

type loopEdge struct {
	dstate int16
	b      byte
	units  uint8 // units started before the exit (saturating)
	edge   int32 // index in Index.edges
}

// slice returns the vocabulary's slice for a loop's shape, walking the trie
// once per shape and index.
func (ix *Index) slice(d *loopDFA) *loopSlice {
	if ls := ix.findSlice(d); ls != nil {
		return ls
	}
	ls := ix.makeSlice(d)
	d.slice = ls
	return ls
}

// findSlice returns the index's slice for a loop's shape if it has one.
func (ix *Index) findSlice(d *loopDFA) *loopSlice {
	if d.slice != nil && d.slice.ix == ix {
		return d.slice
	}
	ix.sharedMu.Lock()
	ls := ix.slices[d.signature()]
	ix.sharedMu.Unlock()
	d.slice = ls
	return ls
}

// makeSlice walks the trie with a loop's automaton and keeps the slice.
func (ix *Index) makeSlice(d *loopDFA) *loopSlice {
	sig := d.signature()
	nodes := len(ix.edgeOff) - 1
	ls := &loopSlice{ix: ix, within: make([]uint64, (ix.n+63)/64), entered: make([]uint64, (nodes+63)/64),
		byNode: make([]nodeTok, 0, len(ix.toks))}
	// Nodes are laid out in preorder, parents before children, so one pass
	// in memory order visits the trie: each node's dstate (plus one; 0 when
	// the walk does not reach it) and units are set by its parent, and the
	// subtree of a node not reached is skipped whole.
	reach := make([]int16, nodes)
	units := make([]uint8, nodes)
	reach[0] = 1
	for v := int32(0); v < int32(nodes); {
		ds := reach[v] - 1
		if ds < 0 {
			v = ix.end[v]
			continue
		}
		u := units[v]
		if v != 0 {
			if ds == 0 {
				ls.entered[v>>6] |= 1 << (v & 63)
			}
			for _, id := range ix.toks[ix.tokOff[v]:ix.tokOff[v+1]] {
				ls.within[id>>6] |= 1 << (id & 63)
				ls.byNode = append(ls.byNode, nodeTok{v, id, u})
			}
		}
		if ds == 0 && u < 255 {
			u++ // a character starts
		}
		next := &d.next[ds]
		for i := ix.edgeOff[v]; i < ix.edgeOff[v+1]; i++ {
			e := &ix.edges[i]
			switch t := next[e.b]; t {
			case loopDead:
			case loopExit:
				ls.exits = append(ls.exits, loopEdge{ds, e.b, units[v], i})
				ls.midExits = ls.midExits || ds != 0
			default:
				reach[e.child], units[e.child] = t+1, u
			}
		}
		v++
	}
	// The tokens by units, each list made at its size.
	var count [256]int
	top := 0
	for _, t := range ls.byNode {
		count[t.units]++
		top = max(top, int(t.units))
	}
	ls.units = make([][]int32, top+1)
	for u := range ls.units {
		ls.units[u] = make([]int32, 0, count[u])
	}
	for _, t := range ls.byNode {
		ls.units[t.units] = append(ls.units[t.units], t.tok)
	}
	ls.exitsNode = slices.Clone(ls.exits)
	slices.SortFunc(ls.exitsNode, func(a, b loopEdge) int { return int(ix.edges[a.edge].child - ix.edges[b.edge].child) })
	slices.SortFunc(ls.exits, func(a, b loopEdge) int {
		if a.dstate != b.dstate {
			return int(a.dstate) - int(b.dstate)
		}
		if a.b != b.b {
			return int(a.b) - int(b.b)
		}
		return int(a.edge - b.edge)
	})
	size := len(ls.within)*8 + len(ls.entered)*8 + (len(ls.exits)+len(ls.exitsNode))*12 + cap(ls.byNode)*12 + len(ls.byNode)*4
	ix.sharedMu.Lock()
	ix.reserve(size)
	ix.slices[sig] = ls
	ix.sharedMu.Unlock()
	return ls
}

// walkLoop is walk from the trie's root for a state with a character loop:
// the loop's tokens from the index's slice, then the plain walk from each
// edge that leaves the loop. The lock is held.
func (c *Constraint) walkLoop(d *loopDFA, out []uint64, pend *pendSet) {
	g, ix := c.g, c.ix
	ls := ix.slice(d)
	for i, w := range ls.within {
		out[i] |= w
	}
	for i := 0; i < len(ls.exits); {
		j := i
		for j < len(ls.exits) && ls.exits[j].dstate == ls.exits[i].dstate && ls.exits[j].b == ls.exits[i].b {
			j++
		}
		ns := g.step(d.dstates[ls.exits[i].dstate], ls.exits[i].b)
		if ns != deadState {
			for _, ex := range ls.exits[i:j] {
				c.edgeFrom(&ix.edges[ex.edge], ns, out, pend)
			}
		}
		i = j
	}
}

// edgeFrom takes the trie edge e into state ns, as one step of walk does,
// then walks on below it.
func (c *Constraint) edgeFrom(e *trieEdge, ns int32, out []uint64, pend *pendSet) {
	a := &c.g.a
	if st := &a.states[ns]; st.popped {
		popOnly := len(st.stacks) == 1
		pend.add(c.ix, e.child, popOnly)
		if popOnly {
			return
		}
	}
	if e.tok >= 0 {
		out[e.tok>>6] |= 1 << (e.tok & 63)
		if e.more {
			for _, id := range c.ix.toks[c.ix.tokOff[e.child]:c.ix.tokOff[e.child+1]] {
				out[id>>6] |= 1 << (id & 63)
			}
		}
	}
	if e.kids {
		c.walk(e.child, ns, out, pend)
	}
}

// chainOf returns the twin loop of state s when its stacks are inside a
// counted repetition's chain (x{m,n}, n-m ≥ minChain, after the first m),
// with the units the chain has left and a byte that is a whole unit; nil
// when s is not such a state. The lock is held.
func (g *Grammar) chainOf(s int32) (d *loopDFA, left int32, one byte) {
	a := &g.a
	if ch, ok := a.chainStates[s]; ok {
		return ch.d, ch.left, ch.one
	}
	a.chainStates[s] = chainState{}
	var twin int32 = -1
	left = -1
	var stacks []int32
	for _, l := range a.states[s].stacks {
		if l < 0 {
			return nil, 0, 0
		}
		// Rebuild the stack with the chain's frames moved into the twin.
		var chain []int32
		f := l
		for ; f != holeFrame && f != accepting; f = a.frames[f].parent {
			pos := a.frames[f].pos
			if ch, ok := g.chains[g.ruleOf[pos]]; ok {
				if twin >= 0 && (ch.twin != twin || ch.left != left) {
					return nil, 0, 0
				}
				twin, left = ch.twin, ch.left
				pos = g.rules[twin][0] + pos - g.rules[g.ruleOf[pos]][0]
			}
			chain = append(chain, pos)
		}
		t := f // the bottom: the hole, or accepting
		for i := len(chain) - 1; i >= 0; i-- {
			t = g.frame(chain[i], t)
		}
		stacks = append(stacks, t)
	}
	if twin < 0 {
		return nil, 0, 0
	}
	if d = g.loop(g.intern(stacks)); d == nil {
		return nil, 0, 0
	}
	for b := range 128 {
		if d.next[0][b] == 0 {
			a.chainStates[s] = chainState{d, left, byte(b)}
			return d, left, byte(b)
		}
	}
	return nil, 0, 0
}

type chainState struct {
	d    *loopDFA
	left int32
	one  byte
}

// chainLocal is the local mask of a state inside a counted repetition's
// chain (see chainOf): the chain imitates its twin loop, so the loop's
// slice serves, limited to tokens of at most as many units as the chain
// has left, with each exit taken from the chain's state after that many
// units. It returns nil when s is not such a state. The lock is held.
func (c *Constraint) chainLocal(s int32) *localMask {
	d, left, one := c.g.chainOf(s)
	if d == nil {
		return nil
	}
	ls := c.ix.slice(d)
	if ls.midExits {
		return nil
	}
	lm := &localMask{bits: make([]uint64, (c.ix.n+63)/64)}
	if int(left) >= len(ls.units)-1 {
		copy(lm.bits, ls.within)
	} else {
		for _, toks := range ls.units[1 : left+1] {
			for _, id := range toks {
				lm.bits[id>>6] |= 1 << (id & 63)
			}
		}
	}
	c.chainExits(s, left, one, ls.exits, 0, lm.bits, &lm.pend)
	lm.compact()
	return lm
}

// chainExits walks on from the exits of a chain's slice: an exit after u
// units (less skip, units taken before the walk got to the slice's part)
// leaves from the chain's state after u-skip units, if the chain still
// has them.
func (c *Constraint) chainExits(s, left int32, one byte, exits []loopEdge, skip int, out []uint64, pend *pendSet) {
	g := c.g
	states := []int32{s} // the chain's states after 0, 1, … units
	for _, ex := range exits {
		u := int(ex.units) - skip
		if u < 0 || u > int(left) {
			continue
		}
		for len(states) <= u {
			states = append(states, g.step(states[len(states)-1], one))
		}
		if states[u] == deadState {
			continue
		}
		if ns := g.step(states[u], ex.b); ns != deadState {
			c.edgeFrom(&c.ix.edges[ex.edge], ns, out, pend)
		}
	}
}

// walkRoot is walk from the trie's root for a state that is neither a loop
// nor a chain but may become one after its first byte (a string's first,
// mandatory character; the first character of a key that must not be a
// declared one): a child of the root whose state is a loop or a chain, and
// that the loop's slice entered inside the loop too, takes its subtree
// from the slice. The lock is held.
func (c *Constraint) walkRoot(s int32, out []uint64, pend *pendSet) {
	if c.walkLike(s, out, pend) {
		return
	}
	g, ix := c.g, c.ix
	a := &g.a
	for i := ix.edgeOff[0]; i < ix.edgeOff[1]; i++ {
		e := &ix.edges[i]
		ns := g.step(s, e.b)
		if ns == deadState {
			continue
		}
		if e.kids && !a.states[ns].popped && c.sliceBelow(e, ns, out, pend) {
			continue
		}
		c.edgeFrom(e, ns, out, pend)
	}
}

// sliceBelow takes the subtree of a root edge e into state ns from a loop's
// slice (see sliceSubtree), with the tokens that end at e's child; it
// reports whether it did.
func (c *Constraint) sliceBelow(e *trieEdge, ns int32, out []uint64, pend *pendSet) bool {
	if !c.sliceSubtree(e.child, ns, true, out, pend) {
		return false
	}
	for _, id := range c.ix.toks[c.ix.tokOff[e.child]:c.ix.tokOff[e.child+1]] {
		out[id>>6] |= 1 << (id & 63)
	}
	return true
}

// sliceSubtree takes what lies strictly below trie node n, entered in state
// ns, from a loop's slice, when ns is a loop whose slice entered n between
// characters, or (root: n is a child of the root) a chain whose twin loop's
// slice did: the slice's walk below n is then the walk from ns. A slice is
// a walk of the whole trie: below the root's children one is made only for
// a subtree of at least a sixteenth of the trie. It reports whether it did.
func (c *Constraint) sliceSubtree(n, ns int32, root bool, out []uint64, pend *pendSet) bool {
	g, ix := c.g, c.ix
	d := c.loopOf(ns)
	left, one := int32(-1), byte(0) // -1: a loop, no limit
	if d == nil {
		if !root {
			return false
		}
		if d, left, one = g.chainOf(ns); d == nil {
			return false
		}
	}
	var ls *loopSlice
	if root || 16*(ix.end[n]-n) >= int32(len(ix.edgeOff)) {
		ls = ix.slice(d)
	} else if ls = ix.findSlice(d); ls == nil {
		return false
	}
	if ls.entered[n>>6]&(1<<(n&63)) == 0 || left >= 0 && ls.midExits {
		return false
	}
	lo, hi := n+1, ix.end[n]
	byNode := func(x nodeTok, n int32) int { return int(x.node - n) }
	i, _ := slices.BinarySearchFunc(ls.byNode, lo, byNode)
	j, _ := slices.BinarySearchFunc(ls.byNode, hi, byNode)
	if left < 0 {
		for _, t := range ls.byNode[i:j] {
			out[t.tok>>6] |= 1 << (t.tok & 63)
		}
	} else {
		for _, t := range ls.byNode[i:j] {
			// The slice counted the root edge's byte as a unit; ns has it behind.
			if int32(t.units)-1 <= left {
				out[t.tok>>6] |= 1 << (t.tok & 63)
			}
		}
	}
	byChild := func(x loopEdge, n int32) int { return int(ix.edges[x.edge].child - n) }
	i, _ = slices.BinarySearchFunc(ls.exitsNode, lo, byChild)
	j, _ = slices.BinarySearchFunc(ls.exitsNode, hi, byChild)
	if left < 0 {
		for _, ex := range ls.exitsNode[i:j] {
			if st := g.step(d.dstates[ex.dstate], ex.b); st != deadState {
				c.edgeFrom(&ix.edges[ex.edge], st, out, pend)
			}
		}
	} else {
		c.chainExits(ns, left, one, ls.exitsNode[i:j], 1, out, pend)
	}
	return true
}

// loopOf returns the character loop of state s, computed once per state
// and, through the index, once per shape: a state whose signature was met
// before (every JSON grammar's strings) takes the shape's transitions and
// finds its own dstates by stepping their paths. The lock is held.
func (c *Constraint) loopOf(s int32) *loopDFA {
	g := c.g
	a := &g.a
	if d, ok := a.loops[s]; ok {
		return d
	}
	var d *loopDFA
	f := &a.states[s].first
	if !a.states[s].popped && bits.OnesCount64(f[0])+bits.OnesCount64(f[1]) >= minLoopBytes {
		sig := g.stateSignature(s)
		if sh, ok := c.ix.loopShape(sig); ok {
			if sh != nil {
				d = &loopDFA{next: sh.next, paths: sh.paths, sig: sh.sig}
				for _, p := range sh.paths {
					d.dstates = append(d.dstates, g.stepBytes(s, p))
				}
			}
		} else {
			d = g.loop(s)
			if sig != "" && a.err == nil {
				c.ix.keepLoopShape(sig, d)
			}
		}
	}
	a.loops[s] = d
	return d
}

// minLikeChildren is the fewest root children that must behave as a
// loop's for walkLike to use the loop's slice.
const minLikeChildren = 64

// walkLike is walk from the trie's root for a state s that is not a loop
// but moves as one on most first bytes: a key that must not be one of the
// declared names, which leaves the string loop only on the names' first
// bytes. Below a root child where s steps where the loop state L steps,
// the trie is walked as from L, so the loop's slice holds the answer: the
// mask starts as the slice's tokens, the subtrees of the other children
// are taken out and walked from s, and the slice's exits below the alike
// children are walked on. It reports whether it applied. The lock is held.
func (c *Constraint) walkLike(s int32, out []uint64, pend *pendSet) bool {
	g, ix := c.g, c.ix
	a := &g.a
	// L: the loop state most root children step to.
	count := map[int32]int{}
	best, bestN := int32(-1), 0
	for i := ix.edgeOff[0]; i < ix.edgeOff[1]; i++ {
		ns := g.step(s, ix.edges[i].b)
		if ns == deadState || a.states[ns].popped {
			continue
		}
		if count[ns]++; count[ns] > bestN {
			best, bestN = ns, count[ns]
		}
	}
	if bestN < minLikeChildren {
		return false
	}
	d := c.loopOf(best)
	if d == nil {
		return false
	}
	ls := ix.slice(d)
	L := d.dstates[0]
	var unlike []int32 // root edges walked from s
	alike := 0
	for i := ix.edgeOff[0]; i < ix.edgeOff[1]; i++ {
		b := ix.edges[i].b
		if g.step(s, b) == g.step(L, b) {
			alike++
		} else {
			unlike = append(unlike, i)
		}
	}
	if alike < minLikeChildren || a.err != nil {
		return false
	}
	for i, w := range ls.within {
		out[i] |= w
	}
	byNode := func(x nodeTok, n int32) int { return int(x.node - n) }
	for _, i := range unlike {
		e := &ix.edges[i]
		lo, hi := e.child, ix.end[e.child]
		j, _ := slices.BinarySearchFunc(ls.byNode, lo, byNode)
		k, _ := slices.BinarySearchFunc(ls.byNode, hi, byNode)
		for _, t := range ls.byNode[j:k] {
			out[t.tok>>6] &^= 1 << (t.tok & 63)
		}
	}
	// The slice's exits, but for those below unlike children.
	skip := func(child int32) bool {
		for _, i := range unlike {
			e := &ix.edges[i]
			if child >= e.child && child < ix.end[e.child] {
				return true
			}
		}
		return false
	}
	for _, ex := range ls.exits {
		e := &ix.edges[ex.edge]
		if len(unlike) > 0 && skip(e.child) {
			continue
		}
		if st := g.step(d.dstates[ex.dstate], ex.b); st != deadState {
			c.edgeFrom(e, st, out, pend)
		}
	}
	// The unlike children, from s.
	for _, i := range unlike {
		e := &ix.edges[i]
		if ns := g.step(s, e.b); ns != deadState {
			c.edgeFrom(e, ns, out, pend)
		}
	}
	return true
}
