package tokenizer

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// DecodeOptions control Decode and the Decoder.
type DecodeOptions struct {
	// Special renders control and unknown tokens (BOS, <|eot_id|>, …) as
	// their text; without it they render as nothing. User-defined tokens
	// are always rendered.
	Special bool
	// Continue says the ids continue text decoded earlier, such as tokens
	// generated after a prompt. Without it the ids are taken to start the
	// text, and for SentencePiece and WordPiece vocabularies the leading
	// space of the first rendered piece (the space the encoder put in
	// front, or the word start of WordPiece) is dropped, after a leading
	// BOS too when BOS is not rendered, as the reference decoders do.
	Continue bool
}

// Decode returns the text of ids. Bytes that do not form valid UTF-8 (from
// byte tokens that do not add up to whole characters) become U+FFFD, one
// per byte. It is the concatenation of what a Decoder returns for the same
// ids, Flush included. An id out of range is an error.
//
// Decode does not apply Hugging Face's clean_up_tokenization_spaces, so
// that decoding the ids of a text gives the text back.
func (t *Tokenizer) Decode(ids []int32, opts DecodeOptions) (string, error) {
	d := t.NewDecoder(opts)
	var b strings.Builder
	for _, id := range ids {
		s, err := d.Add(id)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
	}
	b.WriteString(d.Flush())
	return b.String(), nil
}

// A Decoder turns ids into text one at a time, as a model generates them.
// The text it returns is always valid UTF-8 and never ends inside a
// character: bytes of an incomplete character are held back until the ids
// that complete it arrive (Korean from byte-fallback tokens such as
// <0xEA><0xB0><0x80> comes out as one "가").
//
// A Decoder is not safe for concurrent use.
type Decoder struct {
	t       *Tokenizer
	opts    DecodeOptions
	strip   bool // drop the leading space of the first rendered piece
	pending []byte
	out     []byte
}

// NewDecoder returns a streaming decoder.
func (t *Tokenizer) NewDecoder(opts DecodeOptions) *Decoder {
	d := &Decoder{t: t, opts: opts}
	d.Reset()
	return d
}

// Reset makes the decoder start over, dropping held bytes.
func (d *Decoder) Reset() {
	d.pending = d.pending[:0]
	d.strip = !d.opts.Continue && (d.t.model == modelWPM || (d.t.model == modelSPM && d.t.addSpacePrefix))
}

// Add decodes one id and returns the text it completes, which may be empty.
func (d *Decoder) Add(id int32) (string, error) {
	if !d.t.valid(id) {
		return "", fmt.Errorf("tokenizer: token id %d is out of range (vocabulary size %d)", id, len(d.t.texts))
	}
	p := d.t.render(id, d.opts.Special)
	if len(p) == 0 {
		return "", nil
	}
	if d.strip {
		d.strip = false
		if p[0] == ' ' {
			p = p[1:]
		}
	}
	d.pending = append(d.pending, p...)
	cut := completeLen(d.pending)
	if cut == 0 {
		return "", nil
	}
	d.out = appendValid(d.out[:0], d.pending[:cut])
	d.pending = d.pending[:copy(d.pending, d.pending[cut:])]
	return string(d.out), nil
}

// Flush returns the bytes held back, as U+FFFD each: the ids ended inside
// a character.
func (d *Decoder) Flush() string {
	if len(d.pending) == 0 {
		return ""
	}
	s := string(appendValid(nil, d.pending))
	d.pending = d.pending[:0]
	return s
}

// render returns the bytes of a token in decoded text.
func (t *Tokenizer) render(id int32, special bool) []byte {
	if !special && t.attrs[id]&(attrControl|attrUnknown) != 0 {
		return nil
	}
	return t.pieces[t.pieceOff[id]:t.pieceOff[id+1]]
}

// completeLen returns the length of the longest prefix of b that does not
// end inside a character that more bytes could still complete.
func completeLen(b []byte) int {
	n := len(b)
	for i := n - 1; i >= 0 && i >= n-utf8.UTFMax+1; i-- {
		c := b[i]
		if utf8.RuneStart(c) {
			if c >= 0xC0 && !utf8.FullRune(b[i:]) {
				return i
			}
			return n
		}
	}
	return n
}
