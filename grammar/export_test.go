package grammar

// BreakContinuationBytes is a mutation for tests that must be able to fail:
// every byte set that is exactly the UTF-8 continuation range 80-BF also
// admits b, so one byte of a multi-byte character can come too early.
func BreakContinuationBytes(g *Grammar, b byte) int {
	var cont byteSet
	cont.add(0x80, 0xBF)
	n := 0
	for i := range g.sets {
		if g.sets[i] == cont {
			g.sets[i].add(b, b)
			n++
		}
	}
	return n
}

// TrieSize returns the index's node and edge counts.
func TrieSize(ix *Index) (nodes, edges int) { return len(ix.edgeOff) - 1, len(ix.edges) }

// DropMasks forgets a constraint's cached masks.
func DropMasks(c *Constraint) { clear(c.masks); clear(c.locals) }

// DropShared forgets the local masks an index shares between grammars.
func DropShared(ix *Index) {
	ix.sharedMu.Lock()
	ix.shared = map[string]*localMask{}
	ix.sharedBytes = 0
	ix.sharedMu.Unlock()
}
