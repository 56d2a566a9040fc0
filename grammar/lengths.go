package grammar

// Lengths returns the fewest and the most bytes a sentence of the grammar
// has; max is -1 when there is no most (recursion, unbounded repetition).
// A named token counts as no bytes.
func (g *Grammar) Lengths() (min, max int) {
	const inf = 1 << 60
	n := len(g.rules)
	lo := make([]int, n)
	for i := range lo {
		lo[i] = inf
	}
	sum := func(start int32, of func(int32) int) int {
		t := 0
		for p := start; g.elems[p].kind != eEnd; p++ {
			switch e := g.elems[p]; e.kind {
			case eBytes:
				t++
			case eRef:
				t = minInt(t+of(e.arg), inf)
			}
		}
		return t
	}
	for changed := true; changed; {
		changed = false
		for r := range n {
			for _, start := range g.rules[r] {
				if v := sum(start, func(x int32) int { return lo[x] }); v < lo[r] {
					lo[r], changed = v, true
				}
			}
		}
	}
	// The most: unbounded on a cycle of rule references, else the longest
	// alternative, rules before the rules that call them.
	hi := make([]int, n)
	state := make([]uint8, n) // 0 new, 1 on the path, 2 done
	var visit func(r int32) int
	visit = func(r int32) int {
		switch state[r] {
		case 1:
			return -1
		case 2:
			return hi[r]
		}
		state[r] = 1
		best := 0
		for _, start := range g.rules[r] {
			t := 0
			for p := start; g.elems[p].kind != eEnd; p++ {
				switch e := g.elems[p]; e.kind {
				case eBytes:
					if t >= 0 {
						t++
					}
				case eRef:
					if v := visit(e.arg); v < 0 || t < 0 {
						t = -1
					} else {
						t += v
					}
				}
			}
			if t < 0 || best < 0 {
				best = -1
			} else if t > best {
				best = t
			}
		}
		state[r], hi[r] = 2, best
		return best
	}
	return lo[g.root], visit(g.root)
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// Bytes returns every byte that can appear in a sentence of the grammar
// (or in a dead end of it), in increasing order.
func (g *Grammar) Bytes() []byte {
	var all byteSet
	for _, s := range g.sets {
		for i := range all {
			all[i] |= s[i]
		}
	}
	var out []byte
	for c := range 256 {
		if all.has(byte(c)) {
			out = append(out, byte(c))
		}
	}
	return out
}
