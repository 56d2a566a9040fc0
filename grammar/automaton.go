package grammar

import (
	"errors"
	"slices"
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
)

// ErrTooComplex is returned when a grammar needs more parser states than
// the limits allow.
var ErrTooComplex = errors.New("grammar: the grammar needs too many parser states (simplify it)")

// accepting is the empty stack: the parse is complete.
const accepting = -1

// Transition table entries: 0 not computed yet, dead, or state+1.
const deadState = -1

type frame struct{ pos, parent int32 }

type stateInfo struct {
	stacks []int32 // terminal-topped stacks, ascending; accepting (-1) first if present
	next   *[256]int32
	accept bool
	tokens bool // some stack waits for a token (eToken, eNotToken)
	first  byteSet
}

type automaton struct {
	mu       sync.Mutex
	frames   []frame
	frameIdx map[frame]int32
	expanded map[frame][]int32
	states   []stateInfo
	stateIdx map[string]int32
	start    int32
	scratch  []int32
	keyBuf   []byte
	err      error
}

func (g *Grammar) initAutomaton() {
	a := &g.a
	a.frameIdx = map[frame]int32{}
	a.expanded = map[frame][]int32{}
	a.stateIdx = map[string]int32{}
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
		if parent == accepting {
			r = []int32{accepting}
		} else {
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
	key := unsafe.Slice((*byte)(unsafe.Pointer(&stacks[0])), len(stacks)*4)
	if i, ok := a.stateIdx[string(key)]; ok {
		return i
	}
	if len(a.states) >= maxStates {
		a.err = ErrTooComplex
	}
	st := stateInfo{stacks: slices.Clone(stacks)}
	for _, s := range st.stacks {
		if s == accepting {
			st.accept = true
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
				return n - 1
			}
			return deadState
		}
	} else if !st.first.has(c) {
		return deadState
	}
	out := a.scratch[:0]
	if st.first.has(c) {
		for _, id := range st.stacks {
			if id == accepting {
				continue
			}
			f := a.frames[id]
			if e := g.elems[f.pos]; e.kind == eBytes && g.sets[e.arg].has(c) {
				out = g.expand(out, f.pos+1, f.parent)
			}
		}
	}
	n := g.intern(out)
	a.scratch = out[:0]
	st = &a.states[s] // intern may have grown the table
	if st.next == nil {
		st.next = new([256]int32)
	}
	if n == deadState {
		st.next[c] = deadState
	} else {
		st.next[c] = n + 1
	}
	return n
}

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
		if sid == accepting {
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
		if st = g.step(st, s[i]); st == deadState {
			return false
		}
	}
	return g.a.states[st].accept
}
