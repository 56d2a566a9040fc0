package grammar

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"unsafe"
)

// The matcher is a pushdown automaton over bytes, run on every parse at
// once, as llama.cpp's grammar sampler does: a state is the set of stacks of
// the parses still alive. A stack is a chain of frames; its top frame is the
// element to match next (always a terminal: a byte set or a token), the
// frames below are where to go on once the rule above ends. Frames are
// hash-consed into a table, so a stack is one int32, shared tails are
// shared, and a state is a sorted list of stack ids, itself interned.
//
// Everything computed is kept: the expansion of a frame into the
// terminal-topped stacks it stands for, each state's transition on each
// byte, and (per vocabulary, see Constraint) each state's token mask. A
// grammar's states recur as generation goes on (the inside of a string,
// the place after a comma), so after a short warm-up a step costs a few
// table look-ups per byte. The tables belong to the Grammar and are shared
// by every Matcher of it, behind a mutex.

// Limits on the automaton's tables, so that a hostile grammar cannot take
// all memory: past them a step fails with ErrTooComplex.
const (
	maxFrames = 4 << 20
	maxStates = 1 << 20
	// maxStacks bounds the parses alive at once: an ambiguous grammar such
	// as ("a"{0,99}){0,99} keeps thousands of ways to split its input.
	maxStacks = 4096
)

// ErrTooComplex is returned when a grammar needs more parser states than
// the limits allow.
var ErrTooComplex = errors.New("grammar: the grammar needs too many parser states (simplify it)")

// accepting is the empty stack: the parse is complete.
const accepting = -1

// Masks are built per stack, cut below its innermost frame in a rule of
// the source (see Constraint): the frames above the cut decide most
// tokens, whatever lies below. The cut-off part is replaced by the hole
// frame, and a stack that returns into the hole becomes the popped marker:
// "the rest of the stack takes over here".
const (
	holeFrame = 0
	popped    = -2
)

// Transition table entries: 0 not computed yet, dead, or state+1.
const deadState = -1

type frame struct{ pos, parent int32 }

type stateInfo struct {
	stacks []int32 // terminal-topped stacks, ascending; popped (-2) and accepting (-1) first
	next   *[256]int32
	accept bool
	popped bool // holds the popped marker (only in states of cut stacks)
	tokens bool // some stack waits for a token (eToken, eNotToken)
	first  byteSet
}

type automaton struct {
	mu          sync.Mutex
	frames      []frame
	frameIdx    map[frame]int32
	expanded    map[frame][]int32
	cuts        map[int32]cut        // each stack cut below its innermost source-rule frame
	below       map[int32]int32      // the state of each frame below a cut
	sigs        map[int32]string     // the signature of each cut stack (see signature)
	ruleHashes  []ruleHash           // each rule's hash, once a signature is asked for
	loops       map[int32]*loopDFA   // each state's character loop, nil if none
	chainStates map[int32]chainState // each state's chain, if any (see chainOf)
	states      []stateInfo
	stateIdx    map[string]int32
	start       int32
	scratch     []int32
	keyBuf      []byte
	err         error
}

func (g *Grammar) initAutomaton() {
	a := &g.a
	a.frameIdx = map[frame]int32{}
	a.expanded = map[frame][]int32{}
	a.stateIdx = map[string]int32{}
	a.cuts = map[int32]cut{}
	a.below = map[int32]int32{}
	a.sigs = map[int32]string{}
	a.loops = map[int32]*loopDFA{}
	a.chainStates = map[int32]chainState{}
	g.frame(-1, -1) // holeFrame
	var s []int32
	for _, alt := range g.rules[g.root] {
		s = g.expand(s, alt, accepting)
	}
	a.start = g.intern(s)
}

func (g *Grammar) frame(pos, parent int32) int32 {
	a := &g.a
	f := frame{pos, parent}
	if i, ok := a.frameIdx[f]; ok {
		return i
	}
	if len(a.frames) >= maxFrames {
		a.err = ErrTooComplex
	}
	i := int32(len(a.frames))
	a.frames = append(a.frames, f)
	a.frameIdx[f] = i
	return i
}

// expand appends to dst the terminal-topped stacks (or accepting) that the
// stack "element pos, then parent" stands for.
func (g *Grammar) expand(dst []int32, pos, parent int32) []int32 {
	a := &g.a
	f := frame{pos, parent}
	if r, ok := a.expanded[f]; ok {
		return append(dst, r...)
	}
	var r []int32
	switch e := g.elems[pos]; e.kind {
	case eEnd:
		switch parent {
		case accepting:
			r = []int32{accepting}
		case holeFrame:
			r = []int32{popped}
		default:
			pf := a.frames[parent]
			r = g.expand(nil, pf.pos, pf.parent)
		}
	case eRef:
		ret := parent
		if g.elems[pos+1].kind != eEnd {
			ret = g.frame(pos+1, parent)
		} // else: the call is the last thing, so the rule returns straight to parent
		for _, alt := range g.rules[e.arg] {
			r = g.expand(r, alt, ret)
		}
	default:
		r = []int32{g.frame(pos, parent)}
	}
	a.expanded[f] = r
	return append(dst, r...)
}

// intern returns the state of a set of stacks (in any order, repeats
// allowed), or deadState when it is empty.
func (g *Grammar) intern(stacks []int32) int32 {
	if len(stacks) == 0 {
		return deadState
	}
	a := &g.a
	slices.Sort(stacks)
	stacks = slices.Compact(stacks)
	if len(stacks) > maxStacks {
		a.err = ErrTooComplex
		return deadState
	}
	key := unsafe.Slice((*byte)(unsafe.Pointer(&stacks[0])), len(stacks)*4)
	if i, ok := a.stateIdx[string(key)]; ok {
		return i
	}
	if len(a.states) >= maxStates {
		a.err = ErrTooComplex
	}
	st := stateInfo{stacks: slices.Clone(stacks)}
	for _, s := range st.stacks {
		switch s {
		case accepting:
			st.accept = true
			continue
		case popped:
			st.popped = true
			continue
		}
		switch e := g.elems[a.frames[s].pos]; e.kind {
		case eBytes:
			set := &g.sets[e.arg]
			for i := range st.first {
				st.first[i] |= set[i]
			}
		default:
			st.tokens = true
		}
	}
	i := int32(len(a.states))
	a.states = append(a.states, st)
	a.stateIdx[string(key)] = i
	return i
}

// step returns the state after byte c in state s (deadState if none).
func (g *Grammar) step(s int32, c byte) int32 {
	a := &g.a
	st := &a.states[s]
	if st.next != nil {
		if n := st.next[c]; n != 0 {
			if n > 0 {
				return n&^poppedBit - 1
			}
			return deadState
		}
	}
	if !st.first.has(c) {
		// No stack takes c: dead, without interning the empty set.
		if st.next != nil {
			st.next[c] = deadState
		}
		return deadState
	}
	out := a.scratch[:0]
	for _, id := range st.stacks {
		if id < 0 {
			continue
		}
		f := a.frames[id]
		if e := g.elems[f.pos]; e.kind == eBytes && g.sets[e.arg].has(c) {
			out = g.expand(out, f.pos+1, f.parent)
		}
	}
	n := g.intern(out)
	a.scratch = out[:0]
	st = &a.states[s] // intern may have grown the table
	if st.next == nil {
		st.next = new([256]int32)
	}
	switch {
	case n == deadState:
		st.next[c] = deadState
	case a.states[n].popped:
		st.next[c] = (n + 1) | poppedBit
	default:
		st.next[c] = n + 1
	}
	return n
}

// poppedBit marks a transition table entry whose state holds the popped
// marker, so that the mask walk need not look the state up.
const poppedBit = 1 << 30

// stepBytes runs b from state s.
func (g *Grammar) stepBytes(s int32, b []byte) int32 {
	for _, c := range b {
		if s = g.step(s, c); s == deadState {
			return deadState
		}
	}
	return s
}

// stepToken returns the state after a token that the grammar names (eToken
// or eNotToken elements), given its resolved id, or deadState.
func (g *Grammar) stepToken(s int32, id int32, ids []int32) int32 {
	a := &g.a
	st := &a.states[s]
	if !st.tokens {
		return deadState
	}
	out := a.scratch[:0]
	for _, sid := range st.stacks {
		if sid < 0 {
			continue
		}
		f := a.frames[sid]
		e := g.elems[f.pos]
		if e.kind == eToken && ids[e.arg] == id || e.kind == eNotToken && ids[e.arg] != id {
			out = g.expand(out, f.pos+1, f.parent)
		}
	}
	n := g.intern(out)
	a.scratch = out[:0]
	return n
}

// union returns the state holding the stacks of both x and y.
func (g *Grammar) union(x, y int32) int32 {
	switch {
	case x == deadState:
		return y
	case y == deadState || x == y:
		return x
	}
	a := &g.a
	out := append(append(a.scratch[:0], a.states[x].stacks...), a.states[y].stacks...)
	n := g.intern(out)
	a.scratch = out[:0]
	return n
}

// MatchString reports whether the whole of s is a sentence of the grammar
// (tokens the grammar names with <...> never match text).
func (g *Grammar) MatchString(s string) bool {
	g.a.mu.Lock()
	defer g.a.mu.Unlock()
	st := g.a.start
	for i := 0; i < len(s); i++ {
		if st = g.step(st, s[i]); st == deadState || g.a.err != nil {
			return false
		}
	}
	return g.a.states[st].accept
}

// markLexical finds the source rules that only spell out characters, as
// char, hex or ws do: rules that are not recursive and call only generated
// rules and other such rules. A stack is not cut inside them, so that a
// string's characters and its escapes (a char rule's alternatives) fall
// under the same cut and make one loop.
func (g *Grammar) markLexical() {
	n := len(g.rules)
	g.lexical = make([]bool, n)
	state := make([]uint8, n) // 0 new, 1 on the path, 2 done
	only := make([]bool, n)   // the rule only spells characters
	var visit func(r int32) bool
	visit = func(r int32) bool {
		switch state[r] {
		case 1:
			return false // recursive
		case 2:
			return only[r]
		}
		state[r] = 1
		ok := true
		for _, start := range g.rules[r] {
			for p := start; g.elems[p].kind != eEnd; p++ {
				if e := g.elems[p]; e.kind == eRef && !visit(e.arg) {
					ok = false
				}
			}
		}
		state[r], only[r] = 2, ok
		return ok
	}
	for r := range int32(g.userRules) {
		g.lexical[r] = r != g.root && visit(r)
	}
}

// cut is a stack cut below its innermost frame in a source rule: local is
// the stack with the part below replaced by the hole, rest the frame below
// (accepting at the bottom). When no frame is in a source rule, local is
// the stack itself and rest is unused (noRest).
type cut struct{ local, rest int32 }

const noRest = -3

// cutStack returns the cut of terminal-topped stack s.
func (g *Grammar) cutStack(s int32) cut {
	a := &g.a
	if c, ok := a.cuts[s]; ok {
		return c
	}
	var chain []int32 // positions from the top down to the cut frame
	c := cut{local: s, rest: noRest}
	for f := s; f != accepting; f = a.frames[f].parent {
		fr := a.frames[f]
		chain = append(chain, fr.pos)
		if r := g.ruleOf[fr.pos]; r < int32(g.userRules) && !g.lexical[r] {
			c.rest = fr.parent
			l := int32(holeFrame)
			for i := len(chain) - 1; i >= 0; i-- {
				l = g.frame(chain[i], l)
			}
			c.local = l
			break
		}
	}
	a.cuts[s] = c
	return c
}

// belowState returns the state that frame f (or accepting) stands for.
func (g *Grammar) belowState(f int32) int32 {
	a := &g.a
	if s, ok := a.below[f]; ok {
		return s
	}
	var st []int32
	if f == accepting {
		st = []int32{accepting}
	} else {
		fr := a.frames[f]
		st = g.expand(nil, fr.pos, fr.parent)
	}
	s := g.intern(st)
	a.below[f] = s
	return s
}

// stateSignature is the signature of a state of cut stacks: their
// signatures, sorted ("" when one has none).
func (g *Grammar) stateSignature(s int32) string {
	var sigs []string
	for _, l := range g.a.states[s].stacks {
		sig := g.signature(l)
		if sig == "" {
			return ""
		}
		sigs = append(sigs, sig)
	}
	slices.Sort(sigs)
	var b strings.Builder
	for _, sig := range slices.Compact(sigs) {
		n := len(sig)
		b.Write([]byte{byte(n), byte(n >> 8), byte(n >> 16), byte(n >> 24)})
		b.WriteString(sig)
	}
	return b.String()
}
