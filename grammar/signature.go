package grammar

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
)

// Signatures name what a cut stack does, whatever grammar it is in, so
// that what is computed for one grammar serves every other one with the
// same parts (every JSON grammar's strings, numbers and values): a cut
// stack's tokens depend on its frames' rules, on everything those rules
// can reach, and on the frames' places in them, and on nothing else.
//
// A rule's hash covers the rule and all it reaches, Merkle-style: a rule
// that is not recursive hashes its elements with each called rule's hash
// in place of the call, so each rule is hashed once. The rules of a cycle
// (a JSON value inside an array inside a value) cannot wait for each
// other's hashes: the cycle is written out whole (see hashComponent), calls
// out of it again by hash. A rule that can reach a token reference (whose
// meaning depends on the vocabulary) or a cycle larger than maxCycle
// elements gets no hash, and stacks that use it no signature ("").

// maxCycle bounds the elements of a cycle of rules that is hashed.
const maxCycle = 1 << 16

type ruleHash struct {
	sum [sha256.Size]byte
	ok  bool
}

// hashRules computes every rule's hash. The lock is held.
func (g *Grammar) hashRules() {
	n := len(g.rules)
	g.a.ruleHashes = make([]ruleHash, n)
	// Tarjan's algorithm finds the cycles, callees first, so a cycle's
	// calls out of it are hashed before it.
	index := make([]int32, n)
	low := make([]int32, n)
	onStack := make([]bool, n)
	comp := make([]int32, n) // the cycle (component) of each rule
	for i := range index {
		index[i] = -1
	}
	var stack []int32
	next, comps := int32(0), int32(0)
	var visit func(r int32)
	visit = func(r int32) {
		index[r], low[r] = next, next
		next++
		stack = append(stack, r)
		onStack[r] = true
		g.callees(r, func(c int32) {
			switch {
			case index[c] < 0:
				visit(c)
				low[r] = min(low[r], low[c])
			case onStack[c]:
				low[r] = min(low[r], index[c])
			}
		})
		if low[r] != index[r] {
			return
		}
		var members []int32
		for {
			m := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[m] = false
			comp[m] = comps
			members = append(members, m)
			if m == r {
				break
			}
		}
		comps++
		g.hashComponent(members, comp)
	}
	for r := range int32(n) {
		if index[r] < 0 {
			visit(r)
		}
	}
}

// callees calls f with each rule that rule r calls.
func (g *Grammar) callees(r int32, f func(int32)) {
	for _, start := range g.rules[r] {
		for p := start; g.elems[p].kind != eEnd; p++ {
			if e := g.elems[p]; e.kind == eRef {
				f(e.arg)
			}
		}
	}
}

// hashComponent hashes the rules of one cycle (or one rule that is not
// recursive), whose calls out of it are hashed already. A cycle is written
// out once, its rules numbered in the order met from a start chosen by
// content alone (the rule whose own elements hash lowest; among equals,
// the one whose writing comes first), and each rule's hash is the cycle's
// with the rule's number.
func (g *Grammar) hashComponent(members []int32, comp []int32) {
	h := g.a.ruleHashes
	c := comp[members[0]]
	size := 0
	for _, r := range members {
		for _, start := range g.rules[r] {
			for p := start; ; p++ {
				size++
				e := g.elems[p]
				if e.kind == eEnd {
					break
				}
				if e.kind == eToken || e.kind == eNotToken ||
					e.kind == eRef && comp[e.arg] != c && !h[e.arg].ok {
					return // no hash for any of them
				}
			}
		}
	}
	if len(members) > 1 && size > maxCycle {
		return
	}
	// write appends rule r's elements, calls within the cycle numbered by
	// num (nil: left unnumbered), to b.
	write := func(b []byte, r int32, num func(int32) uint32) []byte {
		put := func(v uint32) { b = binary.LittleEndian.AppendUint32(b, v) }
		put(0xFFFFFFFF)
		for _, start := range g.rules[r] {
			put(0xFFFFFFFE)
			for p := start; g.elems[p].kind != eEnd; p++ {
				switch e := g.elems[p]; {
				case e.kind == eBytes:
					put(2)
					for _, w := range g.sets[e.arg] {
						b = binary.LittleEndian.AppendUint64(b, w)
					}
				case comp[e.arg] == c:
					put(1)
					if num != nil {
						put(num(e.arg))
					}
				default:
					put(3)
					b = append(b, h[e.arg].sum[:]...)
				}
			}
		}
		return b
	}
	if len(members) == 1 && !g.recursive(members[0]) {
		h[members[0]] = ruleHash{sha256.Sum256(write(nil, members[0], nil)), true}
		return
	}
	// The starts: the members whose own elements hash lowest.
	var starts []int32
	var low [sha256.Size]byte
	for i, r := range members {
		own := sha256.Sum256(write(nil, r, nil))
		switch cmp := bytes.Compare(own[:], low[:]); {
		case i == 0 || cmp < 0:
			starts, low = append(starts[:0], r), own
		case cmp == 0:
			starts = append(starts, r)
		}
	}
	var best []byte
	var bestNum map[int32]uint32
	for _, from := range starts {
		num := map[int32]uint32{from: 0}
		order := []int32{from}
		number := func(r int32) uint32 {
			k, ok := num[r]
			if !ok {
				k = uint32(len(order))
				num[r] = k
				order = append(order, r)
			}
			return k
		}
		var b []byte
		for i := 0; i < len(order); i++ {
			b = write(b, order[i], number)
		}
		if best == nil || bytes.Compare(b, best) < 0 {
			best, bestNum = b, num
		}
	}
	cycle := sha256.Sum256(best)
	for _, r := range members {
		sum := sha256.Sum256(binary.LittleEndian.AppendUint32(cycle[:], bestNum[r]))
		h[r] = ruleHash{sum, true}
	}
}

// recursive reports whether rule r calls itself.
func (g *Grammar) recursive(r int32) bool {
	self := false
	g.callees(r, func(c int32) { self = self || c == r })
	return self
}

// signature names the automaton cut stack l runs until it falls into the
// hole: each frame's rule hash and place in its rule, and the bottom (the
// hole or accepting). It is "" when a frame's rule has no hash. The lock
// is held.
func (g *Grammar) signature(l int32) string {
	a := &g.a
	if s, ok := a.sigs[l]; ok {
		return s
	}
	if l == popped {
		return "" // what follows is below the cut: unknown here
	}
	if a.ruleHashes == nil {
		g.hashRules()
	}
	var b []byte
	f := l
	for ; f != holeFrame && f != accepting; f = a.frames[f].parent {
		pos := a.frames[f].pos
		r := g.ruleOf[pos]
		if !a.ruleHashes[r].ok {
			a.sigs[l] = ""
			return ""
		}
		b = append(b, a.ruleHashes[r].sum[:]...)
		b = binary.LittleEndian.AppendUint32(b, uint32(pos-g.rules[r][0]))
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(f))
	sum := sha256.Sum256(b) // short keys; a collision is as likely as none
	s := string(sum[:])
	a.sigs[l] = s
	return s
}
