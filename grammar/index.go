package grammar

import (
	"bytes"
	"slices"
	"sync"

	"github.com/ondo-ai/ondo/tokenizer"
)

// Index is a vocabulary as the matcher sees it: the text tokens in a byte
// trie (so that a mask visits each shared prefix once), the end-of-
// generation tokens, and every token's text for looking up <name>
// references. Build one per vocabulary and share it: building it for
// 128,256 tokens takes tens of milliseconds.
//
// Text tokens are the normal and byte tokens. Control, user-defined,
// unknown and unused tokens are left out of the trie: a grammar produces
// them only by naming them.
type Index struct {
	n       int
	text    [][]byte // each token's bytes when it is a text token, else nil
	eog     []int32
	isEOG   []bool
	edgeOff []int32 // node i's edges: edges[edgeOff[i]:edgeOff[i+1]]
	edges   []trieEdge
	tokOff  []int32 // the tokens that end at node i: toks[tokOff[i]:tokOff[i+1]]
	toks    []int32
	parents [256][]parentEdge // the edges of each byte, with the node they leave
	end     []int32           // node i's subtree is the nodes i to end[i]-1 (preorder)
	pieces  func(id int32) string

	nameOnce sync.Once
	byName   map[string]int32

	// Local masks shared by every grammar bound to this index, by the
	// signature of their cut stacks (see Grammar.signature).
	sharedMu    sync.Mutex
	shared      map[string]*localMask
	slices      map[string]*loopSlice // by character loop shape (see slice.go)
	shapes      map[string]*loopShape // loop shapes by state signature, nil: no loop
	sharedBytes int
}

// loopShape is what a character loop is, whatever grammar it is in: its
// transitions and the paths to its dstates (see loopDFA).
type loopShape struct {
	next  [][256]int16
	paths [][]byte
	sig   string
}

// loopShape returns the loop shape of the states with signature sig, nil
// when they have no loop, and whether it is known.
func (ix *Index) loopShape(sig string) (*loopShape, bool) {
	if sig == "" {
		return nil, false
	}
	ix.sharedMu.Lock()
	defer ix.sharedMu.Unlock()
	sh, ok := ix.shapes[sig]
	return sh, ok
}

// keepLoopShape records the loop (nil: none) of the states with signature sig.
func (ix *Index) keepLoopShape(sig string, d *loopDFA) {
	var sh *loopShape
	size := len(sig) + 16
	if d != nil {
		sh = &loopShape{next: d.next, paths: d.paths, sig: d.signature()}
		size += len(d.next)*512 + len(sh.sig)
	}
	ix.sharedMu.Lock()
	defer ix.sharedMu.Unlock()
	ix.reserve(size)
	ix.shapes[sig] = sh
}

// sharedBudget bounds the bytes an Index keeps for all grammars (local
// masks, slices, loop shapes); past it the caches are emptied.
const sharedBudget = 64 << 20

// resetShared empties the caches shared between grammars. The lock is held.
func (ix *Index) resetShared() {
	ix.shared = map[string]*localMask{}
	ix.slices = map[string]*loopSlice{}
	ix.shapes = map[string]*loopShape{}
	ix.sharedBytes = 0
}

// reserve counts size more bytes in the shared caches, emptying them first
// when that would pass the budget (or making them on first use). The lock
// is held.
func (ix *Index) reserve(size int) {
	if ix.shared == nil || ix.sharedBytes+size > sharedBudget {
		ix.resetShared()
	}
	ix.sharedBytes += size
}

func (ix *Index) sharedLocal(sig string) *localMask {
	ix.sharedMu.Lock()
	defer ix.sharedMu.Unlock()
	return ix.shared[sig]
}

func (ix *Index) shareLocal(sig string, lm *localMask) {
	ix.sharedMu.Lock()
	defer ix.sharedMu.Unlock()
	ix.reserve(lm.size() + len(sig))
	ix.shared[sig] = lm
}

// trieEdge is an edge to a child node, with what the walk needs of the
// child at hand: the token that ends there (-1 if none), whether more than
// one does (byte tokens can repeat a normal token's bytes), whether it
// has children of its own, and whether many.
type parentEdge struct{ node, edge int32 }

type trieEdge struct {
	child int32
	tok   int32
	b     byte
	more  bool
	kids  bool
	big   bool // the child's subtree has at least minSliceNodes nodes
}

// NewIndex builds the index of a tokenizer's vocabulary.
func NewIndex(tok *tokenizer.Tokenizer) *Index {
	n := tok.VocabSize()
	text := make([][]byte, n)
	for id := range int32(n) {
		switch tok.TokenType(id) {
		case tokenizer.TypeControl, tokenizer.TypeUserDefined, tokenizer.TypeUnknown, tokenizer.TypeUnused:
			continue
		}
		if tok.IsControl(id) || tok.IsEOG(id) {
			continue
		}
		text[id] = tok.Bytes(id)
	}
	return newIndex(text, tok.EOGs(), tok.Piece)
}

// newIndex builds an index from each token's text (nil: not a text token).
func newIndex(text [][]byte, eog []int32, pieces func(int32) string) *Index {
	ix := &Index{n: len(text), text: text, isEOG: make([]bool, len(text)), pieces: pieces}
	for _, id := range eog {
		if id >= 0 && int(id) < len(text) {
			ix.eog = append(ix.eog, id)
			ix.isEOG[id] = true
			text[id] = nil
		}
	}
	var ids []int32
	for id, t := range text {
		if len(t) > 0 {
			ids = append(ids, int32(id))
		} else {
			text[id] = nil
		}
	}
	slices.SortFunc(ids, func(a, b int32) int {
		if c := bytes.Compare(text[a], text[b]); c != 0 {
			return c
		}
		return int(a - b)
	})
	ix.edgeOff = []int32{0}
	ix.tokOff = []int32{0}
	ix.build(ids, 0)
	for i := range ix.edges {
		e := &ix.edges[i]
		toks := ix.toks[ix.tokOff[e.child]:ix.tokOff[e.child+1]]
		e.tok = -1
		if len(toks) > 0 {
			e.tok = toks[0]
		}
		e.more = len(toks) > 1
		e.kids = ix.edgeOff[e.child] < ix.edgeOff[e.child+1]
		e.big = ix.end[e.child]-e.child >= minSliceNodes
	}
	for node := range int32(len(ix.edgeOff) - 1) {
		for i := ix.edgeOff[node]; i < ix.edgeOff[node+1]; i++ {
			b := ix.edges[i].b
			ix.parents[b] = append(ix.parents[b], parentEdge{node, i})
		}
	}
	return ix
}

// build lays out the trie node for ids (sorted, all sharing their first
// depth bytes) and, after it, its subtrees, depth first. It returns the node.
func (ix *Index) build(ids []int32, depth int) int32 {
	node := int32(len(ix.edgeOff) - 1)
	ix.end = append(ix.end, 0)
	defer func() { ix.end[node] = int32(len(ix.edgeOff) - 1) }()
	i := 0
	for i < len(ids) && len(ix.text[ids[i]]) == depth {
		ix.toks = append(ix.toks, ids[i])
		i++
	}
	// Reserve this node's slots: edges are filled in once the children exist.
	var groups [][]int32
	for j := i; j < len(ids); {
		b := ix.text[ids[j]][depth]
		k := j + 1
		for k < len(ids) && ix.text[ids[k]][depth] == b {
			k++
		}
		groups = append(groups, ids[j:k])
		j = k
	}
	first := int32(len(ix.edges))
	for _, grp := range groups {
		ix.edges = append(ix.edges, trieEdge{b: ix.text[grp[0]][depth]})
	}
	ix.edgeOff = append(ix.edgeOff, int32(len(ix.edges)))
	ix.tokOff = append(ix.tokOff, int32(len(ix.toks)))
	for gi, grp := range groups {
		// A node's edge and token ranges end where the next node's begin,
		// so nodes are numbered in the order their ranges are appended.
		ix.edges[first+int32(gi)].child = ix.build(grp, depth+1)
	}
	return node
}

// VocabSize returns the number of tokens the index was built for.
func (ix *Index) VocabSize() int { return ix.n }

// lookup returns the token whose vocabulary text is name, or -1.
func (ix *Index) lookup(name string) int32 {
	ix.nameOnce.Do(func() {
		ix.byName = map[string]int32{}
		if ix.pieces == nil {
			return
		}
		for id := range int32(ix.n) {
			if p := ix.pieces(id); p != "" {
				if _, dup := ix.byName[p]; !dup {
					ix.byName[p] = id
				}
			}
		}
	})
	if id, ok := ix.byName[name]; ok {
		return id
	}
	return -1
}
