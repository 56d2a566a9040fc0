package grammar

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

func mustParse(t testing.TB, src string) *Grammar {
	t.Helper()
	g, err := Parse(src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return g
}

func TestMatchString(t *testing.T) {
	cases := []struct {
		src  string
		yes  []string
		no   []string
		note string
	}{
		{src: `root ::= "abc"`, yes: []string{"abc"}, no: []string{"", "ab", "abcd", "abd"}},
		{src: `root ::= "a" | "bc" | ""`, yes: []string{"a", "bc", ""}, no: []string{"b", "abc"}},
		{src: `root ::= [a-c]+`, yes: []string{"a", "abcabc"}, no: []string{"", "d", "abd"}},
		{src: `root ::= [^a-c]*`, yes: []string{"", "xyz", "한국어", "\x00"}, no: []string{"a", "xa"}},
		{src: `root ::= "x"{2,4}`, yes: []string{"xx", "xxx", "xxxx"}, no: []string{"x", "xxxxx"}},
		{src: `root ::= "x"{3}`, yes: []string{"xxx"}, no: []string{"xx", "xxxx"}},
		{src: `root ::= "x"{2,}`, yes: []string{"xx", "xxxxxxx"}, no: []string{"x"}},
		{src: `root ::= "x"{,2} "y"`, yes: []string{"y", "xy", "xxy"}, no: []string{"xxxy"}},
		{src: `root ::= ("ab" | "c")* "."`, yes: []string{".", "ab.", "cabc."}, no: []string{"a.", "abab"}},
		{src: `root ::= . .`, yes: []string{"ab", "가나", "a😀"}, no: []string{"a", "abc", "\xff\xfe"}},
		{src: "root ::= \"\\x41\\u00e9\\U0001F600\\n\\t\\\\\\\"\"", yes: []string{"Aé😀\n\t\\\""}},
		{src: `root ::= [\x00-\x7F]`, yes: []string{"\x00", "\x7f"}, no: []string{"\u0080"}},
		{src: `root ::= [가-힣]{2}`, yes: []string{"한국", "가힣"}, no: []string{"한", "ab", "ㄱㄴ"}},
		{src: `root ::= [\]\-^]+`, yes: []string{"]-^"}, no: []string{"a"}},
		{src: "root ::= a b\na ::= \"1\" # comment\nb ::= \"2\"\n", yes: []string{"12"}},
		{src: "root ::= (\n  \"a\"\n  | \"b\"\n)", yes: []string{"a", "b"}},
		{src: "root ::= \"a\"\n     | \"b\"", yes: []string{"a", "b"}, note: "| on the next line continues the rule"},
		{src: "root ::= \"a\" |\n  \"b\"", yes: []string{"a", "b"}},
		{src: `root ::= list
list ::= "[" ( item ( "," item )* )? "]"
item ::= [0-9]+ | list`, yes: []string{"[]", "[1,[2,[]],3]"}, no: []string{"[", "[1,]", "[[]"}},
		{src: `root ::= ( "a"? "b" )*`, yes: []string{"", "b", "abab", "bb"}, no: []string{"a"}},
	}
	for _, c := range cases {
		g := mustParse(t, c.src)
		for _, s := range c.yes {
			if !g.MatchString(s) {
				t.Errorf("%q: %q should match", c.src, s)
			}
		}
		for _, s := range c.no {
			if g.MatchString(s) {
				t.Errorf("%q: %q should not match", c.src, s)
			}
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"root ::= \"abc", "line 1, column 10: string literal is not closed"},
		{"root ::= [abc", "line 1, column 10: character class is not closed"},
		{"root ::= foo", `line 1, column 10: rule "foo" is not defined`},
		{"root ::= (\"a\"", "expected ) to close the group"},
		{"root = \"a\"", "expected ::= after rule name"},
		{"root ::= \"a\"\n  ::= \"b\"", "line 2, column 3: expected a rule name"},
		{"root ::= \"\\q\"", `unknown escape \q`},
		{"root ::= \"\\u12\"", `\u needs 4 hexadecimal digits`},
		{"root ::= \"\\uD800\"", "is not a Unicode scalar value"},
		{"root ::= [z-a]", "backwards"},
		{"root ::= \"a\"{3,2}", "the maximum is below the minimum"},
		{"root ::= \"a\"{5000}", "above the limit"},
		{"root ::= ((\"ab\"{1000}){1000}){1000}", "larger than"},
		{"root ::= \"a\"**", "a second repetition operator"},
		{"root ::= \"a\"?*", "a second repetition operator"},
		{"root ::= (\"a\"?)*", "can match the empty string"},
		{"root ::= root \"a\" | \"b\"", "left-recursive"},
		{"root ::= x\nx ::= y? x \"a\"\ny ::= \"b\"", "left-recursive"},
		{"root ::= \"a\" root", "matches no string"},
		{"root ::= [^\\x00-\\U0010FFFF]", "matches no string"},
		{"top ::= \"a\"", `no rule named "root"`},
		{"", "no rules"},
		{"root ::= \"a\"\nroot ::= \"b\"", "defined twice"},
		{"root ::= <>", "empty token reference"},
		{"root ::= <[x]>", "needs a token id"},
		{"root ::= <think", "not closed with >"},
		{"root ::= \"a\" )", `expected the end of the line after rule "root", found ')'`},
		{"root ::= \"가나\" ]", "line 1, column 15"},
	}
	for _, c := range cases {
		_, err := Parse(c.src)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", c.src, err, c.want)
		}
	}
}

// TestUTF8Sequences checks the byte sequences of random code point ranges
// against the encodings of the code points themselves.
func TestUTF8Sequences(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	edges := []rune{0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xD800, 0xDFFF, 0xE000, 0xFFFF, 0x10000, 0x10FFFF}
	pick := func() rune {
		if rng.IntN(3) == 0 {
			return edges[rng.IntN(len(edges))]
		}
		return rune(rng.IntN(utf8.MaxRune + 1))
	}
	in := func(sqs [][][2]byte, b []byte) bool {
	next:
		for _, sq := range sqs {
			if len(sq) != len(b) {
				continue
			}
			for i, r := range sq {
				if b[i] < r[0] || b[i] > r[1] {
					continue next
				}
			}
			return true
		}
		return false
	}
	for range 300 {
		lo, hi := pick(), pick()
		if lo > hi {
			lo, hi = hi, lo
		}
		sqs := utf8Sequences(lo, hi, nil)
		for range 200 {
			r := pick()
			if rng.IntN(2) == 0 && hi > lo {
				r = lo + rune(rng.IntN(int(hi-lo+1)))
			}
			want := r >= lo && r <= hi && utf8.ValidRune(r)
			var buf [4]byte
			n := utf8.EncodeRune(buf[:], r)
			if utf8.ValidRune(r) && in(sqs, buf[:n]) != want {
				t.Fatalf("[%U-%U] and %U: got %v, want %v", lo, hi, r, !want, want)
			}
		}
	}
}

// testIndex builds an index over the given token texts; the last token is
// the end of generation.
func testIndex(texts ...string) *Index {
	t := make([][]byte, len(texts)+1)
	for i, s := range texts {
		t[i] = []byte(s)
	}
	names := append(append([]string(nil), texts...), "</s>")
	return newIndex(t, []int32{int32(len(texts))}, func(id int32) string { return names[id] })
}

func allowed(m *Matcher) []int32 {
	bits, _ := m.Mask()
	var ids []int32
	for id := range int32(len(bits) * 64) {
		if bits[id>>6]&(1<<(id&63)) != 0 {
			ids = append(ids, id)
		}
	}
	return ids
}

func TestMatcherTokens(t *testing.T) {
	// 0 "한" split as bytes over tokens 1 and 2; 3 "{"; 4 "}"; 5 "{}"; 6 "a"
	ix := testIndex("한", "\xed", "\x95\x9c", "{", "}", "{}", "a")
	eos := int32(7)
	g := mustParse(t, `root ::= "{" [가-힣]* "}"`)
	c, err := g.Bind(ix)
	if err != nil {
		t.Fatal(err)
	}
	m := c.NewMatcher()
	if got := allowed(m); !equal(got, []int32{3, 5}) {
		t.Fatalf("start: allowed %v, want [3 5]", got)
	}
	if err := m.Accept(3); err != nil {
		t.Fatal(err)
	}
	if got := allowed(m); !equal(got, []int32{0, 1, 4}) {
		t.Fatalf("after {: allowed %v, want [0 1 4]", got)
	}
	// A token that ends inside a character: only the rest of it may follow.
	if err := m.Accept(1); err != nil {
		t.Fatal(err)
	}
	if got := allowed(m); !equal(got, []int32{2}) {
		t.Fatalf("inside 한: allowed %v, want [2]", got)
	}
	if m.Allows(4) || m.Allows(eos) || m.Complete() {
		t.Fatal("} or the end allowed inside a character")
	}
	if id, ok := m.Forced(); !ok || id != 2 {
		t.Fatalf("Forced = %d, %v; want 2, true", id, ok)
	}
	if err := m.Accept(4); err == nil {
		t.Fatal("Accept(}) inside a character succeeded")
	}
	for _, id := range []int32{2, 0, 4} {
		if err := m.Accept(id); err != nil {
			t.Fatal(err)
		}
	}
	if !m.Complete() || !m.Allows(eos) {
		t.Fatal("not complete after {한한}")
	}
	if id, ok := m.Forced(); !ok || id != eos {
		t.Fatalf("Forced at the end = %d, %v; want the end token", id, ok)
	}
	if err := m.Accept(eos); err != nil {
		t.Fatal(err)
	}
	if err := m.Accept(3); err == nil {
		t.Fatal("a token after the end was accepted")
	}
	m.Reset()
	if err := m.Accept(eos); err == nil {
		t.Fatal("the end was accepted at the start")
	}
	if err := m.Accept(5); err != nil || !m.Complete() {
		t.Fatalf("{} as one token: %v, complete %v", err, m.Complete())
	}
}

func TestTokenReferences(t *testing.T) {
	ix := testIndex("a", "b", "<think>", "</think>")
	ix.text[2], ix.text[3] = nil, nil // control tokens: not text
	ix = newIndex(ix.text, ix.eog, ix.pieces)
	g := mustParse(t, `root ::= <think> (!<[3]>)* <[3]> "a"`)
	c, err := g.Bind(ix)
	if err != nil {
		t.Fatal(err)
	}
	m := c.NewMatcher()
	if got := allowed(m); !equal(got, []int32{2}) {
		t.Fatalf("start: %v, want [2]", got)
	}
	for _, id := range []int32{2, 0, 1, 2, 3, 0} {
		if err := m.Accept(id); err != nil {
			t.Fatalf("token %d: %v", id, err)
		}
	}
	if !m.Complete() {
		t.Fatal("not complete")
	}
	if g.MatchString("a") {
		t.Fatal("a token reference matched text")
	}
	if _, err := mustParse(t, `root ::= <nope>`).Bind(ix); err == nil || !strings.Contains(err.Error(), "<nope> is not in the vocabulary") {
		t.Fatalf("unknown token name: %v", err)
	}
	if _, err := mustParse(t, `root ::= <[99]>`).Bind(ix); err == nil || !strings.Contains(err.Error(), "beyond the vocabulary") {
		t.Fatalf("id out of range: %v", err)
	}
}

// TestMaskMatchesAllows checks, on random walks, that the mask holds exactly
// the tokens Allows accepts, for a JSON-like grammar and a vocabulary of
// fragments with multi-byte characters split at every byte.
func TestMaskMatchesAllows(t *testing.T) {
	texts := []string{"{", "}", "\"", "\":", ",", " ", "  ", "\n", "a", "ab", "b\"", "1", "12", "true", "tr", "ue",
		"한", "국", "\xed", "\x95", "\x9c", "\xed\x95", "[", "]", "[]", "{\"", "\"}", "null", "\\", "\\n", "é", ":"}
	ix := testIndex(texts...)
	// Several grammars share the index, and with it the local masks of
	// their strings (same rules in other places and other grammars).
	for gi, src := range []string{`root ::= value
value ::= obj | arr | str | num | "true" | "null"
obj ::= "{" ws ( str ws ":" ws value ( "," ws str ws ":" ws value )* )? ws "}"
arr ::= "[" ws ( value ( "," ws value )* )? ws "]"
str ::= "\"" ( [^"\\] | "\\" ["\\n] ){0,6} "\""
num ::= [0-9]{1,3}
ws ::= [ \n]{0,2}`, `root ::= "[" ws ( item ( "," ws item )* )? "]"
item ::= str | "{" ws str ws ":" ws str ws "}"
str ::= "\"" ( [^"\\] | "\\" ["\\n] ){0,6} "\""
ws ::= [ \n]{0,2}`, `root ::= str ":" str | "[" str "]" str
str ::= "\"" ( [^"\\] | "\\" ["\\n] ){0,6} "\""`} {
		t.Run(fmt.Sprint(gi), func(t *testing.T) { checkMaskMatchesAllows(t, ix, mustParse(t, src), len(texts)) })
	}
}

func checkMaskMatchesAllows(t *testing.T, ix *Index, g *Grammar, eos int) {
	c, err := g.Bind(ix)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for walk := range 200 {
		m := c.NewMatcher()
		for step := 0; step < 40; step++ {
			ok := allowed(m)
			for id := range int32(eos + 1) {
				if m.Allows(id) != contains(ok, id) {
					t.Fatalf("walk %d step %d: Allows(%d) = %v but mask says %v", walk, step, id, !contains(ok, id), contains(ok, id))
				}
			}
			if len(ok) == 0 {
				t.Fatalf("walk %d step %d: no token allowed", walk, step)
			}
			id := ok[rng.IntN(len(ok))]
			if int(id) == eos {
				break
			}
			if err := m.Accept(id); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func TestTooComplex(t *testing.T) {
	if !errors.Is(ErrTooComplex, ErrTooComplex) {
		t.Fatal("ErrTooComplex")
	}
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func contains(s []int32, x int32) bool {
	for _, v := range s {
		if v == x {
			return true
		}
	}
	return false
}

// FuzzParse checks that no source makes the parser or the matcher panic,
// and that a parsed grammar can run on text and tokens.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`root ::= "a" [b-c]* | ( "d" ){2,3}`, "root ::= x\nx ::= \"\\u00e9\" . <[1]>", `root ::= [^"\\]+ "한"?`, "root ::= (\n\"a\"\n)*"} {
		f.Add(s, "a한bc")
	}
	ix := testIndex("a", "b", "\xed", "\x95\x9c", "한", "c", "d")
	f.Fuzz(func(t *testing.T, src, text string) {
		g, err := Parse(src)
		if err != nil {
			return
		}
		g.MatchString(text)
		c, err := g.Bind(ix)
		if err != nil {
			return
		}
		m := c.NewMatcher()
		for range 8 {
			ids := allowed(m)
			if len(ids) == 0 || m.Err() != nil {
				return
			}
			if err := m.Accept(ids[len(ids)/2]); err != nil {
				if int(ids[len(ids)/2]) == 7 { // the end token
					return
				}
				t.Fatalf("an allowed token was refused: %v", err)
			}
		}
	})
}

func TestLengthsAndBytes(t *testing.T) {
	for _, c := range []struct {
		src      string
		min, max int
		bytes    string
	}{
		{`root ::= "ab" | "c"`, 1, 2, "abc"},
		{`root ::= [0-9]{3,5} "-"?`, 3, 6, "-0123456789"},
		{`root ::= "x" [a-b]*`, 1, -1, "abx"},
		{"root ::= \"(\" root? \")\"", 2, -1, "()"},
		{`root ::= "é" | ""`, 0, 2, "\xa9\xc3"},
	} {
		g := mustParse(t, c.src)
		if lo, hi := g.Lengths(); lo != c.min || hi != c.max {
			t.Errorf("%s: Lengths = %d, %d; want %d, %d", c.src, lo, hi, c.min, c.max)
		}
		if b := string(g.Bytes()); b != c.bytes {
			t.Errorf("%s: Bytes = %q, want %q", c.src, b, c.bytes)
		}
	}
}
