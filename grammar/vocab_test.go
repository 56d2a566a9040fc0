package grammar_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/internal/testtok"
	"github.com/ondo-ai/ondo/tokenizer"
)

// jsonGBNF is JSON as RFC 8259 writes it, with whitespace bounded.
const jsonGBNF = `root   ::= value
value  ::= object | array | string | number | ("true" | "false" | "null")
object ::= "{" ws ( string ws ":" ws value ws ( "," ws string ws ":" ws value ws )* )? "}"
array  ::= "[" ws ( value ws ( "," ws value ws )* )? "]"
string ::= "\"" ( [^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ) )* "\""
number ::= "-"? ( "0" | [1-9] [0-9]* ) ( "." [0-9]+ )? ( [eE] [-+]? [0-9]+ )?
ws     ::= | " " | "\n" [ \t]{0,20}
`

var (
	indexMu sync.Mutex
	indexes = map[string]*grammar.Index{}
)

// vocab loads a shared vocabulary and its index: "llama3" (128,256 tokens,
// byte-level BPE) or "llama-spm" (32,000, SentencePiece with byte fallback).
func vocab(tb testing.TB, name string) (*tokenizer.Tokenizer, *grammar.Index) {
	tb.Helper()
	tk := testtok.Load(tb, name)
	indexMu.Lock()
	defer indexMu.Unlock()
	if indexes[name] == nil {
		indexes[name] = grammar.NewIndex(tk)
	}
	return tk, indexes[name]
}

// force feeds text token by token through a matcher, checking at each step
// that the token is allowed both by Allows and by the mask; it reports
// whether every token was accepted and the text ended complete.
func force(tb testing.TB, tk *tokenizer.Tokenizer, c *grammar.Constraint, text string, checkMask bool) bool {
	tb.Helper()
	ids := tk.Encode(text, tokenizer.EncodeOptions{Continue: true})
	var got []byte
	for _, id := range ids {
		got = append(got, tk.Bytes(id)...)
	}
	if !bytes.Equal(got, []byte(text)) {
		tb.Fatalf("tokens of %q give %q", text, got)
	}
	m := c.NewMatcher()
	for _, id := range ids {
		ok := m.Allows(id)
		if checkMask {
			bits, _ := m.Mask()
			if inMask := bits[id>>6]&(1<<(id&63)) != 0; inMask != ok {
				tb.Fatalf("%q: token %d: Allows %v, mask %v", text, id, ok, inMask)
			}
		}
		if !ok {
			return false
		}
		if err := m.Accept(id); err != nil {
			tb.Fatal(err)
		}
	}
	return m.Complete() && m.Allows(tk.EOS())
}

var jsonTexts = []struct {
	text  string
	valid bool
}{
	{`{"name": "김민준", "age": 31, "tags": ["개발자", "서울"], "ok": true}`, true},
	{`{"a":[1,2.5,-3e10,{"b":null}],"c":"\"\\\/\b\f\n\r\t\u00e9"}`, true},
	{"[\n  {\"x\": 1},\n  {\"y\": [false, true]}\n]", true},
	{`"한국어 문장입니다. 😀"`, true},
	{`-0.0e+5`, true},
	{`{"a": 1,}`, false},
	{`{"a" 1}`, false},
	{`[01]`, false},
	{`"tab	inside"`, false},
	{`{"a": 1}}`, false},
	{`"\x"`, false},
	{`{"a":        1}`, false}, // more spaces than ws allows
}

func TestRealVocabularies(t *testing.T) {
	g, err := grammar.Parse(jsonGBNF)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"llama3", "llama-spm"} {
		tk, ix := vocab(t, name)
		c, err := g.Bind(ix)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range jsonTexts {
			if got := force(t, tk, c, x.text, true); got != x.valid {
				t.Errorf("%s: %q: accepted %v, want %v", name, x.text, got, x.valid)
			}
		}
	}
}

// randomWalk generates text by drawing uniformly among the allowed tokens
// until the end of generation (or n tokens), as a random-weight model at
// high temperature would.
func randomWalk(tk *tokenizer.Tokenizer, c *grammar.Constraint, rng *rand.Rand, n int) ([]byte, bool) {
	m := c.NewMatcher()
	var out []byte
	for range n {
		bits, count := m.Mask()
		if count == 0 {
			return out, false
		}
		k := rng.IntN(count)
		id := int32(-1)
		for w, word := range bits {
			if c := popcount(word); k >= c {
				k -= c
				continue
			}
			for b := range 64 {
				if word&(1<<b) != 0 {
					if k == 0 {
						id = int32(w*64 + b)
						break
					}
					k--
				}
			}
			break
		}
		if tk.IsEOG(id) {
			return out, true
		}
		if err := m.Accept(id); err != nil {
			return out, false
		}
		out = append(out, tk.Bytes(id)...)
	}
	return out, false
}

func popcount(x uint64) int {
	n := 0
	for ; x != 0; x &= x - 1 {
		n++
	}
	return n
}

// walkJSON runs random walks and reports the first problem: output that is
// not valid UTF-8 (where complete) or, once finished, not valid JSON.
func walkJSON(tb testing.TB, g *grammar.Grammar, walks int) string {
	tk, ix := vocab(tb, "llama3")
	c, err := g.Bind(ix)
	if err != nil {
		tb.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	finished := 0
	for range walks {
		out, done := randomWalk(tk, c, rng, 300)
		if !done {
			// The text may stop inside a character: check what is complete.
			for i := len(out) - 1; i >= 0 && i >= len(out)-3; i-- {
				if utf8.RuneStart(out[i]) {
					if !utf8.FullRune(out[i:]) {
						out = out[:i]
					}
					break
				}
			}
		}
		if !utf8.Valid(out) {
			return fmt.Sprintf("invalid UTF-8: %q", out)
		}
		if done {
			finished++
			if !json.Valid(out) {
				return fmt.Sprintf("invalid JSON: %q", out)
			}
		}
	}
	if finished == 0 {
		return "no walk finished"
	}
	return ""
}

func TestRandomWalksStayValid(t *testing.T) {
	if msg := walkJSON(t, mustParse(t, jsonGBNF), 60); msg != "" {
		t.Fatal(msg)
	}
}

// TestRandomWalksCanFail shows the check above catching a mask that lets a
// byte of a multi-byte character through too early.
func TestRandomWalksCanFail(t *testing.T) {
	g := mustParse(t, jsonGBNF)
	if n := grammar.BreakContinuationBytes(g, 'a'); n == 0 {
		t.Fatal("no continuation byte set to break")
	}
	if msg := walkJSON(t, g, 60); !strings.HasPrefix(msg, "invalid UTF-8") {
		t.Fatalf("the broken grammar went unnoticed (%q)", msg)
	}
}

func mustParse(tb testing.TB, src string) *grammar.Grammar {
	tb.Helper()
	g, err := grammar.Parse(src)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// TestConcurrentMatchers runs matchers of one grammar on several
// goroutines at once, sharing the grammar's tables, the constraint's masks
// and the index's local masks (run it with -race).
func TestConcurrentMatchers(t *testing.T) {
	tk, ix := vocab(t, "llama3")
	g := mustParse(t, jsonGBNF)
	c, err := g.Bind(ix)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range jsonTexts {
				x := jsonTexts[(i+w)%len(jsonTexts)]
				if got := force(t, tk, c, x.text, w%2 == 0); got != x.valid {
					t.Errorf("%q: accepted %v, want %v", x.text, got, x.valid)
				}
			}
		})
	}
	wg.Wait()
}

// TestSpecialTokensNeverText checks that control and user-defined tokens
// (Llama 3's <|eot_id|>, <|python_tag|>, …; deepseek-coder's user-defined
// tokens) are never allowed as text, even where the grammar takes any
// character, and that the end of generation is allowed only where the
// grammar is complete.
func TestSpecialTokensNeverText(t *testing.T) {
	g := mustParse(t, `root ::= "x" .*`)
	for _, name := range []string{"llama3", "deepseek-coder"} {
		tk, ix := vocab(t, name)
		c, err := g.Bind(ix)
		if err != nil {
			t.Fatal(err)
		}
		m := c.NewMatcher()
		x := tk.Encode("x", tokenizer.EncodeOptions{Continue: true})
		if len(x) != 1 || m.Accept(x[0]) != nil {
			t.Fatalf("%s: cannot start with x", name)
		}
		bits, count := m.Mask()
		special := 0
		for id := range int32(tk.VocabSize()) {
			typ := tk.TokenType(id)
			if typ != tokenizer.TypeControl && typ != tokenizer.TypeUserDefined {
				continue
			}
			special++
			if in := bits[id>>6]&(1<<(id&63)) != 0; in != tk.IsEOG(id) {
				t.Errorf("%s: token %d %q (%v): in the mask %v", name, id, tk.Piece(id), typ, in)
			}
		}
		if special == 0 || count < tk.VocabSize()/2 {
			t.Fatalf("%s: %d special tokens, %d allowed: the check proves nothing", name, special, count)
		}
	}
}

// TestChainMasks checks masks against Allows, token by token over the whole
// Llama 3 vocabulary, along texts inside counted repetitions long enough to
// be masked through their twin loops (x{m,n} with n-m ≥ 8), and at their
// ends, where the count runs out.
func TestChainMasks(t *testing.T) {
	tk, ix := vocab(t, "llama3")
	for _, c := range []struct{ src, text string }{
		{`root ::= "\"" [^"\\]{0,12} "\""`, `"abcdefghij한국"`},
		{`root ::= "\"" [^"\\]{2,11} "\"" [a-z]`, `"ab c d 😀 g"x`},
		{`root ::= "[" ( [a-z] | "\\" [n"] ){0,9} "]"`, `[ab\n\"cdefg]`},
		{`root ::= "x" [0-9a-f]{8,40} "y"`, `x0123456789abcdef0123y`},
		{`root ::= "\"" [^"\\]{1,10} "\""`, `"abcdefghij"`},
		{`root ::= "{\"" ( [^"\\n] [^"\\]* | "n" ( [^"\\a] [^"\\]* )? ) "\":1}"`, `{"nbc":1}`},
		// Keys that must not be "foo" or "이름": the string loop on every
		// first byte but 'f' and the first byte of 이.
		{`root ::= "{\"" ( [^"\\f이] [^"\\]* | "f" ( [^"\\o] [^"\\]* | "o" ( [^"\\o] [^"\\]* | "o" [^"\\]+ )? )? | "이" ( [^"\\름] [^"\\]* )? ) "\":1}"`, `{"fox":1}`},
		{`root ::= "{\"" ( [^"\\f이] [^"\\]* | "f" ( [^"\\o] [^"\\]* | "o" ( [^"\\o] [^"\\]* | "o" [^"\\]+ )? )? | "이" ( [^"\\름] [^"\\]* )? ) "\":1}"`, `{"이사":1}`},
	} {
		g := mustParse(t, c.src)
		cons, err := g.Bind(ix)
		if err != nil {
			t.Fatal(err)
		}
		m := cons.NewMatcher()
		ids := tk.Encode(c.text, tokenizer.EncodeOptions{Continue: true})
		for step, id := range append(ids, tk.EOS()) {
			bits, _ := m.Mask()
			for other := range int32(tk.VocabSize()) {
				if in := bits[other>>6]&(1<<(other&63)) != 0; in != m.Allows(other) {
					t.Fatalf("%s at step %d: token %d %q: mask %v, Allows %v", c.src, step, other, tk.Piece(other), in, !in)
				}
			}
			if err := m.Accept(id); err != nil {
				t.Fatalf("%s: %q: step %d: %v", c.src, c.text, step, err)
			}
		}
	}
}
