package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Toggle overrides a metadata default.
type Toggle int8

// The Toggle values.
const (
	Auto Toggle = iota // follow the metadata
	On                 // always
	Off                // never
)

// EncodeOptions control Encode.
type EncodeOptions struct {
	// AddSpecial adds the tokens the model's metadata asks for around the
	// text: BOS first when tokenizer.ggml.add_bos_token (default true for
	// SentencePiece, WordPiece and Llama 3-style vocabularies), EOS last
	// when tokenizer.ggml.add_eos_token; WordPiece ends with [SEP].
	AddSpecial bool
	// BOS and EOS override AddSpecial and the metadata for the first and
	// the last token (for WordPiece, [CLS] and [SEP]).
	BOS, EOS Toggle
	// ParseSpecial turns control tokens written in the text, such as
	// "<|eot_id|>", into those tokens. Without it they are ordinary text.
	// User-defined tokens are matched either way.
	ParseSpecial bool
	// Continue encodes text that continues earlier text, as generated text
	// does: SentencePiece's space prefix is not added at its start.
	Continue bool
}

// Encode returns the token ids of text.
func (t *Tokenizer) Encode(text string, opts EncodeOptions) []int32 {
	return t.AppendEncode(nil, text, opts)
}

// AppendEncode appends the token ids of text to dst and returns the
// extended slice.
func (t *Tokenizer) AppendEncode(dst []int32, text string, opts EncodeOptions) []int32 {
	text = sanitize(text)
	st := t.getState()
	defer t.putState(st)

	if want(opts.BOS, opts.AddSpecial && t.addBOS) && t.bos >= 0 {
		dst = append(dst, t.bos)
	}
	prevSpecial := true
	for _, fr := range t.partition(st, text, opts.ParseSpecial) {
		if fr.tok >= 0 {
			dst = append(dst, fr.tok)
			prevSpecial = true
			continue
		}
		s := text[fr.start:fr.end]
		switch t.model {
		case modelSPM:
			dst = t.encodeSPM(st, dst, s, t.addSpacePrefix && prevSpecial && !opts.Continue)
		case modelBPE:
			st.out = dst
			t.encodeBPE(st, s)
			dst, st.out = st.out, nil
		case modelWPM:
			dst = t.encodeWPM(st, dst, s)
		}
		prevSpecial = false
	}
	end := NoToken
	switch opts.EOS {
	case Auto:
		if opts.AddSpecial {
			end = t.endToken()
		}
	case On:
		end = t.eos
		if t.model == modelWPM || end < 0 {
			end = t.sep
		}
	}
	if end >= 0 {
		dst = append(dst, end)
	}
	return dst
}

func want(tg Toggle, def bool) bool {
	switch tg {
	case On:
		return true
	case Off:
		return false
	}
	return def
}

// state is the scratch space of one Encode call, pooled so that encoding
// does not allocate once warm. Each also carries a BPE word cache.
type state struct {
	t       *Tokenizer
	frags   []frag
	frags2  []frag
	buf     []byte
	syms    []symbol
	spmHeap []spmBigram
	bpeHeap []bpeBigram
	scratch [][]int
	out     []int32
	word    func(string) // st.bpeWord, bound once

	cache map[string]uint64 // word → arena offset<<32 | count
	arena []int32
}

func (t *Tokenizer) getState() *state {
	if st, ok := t.states.Get().(*state); ok {
		return st
	}
	st := &state{t: t}
	st.word = st.bpeWord
	if t.model == modelBPE && t.cacheSize > 0 {
		st.cache = make(map[string]uint64, min(t.cacheSize, 4096))
	}
	return st
}

func (t *Tokenizer) putState(st *state) {
	st.out = nil
	if cap(st.buf) > 1<<20 {
		st.buf = nil // let a huge text's buffers go
		st.syms = nil
		st.spmHeap = nil
	}
	t.states.Put(st)
}

// frag is a stretch of text to tokenize (tok < 0) or a special token.
type frag struct {
	tok        int32
	start, end int
}

// partition cuts text at special tokens the way llama.cpp does: the
// longest token text first, at all its occurrences in the text not yet
// taken, then the next. Control and unknown tokens count only with
// parseSpecial; user-defined tokens always do.
func (t *Tokenizer) partition(st *state, text string, parseSpecial bool) []frag {
	frags := st.frags[:0]
	if text == "" {
		return frags
	}
	frags = append(frags, frag{NoToken, 0, len(text)})
	cands := t.userSpecials
	if parseSpecial {
		cands = t.specials
	}
	for _, id := range cands {
		tok := t.texts[id]
		if !strings.Contains(text, tok) {
			continue
		}
		a := t.attrs[id]
		out := st.frags2[:0]
		for _, fr := range frags {
			if fr.tok >= 0 {
				out = append(out, fr)
				continue
			}
			start, end := fr.start, fr.end
			for start < end {
				k := strings.Index(text[start:end], tok)
				if k < 0 {
					break
				}
				m := start + k
				left := m
				if a&attrLStrip != 0 {
					for left > start && isSpaceByte(text[left-1]) {
						left--
					}
				}
				if left > start {
					out = append(out, frag{NoToken, start, left})
				}
				out = append(out, frag{id, m, m + len(tok)})
				start = m + len(tok)
				if a&attrRStrip != 0 {
					for start < end && isSpaceByte(text[start]) {
						start++
					}
				}
			}
			if start < end {
				out = append(out, frag{NoToken, start, end})
			}
		}
		frags, st.frags2 = out, frags
	}
	st.frags = frags
	return frags
}

// isSpaceByte is C's isspace.
func isSpaceByte(c byte) bool {
	return c == ' ' || (c >= '\t' && c <= '\r')
}

// encodeBPE appends the tokens of one stretch of text to st.out.
func (t *Tokenizer) encodeBPE(st *state, s string) {
	if t.escapeSpaces {
		s = strings.ReplaceAll(s, " ", "▁")
	}
	if !t.dropSpaces {
		t.pretok.each(s, &st.scratch, st.word)
		return
	}
	for _, w := range strings.FieldsFunc(s, unicode.IsSpace) {
		if t.lowercase {
			w = strings.Map(unicode.ToLower, w)
		}
		t.pretok.each(w, &st.scratch, st.word)
	}
}

// symbol is a stretch of the text being merged, a node of a linked list.
type symbol struct {
	id         int32 // BPE: the symbol's token (or merge) id
	start, n   int32
	prev, next int32
}

// heap is a binary min-heap on a slice.
type lesser[T any] interface{ less(T) bool }

func heapPush[T lesser[T]](h []T, x T) []T {
	h = append(h, x)
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !h[i].less(h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
	return h
}

func heapPop[T lesser[T]](h []T) (T, []T) {
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && h[r].less(h[l]) {
			m = r
		}
		if !h[m].less(h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	return top, h
}

// SentencePiece BPE.

type spmBigram struct {
	score       float32
	left, right int32
	size        int32
}

// less orders by higher score, then leftmost.
func (a spmBigram) less(b spmBigram) bool {
	return a.score > b.score || (a.score == b.score && a.left < b.left)
}

// encodeSPM tokenizes one stretch of text: spaces become "▁" (and one is
// put in front with prefix), the characters are merged pairwise, the pair
// whose union is the best-scoring vocabulary entry first, and what is left
// that is not a token becomes byte tokens.
func (t *Tokenizer) encodeSPM(st *state, dst []int32, s string, prefix bool) []int32 {
	buf := st.buf[:0]
	if prefix {
		buf = append(buf, "▁"...)
	}
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			buf = append(buf, "▁"...)
		} else {
			buf = append(buf, s[i])
		}
	}
	st.buf = buf
	if len(buf) == 0 {
		return dst
	}
	syms := st.syms[:0]
	for i := 0; i < len(buf); {
		_, n := utf8.DecodeRune(buf[i:])
		syms = append(syms, symbol{start: int32(i), n: int32(n), prev: int32(len(syms) - 1), next: int32(len(syms) + 1)})
		i += n
	}
	syms[len(syms)-1].next = -1
	h := st.spmHeap[:0]
	for i := 1; i < len(syms); i++ {
		h = t.spmPair(h, buf, syms, int32(i-1), int32(i))
	}
	for len(h) > 0 {
		var bg spmBigram
		bg, h = heapPop(h)
		l, r := &syms[bg.left], &syms[bg.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != bg.size {
			continue // stale: one side has changed since
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = bg.left
		}
		if l.prev >= 0 {
			h = t.spmPair(h, buf, syms, l.prev, bg.left)
		}
		if l.next >= 0 {
			h = t.spmPair(h, buf, syms, bg.left, l.next)
		}
	}
	st.syms, st.spmHeap = syms, h
	for i := int32(0); i >= 0; i = syms[i].next {
		sy := syms[i]
		piece := buf[sy.start : sy.start+sy.n]
		if id, ok := t.byText[string(piece)]; ok {
			dst = append(dst, id)
			continue
		}
		for _, b := range piece {
			if id := t.byteTok[b]; id >= 0 {
				dst = append(dst, id)
			} else if t.unk >= 0 {
				dst = append(dst, t.unk)
			}
		}
	}
	return dst
}

func (t *Tokenizer) spmPair(h []spmBigram, buf []byte, syms []symbol, l, r int32) []spmBigram {
	a, b := syms[l], syms[r]
	id, ok := t.byText[string(buf[a.start:b.start+b.n])]
	if !ok {
		return h
	}
	var score float32
	if t.scores != nil {
		score = t.scores[id]
	}
	return heapPush(h, spmBigram{score: score, left: l, right: r, size: a.n + b.n})
}

// Byte-level BPE.

type bpeBigram struct {
	rank     int32
	left     int32
	lid, rid int32 // the ids the pair was made of, to spot stale entries
	res      int32
}

// less orders by rank, then leftmost.
func (a bpeBigram) less(b bpeBigram) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.left < b.left)
}

// maxCachedWord is the longest pre-token whose result is cached.
const maxCachedWord = 128

// bpeWord appends the tokens of one pre-token to st.out. The word cache is
// looked at first: it is small enough to stay in the processor's caches,
// unlike the vocabulary.
func (st *state) bpeWord(w string) {
	t := st.t
	if len(w) == 1 && !t.raw {
		if id := t.byteTok[w[0]]; id >= 0 {
			st.out = append(st.out, id)
		}
		return
	}
	cached := st.cache != nil && len(w) <= maxCachedWord
	if cached {
		if v, ok := st.cache[w]; ok {
			off, n := uint32(v>>32), uint32(v)
			if n == 1 {
				st.out = append(st.out, st.arena[off])
			} else {
				st.out = append(st.out, st.arena[off:off+n]...)
			}
			return
		}
	}
	start := len(st.out)
	id, whole := NoToken, false
	if t.ignoreMerges || t.wholeNewlines && strings.Trim(w, "\n") == "" {
		id, whole = t.byRaw[w]
	}
	if whole {
		st.out = append(st.out, id)
	} else {
		st.out = t.bpeMerge(st, st.out, w)
	}
	if cached {
		st.remember(w, st.out[start:])
	}
}

// remember caches the tokens of w. The cache is bounded: when full it is
// emptied and starts over.
func (st *state) remember(w string, ids []int32) {
	if len(st.cache) >= st.t.cacheSize || len(st.arena)+len(ids) > 8*st.t.cacheSize {
		clear(st.cache)
		st.arena = st.arena[:0]
	}
	off := len(st.arena)
	st.arena = append(st.arena, ids...)
	st.cache[strings.Clone(w)] = uint64(off)<<32 | uint64(len(ids))
}

// bpeMerge merges the bytes of w by rank, lowest first and leftmost among
// equals, and appends the resulting tokens to dst.
func (t *Tokenizer) bpeMerge(st *state, dst []int32, w string) []int32 {
	if len(w) <= smallWord {
		return t.bpeMergeSmall(dst, w)
	}
	return t.bpeMergeHeap(st, dst, w)
}

// bpeMergeHeap is bpeMerge with a heap of candidate pairs, for words of
// any length.
func (t *Tokenizer) bpeMergeHeap(st *state, dst []int32, w string) []int32 {
	syms := st.syms[:0]
	for i := 0; i < len(w); {
		id, n := t.unit(w, i)
		k := int32(len(syms))
		syms = append(syms, symbol{id: id, start: int32(i), n: int32(n), prev: k - 1, next: k + 1})
		i += n
	}
	syms[len(syms)-1].next = -1
	h := st.bpeHeap[:0]
	for i := 1; i < len(syms); i++ {
		h = t.bpePair(h, syms, int32(i-1), int32(i))
	}
	for len(h) > 0 {
		var bg bpeBigram
		bg, h = heapPop(h)
		l := &syms[bg.left]
		if l.n == 0 || l.id != bg.lid || l.next < 0 {
			continue
		}
		ri := l.next
		r := &syms[ri]
		if r.id != bg.rid {
			continue
		}
		l.id = bg.res
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = bg.left
		}
		if l.prev >= 0 {
			h = t.bpePair(h, syms, l.prev, bg.left)
		}
		if l.next >= 0 {
			h = t.bpePair(h, syms, bg.left, l.next)
		}
	}
	st.syms, st.bpeHeap = syms, h
	n := int32(len(t.texts))
	for i := int32(0); i >= 0; i = syms[i].next {
		sy := syms[i]
		if sy.id >= 0 && sy.id < n {
			dst = append(dst, sy.id)
			continue
		}
		// A merge result the vocabulary lacks: its bytes one by one.
		for j := sy.start; j < sy.start+sy.n; j++ {
			if id := t.byteTok[w[j]]; id >= 0 {
				dst = append(dst, id)
			}
		}
	}
	return dst
}

// unit returns the symbol that starts merging at w[i] and its length: a
// byte of byte-level BPE, a character of a raw vocabulary. Its id is
// NoToken when neither the vocabulary nor a merge knows it.
func (t *Tokenizer) unit(w string, i int) (int32, int) {
	if !t.raw {
		return t.byteTok[w[i]], 1
	}
	_, n := utf8.DecodeRuneInString(w[i:])
	u := w[i : i+n]
	if id, ok := t.byRaw[u]; ok {
		return id, n
	}
	if id, ok := t.mergeOnly[u]; ok {
		return id, n
	}
	return NoToken, n
}

// smallWord is the longest word bpeMergeSmall handles.
const smallWord = 48

// noMerge is the rank of a pair that does not merge.
const noMerge = int32(1<<31 - 1)

// bpeMergeSmall is bpeMerge for short words: the same merges in the same
// order, found by scanning the few pairs instead of keeping a heap.
func (t *Tokenizer) bpeMergeSmall(dst []int32, w string) []int32 {
	var (
		ids   [smallWord]int32 // symbol ids, left to right
		ends  [smallWord]uint8 // end offset of each symbol in w
		rank  [smallWord]int32 // rank of the pair (i, i+1)
		res   [smallWord]int32 // its result
		n     int              // symbols left
		vocab = int32(len(t.texts))
	)
	for i := 0; i < len(w); n++ {
		id, size := t.unit(w, i)
		i += size
		ids[n], ends[n] = id, uint8(i)
	}
	pair := func(i int) {
		rank[i] = noMerge
		a, b := ids[i], ids[i+1]
		if a < 0 || b < 0 {
			return
		}
		if v, ok := t.merges[uint64(uint32(a))<<32|uint64(uint32(b))]; ok {
			rank[i], res[i] = int32(v>>32), int32(uint32(v))
		}
	}
	for i := 0; i+1 < n; i++ {
		pair(i)
	}
	for n > 1 {
		best := -1
		for i := 0; i+1 < n; i++ {
			if rank[i] < noMerge && (best < 0 || rank[i] < rank[best]) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		ids[best] = res[best]
		ends[best] = ends[best+1]
		copy(ids[best+1:n-1], ids[best+2:n])
		copy(ends[best+1:n-1], ends[best+2:n])
		copy(rank[best+1:n-1], rank[best+2:n])
		copy(res[best+1:n-1], res[best+2:n])
		n--
		if best > 0 {
			pair(best - 1)
		}
		if best+1 < n {
			pair(best)
		}
	}
	start := 0
	for i := range n {
		if id := ids[i]; id >= 0 && id < vocab {
			dst = append(dst, id)
		} else {
			for j := start; j < int(ends[i]); j++ {
				if id := t.byteTok[w[j]]; id >= 0 {
					dst = append(dst, id)
				}
			}
		}
		start = int(ends[i])
	}
	return dst
}

func (t *Tokenizer) bpePair(h []bpeBigram, syms []symbol, l, r int32) []bpeBigram {
	a, b := syms[l].id, syms[r].id
	if a < 0 || b < 0 {
		return h
	}
	v, ok := t.merges[uint64(uint32(a))<<32|uint64(uint32(b))]
	if !ok {
		return h
	}
	return heapPush(h, bpeBigram{rank: int32(v >> 32), left: l, lid: a, rid: b, res: int32(uint32(v))})
}
