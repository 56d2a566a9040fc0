package jsonschema

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ondo-ai/ondo/grammar"
)

// canonContent returns s as canonical JSON writes it between the quotes.
func canonContent(s string) string {
	q := jsonString(s)
	return q[1 : len(q)-1]
}

// stringGrammar compiles a grammar for a JSON string whose content is expr.
func stringGrammar(tb testing.TB, expr string) *grammar.Grammar {
	tb.Helper()
	g, err := grammar.Parse(`root ::= "\"" (` + expr + `) "\""`)
	if err != nil {
		tb.Fatalf("grammar.Parse: %v\nexpression: %s", err, expr)
	}
	return g
}

// textGrammar compiles a grammar whose whole text is expr.
func textGrammar(tb testing.TB, expr string) *grammar.Grammar {
	tb.Helper()
	g, err := grammar.Parse("root ::= " + expr)
	if err != nil {
		tb.Fatalf("grammar.Parse: %v\nexpression: %s", err, expr)
	}
	return g
}

func matchValue(g *grammar.Grammar, v string) bool {
	return g.MatchString(`"` + canonContent(v) + `"`)
}

func mustPattern(tb testing.TB, pattern string) *grammar.Grammar {
	tb.Helper()
	expr, err := patternGBNF(pattern)
	if err != nil {
		tb.Fatalf("patternGBNF(%q): %v", pattern, err)
	}
	return stringGrammar(tb, expr)
}

func TestPatternConstructs(t *testing.T) {
	for _, c := range []struct {
		pattern  string
		yes, no  []string
		wantExpr string // when set, the exact expression
	}{
		{pattern: `^abc$`, yes: []string{"abc"}, no: []string{"", "ab", "abcd", "xabc"}, wantExpr: `"abc"`},
		{pattern: `abc`, yes: []string{"abc", "xxabcxx", "abc\n", "\"abc\\"}, no: []string{"ab", "acb", ""}},
		{pattern: `^a|b$`, yes: []string{"a", "axx", "xxb", "b", "a\nb"}, no: []string{"xa", "bx", ""}},
		{pattern: `^a$|^b$`, yes: []string{"a", "b"}, no: []string{"ab", ""}},
		{pattern: `^[a-c]+$`, yes: []string{"a", "cab"}, no: []string{"", "d", "ad"}},
		{pattern: `^[^a-c]$`, yes: []string{"d", "\"", "\\", "\n", "é", "\x01", "\x1f", "\u2028", "😀", "/"}, no: []string{"a", "", "dd"}},
		{pattern: `^.$`, yes: []string{"a", "\"", "\\", "\t", "\x7f", "€", "😀", "\x00", "\b"}, no: []string{"\n", "\r", "\u2028", "\u2029", "", "ab"}},
		{pattern: `^[^]$`, yes: []string{"\n", "a", "\u2028"}, no: []string{"", "ab"}},
		{pattern: `^\d\D$`, yes: []string{"1a", "1\n", "0\""}, no: []string{"11", "a1", "١a"}},
		{pattern: `^\w+\W$`, yes: []string{"a_1!", "Z\\"}, no: []string{"ab", "a_1", "é!"}},
		{pattern: `^\s$`, yes: []string{" ", "\t", "\v", "\f", "\n", "\r", "\u00a0", "\u1680", "\u2000", "\u200a", "\u2028", "\u202f", "\u205f", "\u3000", "\ufeff"}, no: []string{"a", "\u200b", "\x1c", ""}},
		{pattern: `^\S$`, yes: []string{"a", "\u200b", "\"", "\x00"}, no: []string{" ", "\v", "\u00a0", "\n"}},
		{pattern: `^\t\n\r\f\v\0$`, yes: []string{"\t\n\r\f\v\x00"}, no: []string{"\t\n\r\f\v0"}},
		{pattern: `^\x41\u0042\u{43}\cJ$`, yes: []string{"ABC\n"}, no: []string{"ABC"}},
		{pattern: `^\uD83D\uDE00$`, yes: []string{"😀"}, no: []string{"\U0001F601"}},
		{pattern: `^[\uD83D\uDE00-\uD83D\uDE02]$`, yes: []string{"😀", "😁", "😂"}, no: []string{"😃"}},
		{pattern: `^[\b]$`, yes: []string{"\b"}, no: []string{"b"}},
		{pattern: `^\.\*\+\?\(\)\[\]\{\}\|\^\$\\\/\-$`, yes: []string{`.*+?()[]{}|^$\/-`}},
		{pattern: `^"\\"$`, yes: []string{`"\"`}, no: []string{`""`}, wantExpr: `"\\\"\\\\\\\""`},
		{pattern: `^[\]\-\\^]+$`, yes: []string{"]", "-", "\\", "^", "]-\\^"}, no: []string{"a", "["}},
		{pattern: `^[a-]$`, yes: []string{"a", "-"}, no: []string{"b"}},
		{pattern: `^[-a]$`, yes: []string{"a", "-"}, no: []string{"b"}},
		{pattern: `^[\d-z]$`, yes: []string{"1", "-", "z"}, no: []string{"a", "y"}},
		{pattern: `^[^\d\s]$`, yes: []string{"a", "\""}, no: []string{"1", " ", "\n"}},
		{pattern: `^[\x00-\x1f"\\]+$`, yes: []string{"\x00\x1f\"\\\b\n", "\x0b"}, no: []string{" ", "a"}},
		{pattern: `^(?:ab)+$`, yes: []string{"ab", "abab"}, no: []string{"", "aba"}},
		{pattern: `^(?<year>\d{4})-(?<m>\d\d)$`, yes: []string{"2024-01"}, no: []string{"202-01"}},
		{pattern: `^(a|b)*c$`, yes: []string{"c", "abbac"}, no: []string{"ab", "cc"}},
		{pattern: `^(a?)*$`, yes: []string{"", "a", "aaa"}, no: []string{"b"}},
		{pattern: `^(a*b?)*$`, yes: []string{"", "ab", "abba", "bbb"}, no: []string{"c"}},
		{pattern: `^(a|)+$`, yes: []string{"", "a", "aa"}, no: []string{"b"}},
		{pattern: `^(a?b?){2,3}$`, yes: []string{"", "ab", "abab", "ababab", "bba"}, no: []string{"abababab", "c"}},
		{pattern: `^(?:a{0,2}){3}$`, yes: []string{"", "aaaaaa"}, no: []string{"aaaaaaa"}},
		{pattern: `^a{3}$`, yes: []string{"aaa"}, no: []string{"aa", "aaaa"}},
		{pattern: `^a{2,}$`, yes: []string{"aa", "aaaaa"}, no: []string{"a"}},
		{pattern: `^a{2,3}$`, yes: []string{"aa", "aaa"}, no: []string{"a", "aaaa"}},
		{pattern: `^a{0}b$`, yes: []string{"b"}, no: []string{"ab"}},
		{pattern: `^a{,3}$`, yes: []string{"a{,3}"}, no: []string{"aaa"}},
		{pattern: `^a{$`, yes: []string{"a{"}},
		{pattern: `^a{1,x}}]$`, yes: []string{"a{1,x}}]"}},
		{pattern: `^x*?y+?z??w{1,2}?$`, yes: []string{"yw", "xxyyzww"}, no: []string{"xw"}},
		{pattern: `^$`, yes: []string{""}, no: []string{"a"}, wantExpr: `""`},
		{pattern: ``, yes: []string{"", "anything\n\""}},
		{pattern: `a*`, yes: []string{"", "b"}},
		{pattern: `^a*`, yes: []string{"", "b", "ab"}},
		{pattern: `^é+ü$`, yes: []string{"éü", "ééü"}, no: []string{"eü"}},
		{pattern: `^[😀-😂]$`, yes: []string{"😁"}, no: []string{"😃"}},
		{pattern: `^\x00\x1f\x7f\u2028$`, yes: []string{"\x00\x1f\x7f\u2028"}},
		{pattern: `^\u00e9\xe9$`, yes: []string{"éé"}},
		{pattern: `^a{2,5}`, yes: []string{"aa", "aab", "aaaaaaa"}, no: []string{"ab"}},
		{pattern: `a{2,5}$`, yes: []string{"aa", "baa", "aaaaaaa"}, no: []string{"aab"}},
		{pattern: `^(ab|a)(c|bcd)$`, yes: []string{"abc", "abcd"}, no: []string{"ab", "abbc", "acd"}},
	} {
		expr, err := patternGBNF(c.pattern)
		if err != nil {
			t.Errorf("patternGBNF(%q): %v", c.pattern, err)
			continue
		}
		if c.wantExpr != "" && expr != c.wantExpr {
			t.Errorf("patternGBNF(%q) = %s, want %s", c.pattern, expr, c.wantExpr)
		}
		g := stringGrammar(t, expr)
		for _, v := range c.yes {
			if !matchValue(g, v) {
				t.Errorf("pattern %q: %q (JSON %q) does not match; grammar %s", c.pattern, v, canonContent(v), expr)
			}
		}
		for _, v := range c.no {
			if matchValue(g, v) {
				t.Errorf("pattern %q: %q (JSON %q) matches; grammar %s", c.pattern, v, canonContent(v), expr)
			}
		}
	}
}

// TestPatternNonCanonical checks that only the canonical JSON spelling of
// a character is accepted.
func TestPatternNonCanonical(t *testing.T) {
	for _, c := range []struct{ pattern, text string }{
		{`^a$`, `\u0061`},
		{`^\/$`, `\/`},
		{`^\n$`, `\u000a`},
		{`^\n$`, `\u000A`},
		{`^\x1f$`, `\u001F`},
		{`^.$`, `\u000B`},
		{`^"$`, `"`},
		{`^\\$`, `\`},
		{`^\n$`, "\n"},
		{`^.$`, "\x01"},
	} {
		g := mustPattern(t, c.pattern)
		if g.MatchString(`"` + c.text + `"`) {
			t.Errorf("pattern %q accepts the JSON text %q", c.pattern, c.text)
		}
	}
	// The canonical forms, for contrast.
	g := mustPattern(t, `^.$`)
	for _, text := range []string{`\u000b`, `\u0001`, `\"`, `\\`, `\b`, `/`} {
		if !g.MatchString(`"` + text + `"`) {
			t.Errorf("pattern ^.$ rejects the JSON text %q", text)
		}
	}
}

func TestPatternErrors(t *testing.T) {
	for _, c := range []struct{ pattern, want string }{
		{`(a)\1`, `backreference \1`},
		{`\k<n>`, `named backreference`},
		{`(?=a)`, `lookahead (?=`},
		{`(?!a)`, `lookahead (?!`},
		{`(?<=a)b`, `lookbehind (?<=`},
		{`(?<!a)b`, `lookbehind (?<!`},
		{`\bword`, `word boundary \b`},
		{`\B`, `word boundary \B`},
		{`\p{L}`, `Unicode property escape \p`},
		{`\P{L}`, `Unicode property escape \P`},
		{`(?i)a`, `group (?i`},
		{`a^b`, `anchor ^`},
		{`a$b`, `anchor $`},
		{`(^a)`, `anchor ^`},
		{`(a$)`, `anchor $`},
		{`a{1001}`, `bounds above 1000`},
		{`a{3,2}`, `out of order`},
		{`*a`, `nothing to repeat`},
		{`a**`, `nothing to repeat`},
		{`a{2}{3}`, `nothing to repeat`},
		{`{2}`, `nothing to repeat`},
		{`(a`, `missing )`},
		{`a)`, `unmatched )`},
		{`[a`, `missing ]`},
		{`[z-a]`, `out of order`},
		{`\q`, `unknown escape \q`},
		{`\A`, `unknown escape \A`},
		{`a\`, `lone backslash`},
		{`\uD800`, `lone surrogate`},
		{`\u{110000}`, `malformed \u{`},
		{`\01`, `octal escape`},
		{`[\1]`, `octal escape`},
		{`\x4`, `two hex digits`},
		{`\u12`, `four hex digits`},
		{`\c1`, `followed by a letter`},
		{`^[]$`, `matches no string`},
		{`(?<1a>x)`, `group name`},
		{"\xff", `not valid UTF-8`},
		{`((a{1000}){1000}){1000}`, `too large`},
	} {
		_, err := patternGBNF(c.pattern)
		if err == nil {
			t.Errorf("patternGBNF(%q): no error, want one containing %q", c.pattern, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", c.pattern)) {
			t.Errorf("patternGBNF(%q): error %q, want it to name the pattern and contain %q", c.pattern, err, c.want)
		}
	}
}

// ecmaSpace is ECMAScript's \s as a Go class body (Go's \s lacks \v and
// the Unicode spaces).
const ecmaSpace = `\t\n\v\f\r \x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}\x{feff}`

// propertyPatterns are compared with Go's regexp; goPattern, where given,
// is the same language in RE2 syntax.
var propertyPatterns = []struct{ pattern, goPattern string }{
	{pattern: `^[a-z]{2,4}-\d+$`},
	{pattern: `ab|cd`},
	{pattern: `^(foo|bar)+$`},
	{pattern: `[^"\\]+`},
	{pattern: `^\S+@\S+$`, goPattern: `^[^` + ecmaSpace + `]+@[^` + ecmaSpace + `]+$`},
	{pattern: `^(\([0-9]{3}\))?[0-9]{3}-[0-9]{4}$`},
	{pattern: `^[A-Z][a-z]*( [A-Z][a-z]*)*$`},
	{pattern: `colou?r`},
	{pattern: `^(a|ab)(c|bcd)(d*)$`},
	{pattern: `x+y?z*`},
	{pattern: `^.{2,5}$`, goPattern: `^[^\n\r\x{2028}\x{2029}]{2,5}$`},
	{pattern: `a.c`, goPattern: `a[^\n\r\x{2028}\x{2029}]c`},
	{pattern: `^\d{3}(-\d{4})?$`},
	{pattern: `^[^\n]*$`},
	{pattern: `"`},
	{pattern: `\\`},
	{pattern: `^[\s\S]{0,3}$`, goPattern: `^[\s\S]{0,3}$`},
	{pattern: `^\s*x\s*$`, goPattern: `^[` + ecmaSpace + `]*x[` + ecmaSpace + `]*$`},
	{pattern: `^(?:[01]\d|2[0-3]):[0-5]\d$`},
	{pattern: `^$`},
	{pattern: `^(a*)*b$`},
	{pattern: `(x|y){2}z`},
	{pattern: `^(?:a|b?)+c$`},
	{pattern: `[\x00-\x1f]`},
	{pattern: `^[^\w\s]+$`, goPattern: `^[^\w` + ecmaSpace + `]+$`},
	{pattern: `\t|\n`},
	{pattern: `^\u00e9+$`, goPattern: `^\x{e9}+$`},
	{pattern: `^-?(0|[1-9]\d*)(\.\d+)?$`},
	{pattern: `[aeiou]{2}`},
	{pattern: `^[^aeiou]*$`},
	{pattern: `^(a?b?c?){1,2}d$`},
	{pattern: `^(ab|a)*b?$`},
	{pattern: `^a|b|^c$|d$`},
	{pattern: `^"[^"]*"$`},
	{pattern: `\d{2,3}`},
	{pattern: `^[A-Za-z0-9+/]*={0,2}$`},
	{pattern: `^(\\[nt]|[^\\])*$`},
	{pattern: `é|😀`},
	{pattern: `^[^\x00-\x7f]+$`},
}

// propertyExtras are characters tried in every pattern besides its own.
var propertyExtras = []rune{'"', '\\', '\n', '\r', '\t', '\v', '\b', '\f', ' ', 'a', 'b', 'x', '0', '9', '-', 'é', '\u2028', '\u00a0', '\x01', '\x1f', '😀', '/', '_', '=', '@'}

func TestPatternMatchesRegexp(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	total := 0
	for _, c := range propertyPatterns {
		goPat := c.goPattern
		if goPat == "" {
			goPat = c.pattern
		}
		re := regexp.MustCompile(goPat)
		tree, err := syntax.Parse(goPat, syntax.Perl)
		if err != nil {
			t.Fatal(err)
		}
		g := mustPattern(t, c.pattern)
		alphabet := slices.Clone(propertyExtras)
		for _, r := range c.pattern {
			if r > ' ' && r != '\\' {
				alphabet = append(alphabet, r)
			}
		}
		var samples []string
		for range 150 { // random strings over the alphabet
			var b strings.Builder
			for range rnd.IntN(9) {
				b.WriteRune(alphabet[rnd.IntN(len(alphabet))])
			}
			samples = append(samples, b.String())
		}
		for range 150 { // members of the language, some of them mutated
			var b strings.Builder
			if rnd.IntN(3) == 0 {
				b.WriteRune(alphabet[rnd.IntN(len(alphabet))])
			}
			generate(tree, rnd, alphabet, &b)
			if rnd.IntN(3) == 0 {
				b.WriteRune(alphabet[rnd.IntN(len(alphabet))])
			}
			s := []rune(b.String())
			if len(s) > 0 && rnd.IntN(3) == 0 {
				i := rnd.IntN(len(s))
				switch rnd.IntN(3) {
				case 0:
					s = slices.Delete(s, i, i+1)
				case 1:
					s[i] = alphabet[rnd.IntN(len(alphabet))]
				default:
					s = slices.Insert(s, i, alphabet[rnd.IntN(len(alphabet))])
				}
			}
			samples = append(samples, string(s))
		}
		matched := 0
		for _, s := range samples {
			want := re.MatchString(s)
			if want {
				matched++
			}
			if got := matchValue(g, s); got != want {
				t.Errorf("pattern %q on %q (JSON %q): grammar says %v, regexp says %v", c.pattern, s, canonContent(s), got, want)
			}
		}
		if matched == 0 || matched == len(samples) && c.pattern != `` {
			t.Logf("pattern %q: %d of %d samples match", c.pattern, matched, len(samples))
		}
		total += len(samples)
	}
	t.Logf("%d patterns, %d strings compared with regexp", len(propertyPatterns), total)
}

// generate writes a random member of re's language (RE2 syntax tree).
func generate(re *syntax.Regexp, rnd *rand.Rand, alphabet []rune, b *strings.Builder) {
	count := func(lo, hi int) int {
		if hi < 0 || hi > lo+3 {
			hi = lo + 3
		}
		return lo + rnd.IntN(hi-lo+1)
	}
	switch re.Op {
	case syntax.OpLiteral:
		b.WriteString(string(re.Rune))
	case syntax.OpCharClass:
		for {
			i := rnd.IntN(len(re.Rune) / 2)
			lo, hi := re.Rune[2*i], re.Rune[2*i+1]
			r := lo + rune(rnd.Int64N(int64(hi-lo)+1))
			if rnd.IntN(2) == 0 {
				r = lo
			}
			if utf8.ValidRune(r) {
				b.WriteRune(r)
				return
			}
		}
	case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
		b.WriteRune(alphabet[rnd.IntN(len(alphabet))])
	case syntax.OpCapture:
		generate(re.Sub[0], rnd, alphabet, b)
	case syntax.OpConcat:
		for _, s := range re.Sub {
			generate(s, rnd, alphabet, b)
		}
	case syntax.OpAlternate:
		generate(re.Sub[rnd.IntN(len(re.Sub))], rnd, alphabet, b)
	case syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		lo, hi := re.Min, re.Max
		switch re.Op {
		case syntax.OpStar:
			lo, hi = 0, -1
		case syntax.OpPlus:
			lo, hi = 1, -1
		case syntax.OpQuest:
			lo, hi = 0, 1
		}
		for range count(lo, hi) {
			generate(re.Sub[0], rnd, alphabet, b)
		}
	}
}

// TestPatternSpeed checks that patterns compile in well under a millisecond.
func TestPatternSpeed(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	const rounds = 20
	start := time.Now()
	for range rounds {
		for _, c := range propertyPatterns {
			if _, err := patternGBNF(c.pattern); err != nil {
				t.Fatal(err)
			}
		}
	}
	per := time.Since(start) / time.Duration(rounds*len(propertyPatterns))
	t.Logf("%v per pattern", per)
	if per > time.Millisecond {
		t.Errorf("patternGBNF takes %v per pattern, want well under 1ms", per)
	}
}

func BenchmarkPatternGBNF(b *testing.B) {
	for b.Loop() {
		for _, c := range propertyPatterns {
			if _, err := patternGBNF(c.pattern); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// leadingZeroCount finds counts like {01}, a quantifier in ECMAScript and
// literal text in RE2.
var leadingZeroCount = regexp.MustCompile(`[{,]0[0-9]`)

// FuzzPatternGBNF checks that any pattern gives an error or an expression
// the grammar package accepts, and, for patterns RE2 reads the same way,
// that the grammar and Go's regexp agree on the string s.
func FuzzPatternGBNF(f *testing.F) {
	for i, c := range propertyPatterns {
		f.Add(c.pattern, string(propertyExtras[i%len(propertyExtras):]))
	}
	for _, s := range []string{`(a?)*`, `[^]`, `\u{1F600}`, `(?<n>x)|y`, `a{2,}?`, `[\w-]`, `\cA`, `01*(|01*)(000*)*0`} {
		f.Add(s, "a0\"\n")
	}
	f.Fuzz(func(t *testing.T, pattern, s string) {
		expr, err := patternGBNF(pattern)
		if err != nil {
			return
		}
		g, err := grammar.Parse(`root ::= "\"" (` + expr + `) "\""`)
		if err != nil {
			t.Fatalf("pattern %q: grammar.Parse: %v\n%s", pattern, err, expr)
		}
		for _, differs := range []string{".", `\s`, `\S`, "[:", "[]", "[^]"} {
			if strings.Contains(pattern, differs) || !utf8.ValidString(s) || leadingZeroCount.MatchString(pattern) {
				return // read differently by RE2: ., \s, POSIX classes, empty classes, {01}
			}
		}
		re, err := regexp.Compile(pattern)
		if err != nil {
			return
		}
		if got, want := matchValue(g, s), re.MatchString(s); got != want {
			t.Fatalf("pattern %q on %q: grammar says %v, regexp says %v\n%s", pattern, s, got, want, expr)
		}
	})
}
