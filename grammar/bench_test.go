package grammar_test

import (
	"testing"

	"github.com/ondo-ai/ondo/grammar"

	"github.com/ondo-ai/ondo/tokenizer"
)

// BenchmarkMaskCold measures building the masks of a JSON document's
// states from nothing (a fresh grammar each time), on the Llama 3
// vocabulary: the worst case, every state met for the first time.
func BenchmarkMaskCold(b *testing.B) {
	tk, ix := vocab(b, "llama3")
	ids := tk.Encode(jsonTexts[0].text, tokenizer.EncodeOptions{Continue: true})
	b.ReportAllocs()
	for b.Loop() {
		g := mustParse(b, jsonGBNF)
		c, err := g.Bind(ix)
		if err != nil {
			b.Fatal(err)
		}
		m := c.NewMatcher()
		for _, id := range ids {
			m.Mask()
			if err := m.Accept(id); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ids))/1e3, "µs/token")
}

// BenchmarkStringMask is one mask of the inside of a JSON string, where
// nearly every token is allowed and the whole trie is walked.
func BenchmarkStringMask(b *testing.B) {
	tk, ix := vocab(b, "llama3")
	quote := tk.Encode(`"`, tokenizer.EncodeOptions{})
	for b.Loop() {
		b.StopTimer()
		g := mustParse(b, `root ::= "\"" [^"\\\x00-\x1F]* "\""`)
		c, _ := g.Bind(ix)
		m := c.NewMatcher()
		if err := m.Accept(quote[0]); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		m.Mask()
	}
}

// BenchmarkStringMaskWarm is BenchmarkStringMask with the parser tables
// already built: the trie walk alone.
func BenchmarkStringMaskWarm(b *testing.B) {
	tk, ix := vocab(b, "llama3")
	quote := tk.Encode(`"`, tokenizer.EncodeOptions{})
	g := mustParse(b, `root ::= "\"" [^"\\\x00-\x1F]* "\""`)
	c, _ := g.Bind(ix)
	m := c.NewMatcher()
	if err := m.Accept(quote[0]); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		grammar.DropMasks(c)
		grammar.DropShared(ix)
		m.Mask()
	}
}
