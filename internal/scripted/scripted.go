// Package scripted is a model for tests: whatever the prompt, it generates
// a given text token by token, then its end-of-generation token. It lets
// the engine and the server be tested on exact outputs (tool calls,
// reasoning) with a real vocabulary and chat template.
//
// Importing the package registers the architecture Arch; Write makes a
// GGUF file of it from a vocabulary-only GGUF. A model written with Delay
// waits before each generated token, so that a test can act in the middle
// of a stream.
package scripted

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/tokenizer"
)

// Arch is the architecture name of scripted models.
const Arch = "ondo-scripted"

const (
	scriptKey = Arch + ".script"
	delayKey  = Arch + ".delay_ms" // optional: milliseconds before each token
)

// An Option changes the model Write writes.
type Option func(*[]gguf.KV)

// Delay makes the model wait d (whole milliseconds) before each token it
// generates.
func Delay(d time.Duration) Option {
	return func(kvs *[]gguf.KV) { *kvs = append(*kvs, gguf.NewKV(delayKey, uint32(d.Milliseconds()))) }
}

func init() { model.Register(Arch, load) }

// Write writes to dst a scripted model with the vocabulary of the GGUF at
// vocab, the chat template tmpl (none when empty) and the output script.
// Control tokens written in script (such as <|python_tag|>) are those
// tokens.
func Write(tb testing.TB, vocab, dst, tmpl, script string, opts ...Option) {
	tb.Helper()
	f, err := gguf.Open(vocab)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var kvs []gguf.KV
	for _, kv := range f.KV {
		switch kv.Key {
		case "general.architecture", "tokenizer.chat_template", scriptKey, delayKey:
		default:
			kvs = append(kvs, kv)
		}
	}
	kvs = append(kvs, gguf.NewKV("general.architecture", Arch), gguf.NewKV(scriptKey, script))
	if tmpl != "" {
		kvs = append(kvs, gguf.NewKV("tokenizer.chat_template", tmpl))
	}
	for _, o := range opts {
		o(&kvs)
	}
	if err := gguf.WriteFile(dst, kvs, nil); err != nil {
		tb.Fatal(err)
	}
}

// Model generates its script. It follows the text generated rather than
// the tokens: a constrained sampler may force the same text in other
// tokens, and the script goes on from wherever the text has got to.
type Model struct {
	tok    *tokenizer.Tokenizer
	script string
	ids    []int32 // the script's tokens
	eos    int32
	delay  time.Duration // before each forward pass that generates
	mu     sync.Mutex
	seqs   map[*kvcache.Cache]*seqState
	next   map[int]int32 // the script's next token after each length of text
}

// seqState follows one sequence.
type seqState struct {
	last   int     // position of the last token seen
	wanted bool    // its logits were asked for: the next token is generated
	out    []byte  // the text generated so far
	gen    []int32 // and its tokens
}

func load(f *gguf.File, _ model.Config) (model.Model, error) {
	script, err := f.String(scriptKey)
	if err != nil {
		return nil, fmt.Errorf("scripted: %w", err)
	}
	tok, err := tokenizer.FromGGUF(f, tokenizer.Options{})
	if err != nil {
		return nil, err
	}
	m, err := New(tok, script)
	if err != nil {
		return nil, err
	}
	if f.Has(delayKey) {
		ms, err := f.Int(delayKey)
		if err != nil || ms < 0 || ms > 60_000 {
			return nil, fmt.Errorf("scripted: %s: want 0 to 60000 milliseconds (%d, %v)", delayKey, ms, err)
		}
		m.delay = time.Duration(ms) * time.Millisecond
	}
	return m, nil
}

// New returns a model with tok's vocabulary that generates script, then
// the vocabulary's EOS token.
func New(tok *tokenizer.Tokenizer, script string) (*Model, error) {
	eos := tok.EOS()
	if eos == tokenizer.NoToken {
		return nil, fmt.Errorf("scripted: the vocabulary has no EOS token")
	}
	ids := tok.Encode(script, tokenizer.EncodeOptions{ParseSpecial: true, BOS: tokenizer.Off, EOS: tokenizer.Off})
	return &Model{tok: tok, script: script, ids: ids, eos: eos, seqs: map[*kvcache.Cache]*seqState{}, next: map[int]int32{}}, nil
}

// Info describes a one-layer model with a small cache.
func (m *Model) Info() model.Info {
	return model.Info{Arch: Arch, VocabSize: m.tok.VocabSize(), ContextLength: 4096, EmbeddingLength: 8,
		FeedForwardLength: 8, Layers: 1, Heads: 1, KVHeads: 1, HeadDim: 8}
}

// NewCache returns a cache that only keeps count of positions.
func (m *Model) NewCache(size int, f16 bool) (*kvcache.Cache, error) {
	return kvcache.New(1, size, 1, 8, f16)
}

// want is the token that continues the script after st's output: its
// next token while the output is the script's tokens, else the first
// token of the rest of the script's text (control tokens written in it
// included), or EOS when the output is the whole script, has left it, or
// stops inside a character.
func (m *Model) want(st *seqState) int32 {
	if n := len(st.gen); n <= len(m.ids) && slices.Equal(st.gen, m.ids[:n]) {
		if n == len(m.ids) {
			return m.eos
		}
		return m.ids[n]
	}
	out := st.out
	if !strings.HasPrefix(m.script, string(out)) || len(out) == len(m.script) {
		return m.eos
	}
	if id, ok := m.next[len(out)]; ok {
		return id
	}
	rest := m.script[len(out):]
	id := m.eos
	if utf8.RuneStart(rest[0]) {
		if ids := m.tok.Encode(rest, tokenizer.EncodeOptions{ParseSpecial: true, BOS: tokenizer.Off, EOS: tokenizer.Off}); len(ids) > 0 {
			id = ids[0]
		}
	} else {
		// Inside a character (a forced token ended there): the longest
		// token whose bytes the rest starts with.
		best := 0
		for t := range int32(m.tok.VocabSize()) {
			if b := m.tok.Bytes(t); len(b) > best && strings.HasPrefix(rest, string(b)) && !m.tok.IsControl(t) {
				id, best = t, len(b)
			}
		}
	}
	m.next[len(out)] = id
	return id
}

// Forward puts the script's next token on top of each wanted logits row.
// A sequence's one token right after a position whose logits were asked
// for is generated text; any other token is prompt, after which the
// script starts again.
func (m *Model) Forward(ctx context.Context, b *model.Batch, logits []float32) error {
	if m.delay > 0 {
		select {
		case <-time.After(m.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	count := map[*kvcache.Cache]int{}
	cacheOf := func(i int) *kvcache.Cache {
		if b.Seq != nil {
			return b.Caches[b.Seq[i]]
		}
		return b.Caches[0]
	}
	for i := range b.Tokens {
		count[cacheOf(i)]++
	}
	vocab := m.tok.VocabSize()
	row := 0
	ends := map[*kvcache.Cache]int{}
	for i, tok := range b.Tokens {
		c := cacheOf(i)
		pos := b.Pos[i]
		if err := c.Check(pos, 1); err != nil {
			return err
		}
		ends[c] = max(ends[c], pos+1)
		st := m.seqs[c]
		if st == nil {
			st = &seqState{last: -2}
			m.seqs[c] = st
		}
		if count[c] == 1 && st.wanted && pos == st.last+1 {
			st.out = append(st.out, m.tok.Bytes(tok)...)
			st.gen = append(st.gen, tok)
		} else {
			st.out, st.gen = st.out[:0], st.gen[:0]
		}
		st.last = pos
		wanted := i == len(b.Tokens)-1
		if b.Logits != nil {
			wanted = b.Logits[i]
		}
		st.wanted = wanted
		if !wanted {
			continue
		}
		out := logits[row*vocab : (row+1)*vocab]
		clear(out)
		out[m.want(st)] = 100
		row++
	}
	for c, n := range ends {
		if err := c.Commit(max(n, c.Len())); err != nil {
			return err
		}
	}
	return nil
}

// Close does nothing.
func (m *Model) Close() error { return nil }
