package grammar

import (
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
	next    [][256]int16
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
	ascii := 0
	for b := range 128 {
		if g.step(s, byte(b)) == s && !g.a.states[s].popped {
			ascii++
		}
	}
	if ascii < minLoopBytes {
		return nil
	}
	type key struct {
		state int32
		rest  int
	}
	d := &loopDFA{dstates: []int32{s}}
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
	return string(unsafe.Slice((*byte)(unsafe.Pointer(&d.next[0][0])), len(d.next)*256*2))
}

// loopSlice is what a character loop takes of a vocabulary: the tokens that
// stay inside it, and the edges that leave it, sorted by dstate and byte.
type loopSlice struct {
	within []uint64
	exits  []loopEdge
	// units[u] are the within tokens that start u characters (units) of
	// the loop, u ≥ 1: a counted repetition with k left takes units[1..k].
	units    [][]int32
	midExits bool // some exit leaves from inside a character
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
	sig := "loop:" + d.signature()
	ix.sharedMu.Lock()
	ls := ix.slices[sig]
	ix.sharedMu.Unlock()
	if ls != nil {
		return ls
	}
	ls = &loopSlice{within: make([]uint64, (ix.n+63)/64)}
	type visit struct {
		node   int32
		dstate int16
		units  uint8
	}
	stack := []visit{{0, 0, 0}}
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		next := &d.next[v.dstate]
		for i := ix.edgeOff[v.node+1] - 1; i >= ix.edgeOff[v.node]; i-- {
			e := &ix.edges[i]
			switch t := next[e.b]; t {
			case loopDead:
			case loopExit:
				ls.exits = append(ls.exits, loopEdge{v.dstate, e.b, v.units, i})
				ls.midExits = ls.midExits || v.dstate != 0
			default:
				u := v.units
				if v.dstate == 0 && u < 255 {
					u++ // a character starts
				}
				for len(ls.units) <= int(u) {
					ls.units = append(ls.units, nil)
				}
				for _, id := range ix.toks[ix.tokOff[e.child]:ix.tokOff[e.child+1]] {
					ls.within[id>>6] |= 1 << (id & 63)
					ls.units[u] = append(ls.units[u], id)
				}
				if e.kids {
					stack = append(stack, visit{e.child, t, u})
				}
			}
		}
	}
	slices.SortFunc(ls.exits, func(a, b loopEdge) int {
		if a.dstate != b.dstate {
			return int(a.dstate) - int(b.dstate)
		}
		if a.b != b.b {
			return int(a.b) - int(b.b)
		}
		return int(a.edge - b.edge)
	})
	ix.sharedMu.Lock()
	if ix.slices == nil || ix.sharedBytes+len(ls.within)*8+len(ls.exits)*8 > sharedBudget {
		ix.slices = map[string]*loopSlice{}
	}
	ix.slices[sig] = ls
	ix.sharedBytes += len(ls.within)*8 + len(ls.exits)*8
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

// chainLocal is the local mask of state s when its stacks are inside a
// counted repetition's chain (x{m,n}, n-m ≥ minChain, after the first m):
// the chain imitates its twin loop, so the loop's slice serves, limited to
// tokens of at most as many units as the chain has left, with each exit
// taken from the chain's state after that many units. It returns nil when
// s is not such a state. The lock is held.
func (c *Constraint) chainLocal(s int32) *localMask {
	g, ix := c.g, c.ix
	a := &g.a
	var twin, left int32 = -1, -1
	var stacks []int32
	for _, l := range a.states[s].stacks {
		if l < 0 {
			return nil
		}
		// Rebuild the stack with the chain's frames moved into the twin.
		var chain []int32
		f := l
		for ; f != holeFrame && f != accepting; f = a.frames[f].parent {
			pos := a.frames[f].pos
			if ch, ok := g.chains[g.ruleOf[pos]]; ok {
				if twin >= 0 && (ch.twin != twin || ch.left != left) {
					return nil
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
		return nil
	}
	d := g.loop(g.intern(stacks))
	if d == nil {
		return nil
	}
	one := -1 // a byte that is a whole unit
	for b := range 128 {
		if d.next[0][b] == 0 {
			one = b
			break
		}
	}
	if one < 0 {
		return nil
	}
	ls := ix.slice(d)
	if ls.midExits {
		return nil
	}
	lm := &localMask{bits: make([]uint64, (ix.n+63)/64)}
	if int(left) >= len(ls.units)-1 {
		copy(lm.bits, ls.within)
	} else {
		for _, toks := range ls.units[1 : left+1] {
			for _, id := range toks {
				lm.bits[id>>6] |= 1 << (id & 63)
			}
		}
	}
	// The chain's states after 0, 1, … units, for the exits.
	states := []int32{s}
	for i := 0; i < len(ls.exits); {
		j := i
		for j < len(ls.exits) && ls.exits[j].b == ls.exits[i].b {
			j++
		}
		for _, ex := range ls.exits[i:j] {
			u := int(ex.units)
			if u > int(left) {
				continue
			}
			for len(states) <= u {
				states = append(states, g.step(states[len(states)-1], byte(one)))
			}
			if states[u] == deadState {
				continue
			}
			if ns := g.step(states[u], ex.b); ns != deadState {
				c.edgeFrom(&ix.edges[ex.edge], ns, lm.bits, &lm.pend)
			}
		}
		i = j
	}
	return lm
}
