// Package scripted is a model for tests: whatever the prompt, it generates
// a given text token by token, then its end-of-generation token. It lets
// the engine and the server be tested on exact outputs (tool calls,
// reasoning) with a real vocabulary and chat template.
//
// Importing the package registers the architecture Arch; Write makes a
// GGUF file of it from a vocabulary-only GGUF.
package scripted

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/tokenizer"
)

// Arch is the architecture name of scripted models.
const Arch = "ondo-scripted"

const scriptKey = Arch + ".script"

func init() { model.Register(Arch, load) }

// Write writes to dst a scripted model with the vocabulary of the GGUF at
// vocab, the chat template tmpl (none when empty) and the output script.
// Control tokens written in script (such as <|python_tag|>) are those
// tokens.
func Write(tb testing.TB, vocab, dst, tmpl, script string) {
	tb.Helper()
	f, err := gguf.Open(vocab)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var kvs []gguf.KV
	for _, kv := range f.KV {
		switch kv.Key {
		case "general.architecture", "tokenizer.chat_template", scriptKey:
		default:
			kvs = append(kvs, kv)
		}
	}
	kvs = append(kvs, gguf.NewKV("general.architecture", Arch), gguf.NewKV(scriptKey, script))
	if tmpl != "" {
		kvs = append(kvs, gguf.NewKV("tokenizer.chat_template", tmpl))
	}
	if err := gguf.WriteFile(dst, kvs, nil); err != nil {
		tb.Fatal(err)
	}
}

// Model generates its script. It is safe for the engine's use (calls are
// serialised, but the state is locked anyway).
type Model struct {
	vocab  int
	script []int32
	eos    int32
	mu     sync.Mutex
	seqs   map[*kvcache.Cache]*seqState
}

// seqState follows one sequence: where its output started and what it
// was given last.
type seqState struct {
	start int // position of the first generated token
	last  int // position of the last token seen
	want  int32
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
	eos := tok.EOS()
	if eos == tokenizer.NoToken {
		return nil, fmt.Errorf("scripted: the vocabulary has no EOS token")
	}
	ids := tok.Encode(script, tokenizer.EncodeOptions{ParseSpecial: true, BOS: tokenizer.Off, EOS: tokenizer.Off})
	return New(tok.VocabSize(), ids, eos), nil
}

// New returns a model of vocab tokens that generates script, then eos.
func New(vocab int, script []int32, eos int32) *Model {
	return &Model{vocab: vocab, script: script, eos: eos, seqs: map[*kvcache.Cache]*seqState{}}
}

// Info describes a one-layer model with a small cache.
func (m *Model) Info() model.Info {
	return model.Info{Arch: Arch, VocabSize: m.vocab, ContextLength: 4096, EmbeddingLength: 8,
		FeedForwardLength: 8, Layers: 1, Heads: 1, KVHeads: 1, HeadDim: 8}
}

// NewCache returns a cache that only keeps count of positions.
func (m *Model) NewCache(size int, f16 bool) (*kvcache.Cache, error) {
	return kvcache.New(1, size, 1, 8, f16)
}

// Forward puts the script's next token on top of each wanted logits row:
// a token that follows the last one given on from the script continues
// it, any other starts the script again after it.
func (m *Model) Forward(ctx context.Context, b *model.Batch, logits []float32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	row := 0
	ends := map[*kvcache.Cache]int{}
	for i, tok := range b.Tokens {
		c := b.Caches[0]
		if b.Seq != nil {
			c = b.Caches[b.Seq[i]]
		}
		pos := b.Pos[i]
		if err := c.Check(pos, 1); err != nil {
			return err
		}
		ends[c] = max(ends[c], pos+1)
		wanted := i == len(b.Tokens)-1
		if b.Logits != nil {
			wanted = b.Logits[i]
		}
		st := m.seqs[c]
		if st == nil {
			st = &seqState{}
			m.seqs[c] = st
		}
		if !(pos == st.last+1 && tok == st.want && pos >= st.start) {
			st.start = pos + 1 // a prompt: the output starts after it
		}
		st.last = pos
		k := pos + 1 - st.start
		st.want = m.eos
		if k < len(m.script) {
			st.want = m.script[k]
		}
		if !wanted {
			continue
		}
		out := logits[row*m.vocab : (row+1)*m.vocab]
		clear(out)
		out[st.want] = 100
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
