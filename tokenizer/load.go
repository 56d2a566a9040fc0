package tokenizer

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ondo-ai/ondo/gguf"
)

// The metadata keys the tokenizer reads.
const (
	keyModel        = "tokenizer.ggml.model"
	keyPre          = "tokenizer.ggml.pre"
	keyTokens       = "tokenizer.ggml.tokens"
	keyScores       = "tokenizer.ggml.scores"
	keyTypes        = "tokenizer.ggml.token_type"
	keyMerges       = "tokenizer.ggml.merges"
	keyAddBOS       = "tokenizer.ggml.add_bos_token"
	keyAddEOS       = "tokenizer.ggml.add_eos_token"
	keyAddSep       = "tokenizer.ggml.add_sep_token"
	keyAddPrefix    = "tokenizer.ggml.add_space_prefix"
	keyLowercase    = "tokenizer.ggml.normalizer.lowercase"
	keyStripAccents = "tokenizer.ggml.normalizer.strip_accents"
)

// ErrUnknownPre is wrapped by the error FromGGUF returns for a
// tokenizer.ggml.pre it does not know (see Options.AllowUnknownPre).
var ErrUnknownPre = errors.New("unknown pre-tokenizer")

// FromGGUF builds the tokenizer described by f's tokenizer.ggml.* metadata.
// Missing, mistyped or inconsistent metadata gives an error that names the
// key. The tokenizer copies what it needs: f may be closed afterwards.
func FromGGUF(f *gguf.File, opts Options) (*Tokenizer, error) {
	t := &Tokenizer{
		bos: NoToken, eos: NoToken, eot: NoToken, eom: NoToken, unk: NoToken,
		pad: NoToken, sep: NoToken, cls: NoToken, mask: NoToken,
		cacheSize: opts.CacheSize,
		states:    &sync.Pool{},
	}
	if t.cacheSize == 0 {
		t.cacheSize = 1 << 16
	}
	var err error
	if t.modelKey, err = f.String(keyModel); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if t.pre, err = optString(f, keyPre, ""); err != nil {
		return nil, err
	}

	var fam preFamily
	switch t.modelKey {
	case "llama":
		t.model = modelSPM
		t.bos, t.eos, t.unk = 1, 2, 0
		t.addBOS, t.addSpacePrefix = true, true
	case "gpt2", "gemma4", "whitespace":
		// Gemma 4's vocabulary has no pre-tokenizer key: its own rules
		// go with the model. The whitespace model (jina-embeddings-v2-base-zh)
		// encodes the text between runs of white space, which it drops.
		t.model = modelBPE
		pre := t.pre
		switch {
		case t.modelKey == "gemma4":
			pre = "gemma4"
		case pre == "":
			pre = "default"
		}
		var ok bool
		if fam, ok = preFamilies[pre]; !ok {
			if !opts.AllowUnknownPre {
				return nil, fmt.Errorf("tokenizer: metadata key %q: %w %q (the GPT-2 rules can be used at your own risk)", keyPre, ErrUnknownPre, t.pre)
			}
			fam = famGPT2
		}
		t.ignoreMerges, t.addBOS = fam.ignoreMerges, fam.addBOS
		t.raw, t.escapeSpaces, t.wholeNewlines = fam.raw, fam.escapeSpaces, fam.wholeNewlines
		if t.dropSpaces = t.modelKey == "whitespace"; t.dropSpaces {
			// It lower-cases unless the file says otherwise or its
			// pre-tokenizer is "whitespace", as llama.cpp has it.
			t.lowercase = pre != "whitespace"
			if err := optBool(f, keyLowercase, &t.lowercase); err != nil {
				return nil, err
			}
		}
	case "bert":
		t.model = modelWPM
		t.bos, t.unk, t.sep, t.pad, t.mask = 101, 100, 102, 0, 103
		t.addBOS, t.addSep = true, true
		t.lowercase, t.stripAccent = true, true
	default:
		return nil, fmt.Errorf("tokenizer: metadata key %q: tokenizer model %q is not supported (want llama, gpt2, gemma4, whitespace or bert)", keyModel, t.modelKey)
	}

	if err := t.loadVocab(f); err != nil {
		return nil, err
	}
	if t.model == modelBPE {
		if err := t.loadMerges(f); err != nil {
			return nil, err
		}
		if t.pretok, err = newPretokenizer(fam.patterns, false); err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
	}
	if err := t.loadSpecial(f, fam); err != nil {
		return nil, err
	}
	t.buildPieces()
	return t, nil
}

func optString(f *gguf.File, key, def string) (string, error) {
	v, err := f.String(key)
	if errors.Is(err, gguf.ErrMissing) {
		return def, nil
	}
	if err != nil {
		return "", fmt.Errorf("tokenizer: %w", err)
	}
	return v, nil
}

func optBool(f *gguf.File, key string, dst *bool) error {
	v, err := f.Bool(key)
	if errors.Is(err, gguf.ErrMissing) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	*dst = v
	return nil
}

func (t *Tokenizer) loadVocab(f *gguf.File) error {
	texts, err := f.Strings(keyTokens)
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	n := len(texts)
	if n == 0 {
		return fmt.Errorf("tokenizer: metadata key %q is empty", keyTokens)
	}
	if n > 1<<30 {
		return fmt.Errorf("tokenizer: metadata key %q has %d tokens, too many", keyTokens, n)
	}
	t.texts = make([]string, n)
	copy(t.texts, texts)

	if f.Has(keyScores) {
		sc, err := f.Float32s(keyScores)
		if err != nil {
			return fmt.Errorf("tokenizer: %w", err)
		}
		if len(sc) < n {
			return fmt.Errorf("tokenizer: metadata key %q has %d values for %d tokens", keyScores, len(sc), n)
		}
		t.scores = sc[:n:n]
	}

	t.types = make([]Type, n)
	t.attrs = make([]attr, n)
	if f.Has(keyTypes) {
		tt, err := f.Ints(keyTypes)
		if err != nil {
			return fmt.Errorf("tokenizer: %w", err)
		}
		if len(tt) < n {
			return fmt.Errorf("tokenizer: metadata key %q has %d values for %d tokens", keyTypes, len(tt), n)
		}
		for i := range n {
			if tt[i] < 0 || tt[i] > int64(TypeByte) {
				return fmt.Errorf("tokenizer: metadata key %q: token %d has type %d, want 0 to 6", keyTypes, i, tt[i])
			}
			t.types[i] = Type(tt[i])
			t.attrs[i] = typeAttr(Type(tt[i]))
		}
	} else {
		for i := range t.types {
			t.types[i] = TypeNormal
			t.attrs[i] = attrNormal
		}
	}

	for i := range t.byteTok {
		t.byteTok[i] = NoToken
	}
	if t.model == modelBPE {
		t.byRaw = make(map[string]int32, n)
	} else {
		t.byText = make(map[string]int32, n)
	}
	seen := make(map[string]int32, n)
	for i, s := range t.texts {
		// llama.cpp reads token texts as C strings: a NUL ends them.
		if k := strings.IndexByte(s, 0); k >= 0 {
			s = s[:k]
		}
		if s == "" {
			// llama.cpp names empty tokens so that they stay distinct.
			s = "[EMPTY_" + strconv.Itoa(i) + "]"
		}
		t.texts[i] = s
		if j, dup := seen[s]; dup {
			return fmt.Errorf("tokenizer: metadata key %q: tokens %d and %d are both %q", keyTokens, j, i, s)
		}
		seen[s] = int32(i)
		t.maxTokenLen = max(t.maxTokenLen, len(s))
		switch {
		case t.raw:
			t.byRaw[s] = int32(i)
		case t.model == modelBPE:
			if raw, ok := unByteLevel(s); ok {
				t.byRaw[string(raw)] = int32(i)
			}
		default:
			t.byText[s] = int32(i)
		}
	}

	switch {
	case t.raw:
		// Byte fallback as SentencePiece has it.
		for b := range 256 {
			if id, ok := t.byRaw[fmt.Sprintf("<0x%02X>", b)]; ok {
				t.byteTok[b] = id
			}
		}
	case t.model == modelSPM:
		for b := range 256 {
			if id, ok := t.byText[fmt.Sprintf("<0x%02X>", b)]; ok {
				t.byteTok[b] = id
			} else if id, ok := t.byText[string([]byte{byte(b)})]; ok {
				t.byteTok[b] = id
			}
		}
	case t.model == modelBPE:
		for b := range 256 {
			if id, ok := t.byRaw[string([]byte{byte(b)})]; ok {
				t.byteTok[b] = id
			}
		}
	}
	return nil
}

// loadMerges reads tokenizer.ggml.merges: "left right" pairs, highest
// priority first. Kimi K2's vocabulary may go without them, as llama.cpp
// allows.
func (t *Tokenizer) loadMerges(f *gguf.File) error {
	if t.pre == "kimi-k2" && !f.Has(keyMerges) {
		t.merges = map[uint64]uint64{}
		return nil
	}
	merges, err := f.Strings(keyMerges)
	if err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	t.merges = make(map[uint64]uint64, len(merges))
	extra := map[string]int32{} // merge operands and results not in the vocabulary
	if t.raw {
		t.mergeOnly = extra
	}
	idOf := func(raw []byte) int32 {
		if id, ok := t.byRaw[string(raw)]; ok {
			return id
		}
		if id, ok := extra[string(raw)]; ok {
			return id
		}
		id := int32(len(t.texts) + len(extra))
		extra[string(raw)] = id
		return id
	}
	for rank, m := range merges {
		// The separator is the first space after the first character:
		// a merge of byte-level strings never holds a literal space.
		sp := strings.IndexByte(m, ' ')
		if sp == 0 {
			sp = strings.IndexByte(m[1:], ' ') + 1
		}
		if sp <= 0 || sp == len(m)-1 {
			return fmt.Errorf("tokenizer: metadata key %q: merge %d (%q) is not two strings separated by a space", keyMerges, rank, m)
		}
		left, okL := []byte(m[:sp]), true
		right, okR := []byte(m[sp+1:]), true
		if !t.raw {
			left, okL = unByteLevel(m[:sp])
			right, okR = unByteLevel(m[sp+1:])
		}
		if !okL || !okR {
			// A merge of characters that are not byte characters can
			// never apply to byte-level text.
			continue
		}
		l, r := idOf(left), idOf(right)
		key := uint64(uint32(l))<<32 | uint64(uint32(r))
		if _, dup := t.merges[key]; dup {
			continue // the first (highest-priority) rank wins
		}
		res := idOf(append(left, right...))
		t.merges[key] = uint64(rank)<<32 | uint64(uint32(res))
	}
	return nil
}

// specialKey is a special-token id key and the field it sets.
type specialKey struct {
	key string
	dst *int32
}

// The texts llama.cpp's vocabulary loader recognises.
var (
	eotTexts = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
		"<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"}
	eomTexts    = []string{"<|eom_id|>"}
	fimPadTexts = []string{"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"}
	fimRepTexts = []string{"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"}
	fimSepTexts = []string{"<|file_sep|>"}
	fimPreTexts = []string{"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"}
	fimSufTexts = []string{"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"}
	fimMidTexts = []string{"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"}
	eogTexts    = []string{"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>",
		"<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>",
		"<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>",
		"<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["}
	// gpt-oss's channel markers are rendered always.
	alwaysRendered = []string{"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"}
)

func (t *Tokenizer) loadSpecial(f *gguf.File, fam preFamily) error {
	if fam.noBOS {
		t.bos = NoToken
	}
	var fimPad, fimRep, fimSep, fimPre, fimSuf, fimMid = NoToken, NoToken, NoToken, NoToken, NoToken, NoToken
	n := int64(len(t.texts))
	keys := []specialKey{
		{"tokenizer.ggml.bos_token_id", &t.bos},
		{"tokenizer.ggml.eos_token_id", &t.eos},
		{"tokenizer.ggml.eot_token_id", &t.eot},
		{"tokenizer.ggml.eom_token_id", &t.eom},
		{"tokenizer.ggml.unknown_token_id", &t.unk},
		{"tokenizer.ggml.seperator_token_id", &t.sep},
		{"tokenizer.ggml.padding_token_id", &t.pad},
		{"tokenizer.ggml.cls_token_id", &t.cls},
		{"tokenizer.ggml.mask_token_id", &t.mask},
		{"tokenizer.ggml.fim_pre_token_id", &fimPre},
		{"tokenizer.ggml.fim_suf_token_id", &fimSuf},
		{"tokenizer.ggml.fim_mid_token_id", &fimMid},
		{"tokenizer.ggml.fim_pad_token_id", &fimPad},
		{"tokenizer.ggml.fim_rep_token_id", &fimRep},
		{"tokenizer.ggml.fim_sep_token_id", &fimSep},
		{"tokenizer.ggml.prefix_token_id", &fimPre},
		{"tokenizer.ggml.suffix_token_id", &fimSuf},
		{"tokenizer.ggml.middle_token_id", &fimMid},
	}
	for _, k := range keys {
		if *k.dst >= int32(n) {
			*k.dst = NoToken // a default beyond a small vocabulary
		}
		v, err := f.Int(k.key)
		if errors.Is(err, gguf.ErrMissing) {
			continue
		}
		if err != nil {
			return fmt.Errorf("tokenizer: %w", err)
		}
		if v < 0 || v >= n {
			// llama.cpp keeps the default and warns; files with an
			// out-of-range padding id are common enough not to fail.
			continue
		}
		*k.dst = int32(v)
	}
	if t.model == modelWPM && t.cls >= 0 && !f.Has("tokenizer.ggml.bos_token_id") {
		t.bos = t.cls // BERT's sequence starts with [CLS]
	}

	for _, k := range []struct {
		key string
		dst *bool
	}{{keyAddBOS, &t.addBOS}, {keyAddEOS, &t.addEOS}, {keyAddSep, &t.addSep}} {
		if err := optBool(f, k.key, k.dst); err != nil {
			return err
		}
	}
	t.addBOS = t.addBOS || fam.forceBOS
	if t.model == modelSPM {
		if err := optBool(f, keyAddPrefix, &t.addSpacePrefix); err != nil {
			return err
		}
	}
	if t.model == modelWPM {
		if err := optBool(f, keyLowercase, &t.lowercase); err != nil {
			return err
		}
		t.stripAccent = t.lowercase
		if err := optBool(f, keyStripAccents, &t.stripAccent); err != nil {
			return err
		}
	}

	// Tokens recognised by their text, as llama.cpp does: the first
	// listed text the vocabulary has wins.
	ids := t.textIndex()
	find := func(dst *int32, texts []string) {
		if *dst != NoToken {
			return
		}
		for _, s := range texts {
			if id, ok := ids[s]; ok {
				*dst = id
				t.attrs[id] |= attrControl
				return
			}
		}
	}
	find(&t.eot, eotTexts)
	find(&t.eom, eomTexts)
	find(&fimPre, fimPreTexts)
	find(&fimSuf, fimSufTexts)
	find(&fimMid, fimMidTexts)
	find(&fimPad, fimPadTexts)
	find(&fimRep, fimRepTexts)
	find(&fimSep, fimSepTexts)

	// Control tokens named "unused" are unused.
	for id, s := range t.texts {
		if t.attrs[id]&attrControl != 0 && strings.Contains(s, "unused") {
			t.attrs[id] |= attrUnused
		}
	}

	t.eog = map[int32]bool{}
	for _, id := range []int32{fimPad, fimRep, fimSep} {
		if id != NoToken {
			t.eog[id] = true
		}
	}
	for _, s := range eogTexts {
		if id, ok := ids[s]; ok {
			t.eog[id] = true
			t.attrs[id] |= attrControl
		}
	}
	for _, s := range alwaysRendered {
		if id, ok := ids[s]; ok {
			t.attrs[id] = attrUserDefined
		}
	}
	for _, id := range []int32{t.eos, t.eot, t.eom} {
		if id != NoToken {
			t.eog[id] = true
		}
	}
	// o200k-harmony and Solar Open end a message, not the generation,
	// with <|end|>.
	has := func(s string) (int32, bool) {
		id, ok := ids[s]
		return id, ok && t.eog[id]
	}
	endID, hasEnd := has("<|end|>")
	_, hasReturn := has("<|return|>")
	_, hasCall := has("<|call|>")
	_, hasCalls := has("<|calls|>")
	_, hasFlush := has("<|flush|>")
	if hasEnd && ((hasReturn && hasCall) || ((hasCall || hasCalls) && hasFlush)) {
		delete(t.eog, endID)
		t.attrs[endID] = attrUserDefined
	}
	// Gemma 4 has </s> as ordinary text.
	if sID, hasS := has("</s>"); hasS {
		if _, ok := has("<|tool_response>"); ok {
			delete(t.eog, sID)
			t.attrs[sID] = attrNormal
		}
	}

	// The tokens the partitioner looks for, longest first.
	for id := range t.texts {
		if t.attrs[id]&(attrControl|attrUserDefined|attrUnknown) != 0 {
			t.specials = append(t.specials, int32(id))
		}
	}
	slices.SortStableFunc(t.specials, func(a, b int32) int { return len(t.texts[b]) - len(t.texts[a]) })
	for _, id := range t.specials {
		if t.attrs[id]&(attrControl|attrUnknown) == 0 {
			t.userSpecials = append(t.userSpecials, id)
		}
	}

	// Phi-3's special tokens eat the white space after them.
	name, err := optString(f, "general.name", "")
	if err != nil {
		return err
	}
	if lname := strings.ToLower(name); strings.Contains(lname, "phi-3") || strings.Contains(lname, "phi3") {
		for _, id := range t.specials {
			t.attrs[id] |= attrRStrip
		}
		if id, ok := ids["</s>"]; ok {
			t.attrs[id] |= attrRStrip
		}
		for _, s := range []string{"<unk>", "<s>", "<|endoftext|>"} {
			if id, ok := ids[s]; ok {
				t.attrs[id] &^= attrRStrip
			}
		}
	}
	return nil
}

// textIndex maps vocabulary strings to ids.
func (t *Tokenizer) textIndex() map[string]int32 {
	if t.byText != nil {
		return t.byText
	}
	m := make(map[string]int32, len(t.texts))
	for id, s := range t.texts {
		m[s] = int32(id)
	}
	return m
}

// buildPieces computes the decoded bytes of every token.
func (t *Tokenizer) buildPieces() {
	t.pieceOff = make([]uint32, len(t.texts)+1)
	buf := make([]byte, 0, len(t.texts)*6)
	for id, s := range t.texts {
		a := t.attrs[id]
		switch {
		case a&(attrControl|attrUnknown|attrUserDefined) != 0:
			buf = append(buf, s...)
		case a&attrNormal != 0:
			switch {
			case t.raw && !t.escapeSpaces:
				buf = append(buf, s...)
			case t.model == modelBPE && !t.raw:
				if raw, ok := unByteLevel(s); ok {
					buf = append(buf, raw...)
				} else {
					buf = append(buf, s...)
				}
			default:
				buf = append(buf, strings.ReplaceAll(s, "▁", " ")...)
			}
		case a&attrByte != 0:
			if b, ok := parseByteToken(s); ok {
				buf = append(buf, b)
			} else if t.model == modelBPE {
				if raw, ok := unByteLevel(s); ok {
					buf = append(buf, raw...)
				}
			}
		}
		t.pieceOff[id+1] = uint32(len(buf))
	}
	t.pieces = buf
}

// parseByteToken reads a "<0xXX>" token.
func parseByteToken(s string) (byte, bool) {
	if len(s) != 6 || s[:3] != "<0x" || s[5] != '>' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[3:5], 16, 8)
	if err != nil {
		return 0, false
	}
	return byte(v), true
}
