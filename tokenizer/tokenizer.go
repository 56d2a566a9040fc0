// Package tokenizer turns text into token ids and back, exactly as the
// model's own tokenizer does, from the tokenizer.ggml.* metadata of a GGUF
// file.
//
// These tokenizer models are supported, named by tokenizer.ggml.model:
//
//   - "llama": SentencePiece BPE with byte fallback (Llama 1 and 2, Mistral
//     v0.1–v0.3, Phi-3, …). Spaces become "▁", a space is put in front of
//     the text, pieces merge by score, and characters the vocabulary lacks
//     become <0xXX> byte tokens.
//   - "gpt2": byte-level BPE (GPT-2, Llama 3, Qwen, DeepSeek, StarCoder, …).
//     The text is first cut into pieces by the pre-tokenizer named by
//     tokenizer.ggml.pre, and each piece's bytes are merged by rank.
//   - "gemma4": BPE on text as it is (Gemma 4): a SentencePiece-style
//     vocabulary ("▁" for spaces, <0xXX> byte fallback) whose characters
//     merge by rank, as byte-level BPE's bytes do, in pieces cut only at
//     newlines. With "gpt2", the pre-tokenizers "gemma4",
//     "granite-embed-multi-311m", "sarvam-moe" and "whitespace" take such
//     a vocabulary too.
//   - "whitespace": BPE on each run of text between white space, which is
//     dropped (jina-embeddings-v2-base-zh).
//   - "bert": WordPiece (BERT-style embedding models), with BERT's
//     normalization: lower case, accents stripped, punctuation and CJK
//     characters split off.
//
// Before any of that, text is cut at user-defined tokens, and, when the
// caller asks for it, at control tokens written in the text (such as
// "<|eot_id|>"); the rest is ordinary text.
//
// Encode takes any string. Bytes that are not valid UTF-8 are replaced by
// U+FFFD, one per byte, before encoding (what llama.cpp's pre-tokenizer
// does), so such text does not round-trip; everything else does for the
// byte-level and byte-fallback models, except that SentencePiece cannot tell
// a "▁" in the text from a space. WordPiece normalizes text, so it never
// round-trips exactly.
//
// A Tokenizer is safe for concurrent use.
package tokenizer

import (
	"fmt"
	"maps"
	"slices"
	"sync"
)

// Type is the type of a token, as tokenizer.ggml.token_type numbers it.
type Type uint8

// The token types.
const (
	TypeUndefined   Type = 0
	TypeNormal      Type = 1 // ordinary text
	TypeUnknown     Type = 2 // the unknown token, or a placeholder
	TypeControl     Type = 3 // BOS, EOS, chat-template markers and the like
	TypeUserDefined Type = 4 // added text tokens, matched before anything else
	TypeUnused      Type = 5
	TypeByte        Type = 6 // a single byte, <0xXX>
)

var typeNames = [...]string{"undefined", "normal", "unknown", "control", "user-defined", "unused", "byte"}

// String returns the type's name.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// model is the tokenizer algorithm.
type model uint8

const (
	modelSPM model = iota
	modelBPE
	modelWPM
)

// attr is the set of properties of a token that tokenization and decoding
// use. It starts from the token's type and is adjusted the way llama.cpp's
// vocabulary loader does (an end-of-turn token that is not typed control
// becomes control, for example).
type attr uint16

const (
	attrNormal attr = 1 << iota
	attrUnknown
	attrControl
	attrUserDefined
	attrUnused
	attrByte
	attrLStrip // eat white space before the token when partitioning
	attrRStrip // eat white space after it
)

func typeAttr(t Type) attr {
	switch t {
	case TypeNormal:
		return attrNormal
	case TypeUnknown:
		return attrUnknown
	case TypeControl:
		return attrControl
	case TypeUserDefined:
		return attrUserDefined
	case TypeUnused:
		return attrUnused
	case TypeByte:
		return attrByte
	}
	return 0
}

// Options control how FromGGUF builds a tokenizer.
type Options struct {
	// AllowUnknownPre makes an unknown tokenizer.ggml.pre use GPT-2's
	// pre-tokenizer instead of failing. The token ids will be wrong for
	// text that the real pre-tokenizer splits differently.
	AllowUnknownPre bool
	// CacheSize is the number of pre-token words whose BPE result each
	// encoder keeps (default 65536); negative turns the cache off.
	CacheSize int
}

// Tokenizer encodes text to token ids and decodes ids to text.
type Tokenizer struct {
	model    model
	modelKey string // tokenizer.ggml.model
	pre      string // tokenizer.ggml.pre, as given

	texts  []string // vocabulary strings, by id
	types  []Type   // tokenizer.ggml.token_type, by id
	attrs  []attr
	scores []float32

	// byText maps vocabulary strings to ids (SentencePiece, WordPiece);
	// byRaw maps the bytes a byte-level BPE token stands for to its id.
	byText map[string]int32
	byRaw  map[string]int32
	// byteTok is the token of each byte: <0xXX> for SentencePiece, the
	// single-byte token for byte-level BPE; -1 where there is none.
	byteTok [256]int32

	// merges maps a pair of BPE symbol ids (left<<32 | right) to
	// rank<<32 | merged id. Ids at or above len(texts) stand for merge
	// results the vocabulary lacks.
	merges map[uint64]uint64

	// pieces holds the decoded bytes of every token:
	// pieces[pieceOff[id]:pieceOff[id+1]].
	pieces   []byte
	pieceOff []uint32

	// specials are the tokens the partitioner looks for in text, longest
	// first; userSpecials is the subset that is matched without
	// ParseSpecial (user-defined tokens).
	specials     []int32
	userSpecials []int32

	bos, eos, eot, eom, unk, pad, sep, cls, mask int32
	eog                                          map[int32]bool

	addBOS, addEOS, addSep bool
	addSpacePrefix         bool
	ignoreMerges           bool
	// Byte-level BPE variants (see preFamily): raw text vocabularies,
	// spaces written "▁", whole newline tokens, and the whitespace
	// model's dropping of white space.
	raw, escapeSpaces, wholeNewlines, dropSpaces bool
	// mergeOnly gives ids (at or above len(texts)) to the strings of a
	// raw vocabulary's merges that are not tokens.
	mergeOnly              map[string]int32
	lowercase, stripAccent bool // WordPiece normalization; lowercase also for the whitespace model
	maxTokenLen            int

	pretok    *pretokenizer
	cacheSize int
	states    *sync.Pool // of *state
}

// NoToken is the id returned by the special-token accessors when the
// vocabulary has no such token.
const NoToken int32 = -1

// VocabSize returns the number of tokens.
func (t *Tokenizer) VocabSize() int { return len(t.texts) }

// Model returns tokenizer.ggml.model: "llama", "gpt2", "gemma4",
// "whitespace" or "bert".
func (t *Tokenizer) Model() string { return t.modelKey }

// Pre returns tokenizer.ggml.pre as the file gives it ("" when absent).
func (t *Tokenizer) Pre() string { return t.pre }

// BOS returns the beginning-of-sequence token (for WordPiece, [CLS]), or
// NoToken.
func (t *Tokenizer) BOS() int32 { return t.bos }

// EOS returns the end-of-sequence token, or NoToken.
func (t *Tokenizer) EOS() int32 { return t.eos }

// EOT returns the end-of-turn token (such as <|eot_id|> or <|im_end|>), or
// NoToken.
func (t *Tokenizer) EOT() int32 { return t.eot }

// EOM returns the end-of-message token (<|eom_id|>), or NoToken.
func (t *Tokenizer) EOM() int32 { return t.eom }

// UNK returns the unknown token, or NoToken.
func (t *Tokenizer) UNK() int32 { return t.unk }

// PAD returns the padding token, or NoToken.
func (t *Tokenizer) PAD() int32 { return t.pad }

// SEP returns the separator token, or NoToken.
func (t *Tokenizer) SEP() int32 { return t.sep }

// AddsBOS reports whether Encode with AddSpecial puts BOS (or [CLS]) first
// by default.
func (t *Tokenizer) AddsBOS() bool { return t.addBOS && t.bos >= 0 }

// AddsEOS reports whether Encode with AddSpecial puts EOS (or, for
// WordPiece, [SEP]) last by default.
func (t *Tokenizer) AddsEOS() bool { return t.endToken() >= 0 }

// IsEOG reports whether id ends generation: EOS, EOT, EOM, and every token
// llama.cpp's vocabulary loader treats as such by its text (<|eot_id|>,
// <|end|>, <|im_end|>, <end_of_turn>, <|endoftext|>, …, and the
// fill-in-the-middle pad, repo and file-separator tokens).
func (t *Tokenizer) IsEOG(id int32) bool { return t.eog[id] }

// EOGs returns the end-of-generation tokens in increasing order.
func (t *Tokenizer) EOGs() []int32 {
	return slices.Sorted(maps.Keys(t.eog))
}

// Piece returns the vocabulary string of a token as the file stores it
// ("▁the", "Ġthe", "<0x0A>", "<|eot_id|>"), or "" for an id out of range.
func (t *Tokenizer) Piece(id int32) string {
	if !t.valid(id) {
		return ""
	}
	return t.texts[id]
}

// Bytes returns the bytes a token contributes to decoded text, the way the
// Decoder renders it with Special set: "▁" becomes a space, byte tokens
// become their byte, byte-level BPE characters become the bytes they stand
// for, and control tokens give their text. It returns nil for an id out of
// range. The slice must not be modified.
func (t *Tokenizer) Bytes(id int32) []byte {
	if !t.valid(id) {
		return nil
	}
	return t.pieces[t.pieceOff[id]:t.pieceOff[id+1]:t.pieceOff[id+1]]
}

// TokenType returns a token's type as tokenizer.ggml.token_type gives it
// (TypeNormal for every token when the file has no types), or
// TypeUndefined for an id out of range.
func (t *Tokenizer) TokenType(id int32) Type {
	if !t.valid(id) {
		return TypeUndefined
	}
	return t.types[id]
}

// Score returns a token's score (tokenizer.ggml.scores), 0 when absent.
func (t *Tokenizer) Score(id int32) float32 {
	if !t.valid(id) || t.scores == nil {
		return 0
	}
	return t.scores[id]
}

// IsControl reports whether a token is a control token, one that Decode
// renders only when asked to.
func (t *Tokenizer) IsControl(id int32) bool {
	return t.valid(id) && t.attrs[id]&attrControl != 0
}

func (t *Tokenizer) valid(id int32) bool { return id >= 0 && int(id) < len(t.texts) }

// endToken is the token Encode appends with AddSpecial: EOS when the model
// asks for it, else SEP for models that add one (WordPiece), else NoToken.
func (t *Tokenizer) endToken() int32 {
	switch {
	case t.addEOS && t.eos >= 0:
		return t.eos
	case t.addSep && t.sep >= 0:
		return t.sep
	}
	return NoToken
}
