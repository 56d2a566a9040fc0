package jsonschema

import (
	"bytes"
	"testing"

	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/internal/testtok"
	"github.com/ondo-ai/ondo/tokenizer"
)

type tokenVocab struct {
	name string
	tk   *tokenizer.Tokenizer
	ix   *grammar.Index
}

func loadVocab(tb testing.TB, name string) tokenVocab {
	tk := testtok.Load(tb, name)
	return tokenVocab{name, tk, grammar.NewIndex(tk)}
}

// TestSuiteTokens runs the test suite again with every text also forced
// token by token through a Matcher, on the Llama 3 vocabulary (byte-level
// BPE, 128,256 tokens) and on Llama 2's SentencePiece vocabulary (32,000,
// byte fallback): at each token, Allows and the full mask must agree, and
// the tokens must be accepted, ending complete, exactly when the text
// matches the grammar. So every valid instance the suite table counts is
// also producible through the masks, and every invalid one is not.
func TestSuiteTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("the token-level suite takes a while")
	}
	vocabs := []tokenVocab{loadVocab(t, "llama3"), loadVocab(t, "llama-spm")}
	saved := accepts
	defer func() { accepts = saved }()
	texts := 0
	accepts = func(g *grammar.Grammar, text string) bool {
		want := g.MatchString(text)
		texts++
		for _, v := range vocabs {
			if got := forceText(t, v, g, text); got != want {
				t.Errorf("%s: %q: tokens accepted %v, text matched %v", v.name, text, got, want)
			}
		}
		return want
	}
	runSuite(t, suiteFiles(t))
	t.Logf("%d texts forced through the masks of %d vocabularies", texts, len(vocabs))
}

// forceText feeds text token by token and reports whether every token was
// allowed and the end came complete, checking the mask against Allows.
func forceText(tb testing.TB, v tokenVocab, g *grammar.Grammar, text string) bool {
	c, err := g.Bind(v.ix)
	if err != nil {
		tb.Fatal(err)
	}
	ids := v.tk.Encode(text, tokenizer.EncodeOptions{Continue: true})
	var got []byte
	for _, id := range ids {
		got = append(got, v.tk.Bytes(id)...)
	}
	if !bytes.Equal(got, []byte(text)) {
		tb.Fatalf("%s: tokens of %q give %q", v.name, text, got)
	}
	m := c.NewMatcher()
	for _, id := range ids {
		ok := m.Allows(id)
		bits, _ := m.Mask()
		if inMask := bits[id>>6]&(1<<(id&63)) != 0; inMask != ok {
			tb.Errorf("%s: %q: token %d: Allows %v, mask %v", v.name, text, id, ok, inMask)
		}
		if !ok {
			return false
		}
		if err := m.Accept(id); err != nil {
			tb.Fatal(err)
		}
	}
	return m.Complete() && m.Allows(v.tk.EOS())
}
