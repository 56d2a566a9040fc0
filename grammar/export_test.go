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
