package jsonschema

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"time"
)

func ratOf(tb testing.TB, s string) *big.Rat {
	tb.Helper()
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		tb.Fatalf("bad number %q", s)
	}
	return r
}

// bnd makes a bound from its text, "" for none; a leading "x" makes it
// exclusive.
func bnd(tb testing.TB, s string) *bound {
	if s == "" {
		return nil
	}
	excl := strings.HasPrefix(s, "x")
	return &bound{Value: ratOf(tb, strings.TrimPrefix(s, "x")), Exclusive: excl}
}

// decString prints a finite decimal exactly, without trailing zeros.
func decString(r *big.Rat) string {
	s := r.FloatString(40)
	s = strings.TrimRight(s, "0")
	s = strings.TrimSuffix(s, ".")
	if s == "-0" {
		s = "0"
	}
	return s
}

var (
	// Generated numbers have at most 16 digits before and after the point
	// (maxDigits16), and integers no fraction.
	plainNumber = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,16})?$`)
	fullNumberR = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,15})(\.[0-9]{1,16})?([eE][-+]?[0-9]{1,3})?$`)
	intNumber   = regexp.MustCompile(`^-?(0|[1-9][0-9]{0,15})$`)
	// anyInteger is the syntax where multipleOf keeps an open side open
	// (see integerGBNF).
	anyInteger = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
)

func inBounds(x *big.Rat, lo, hi *bound) bool {
	if lo != nil {
		c := x.Cmp(lo.Value)
		if c < 0 || c == 0 && lo.Exclusive {
			return false
		}
	}
	if hi != nil {
		c := x.Cmp(hi.Value)
		if c > 0 || c == 0 && hi.Exclusive {
			return false
		}
	}
	return true
}

// numberSamples returns texts near the bounds, random decimals around them
// and malformed numbers.
func numberSamples(tb testing.TB, rnd *rand.Rand, lo, hi *bound) []string {
	centers := []*big.Rat{new(big.Rat), big.NewRat(1, 1), big.NewRat(-1, 1)}
	for _, b := range []*bound{lo, hi} {
		if b != nil {
			centers = append(centers, b.Value)
		}
	}
	var deltas []*big.Rat
	for _, d := range []string{"0", "1", "0.1", "0.01", "0.001", "0.0000001", "10", "100", "0.5", "2"} {
		r := ratOf(tb, d)
		deltas = append(deltas, r, new(big.Rat).Neg(r))
	}
	var out []string
	add := func(x *big.Rat) {
		s := decString(x)
		out = append(out, s)
		if strings.Contains(s, ".") {
			out = append(out, s+"0", s+"000")
		} else {
			out = append(out, s+".0", s+".00")
		}
		if x.Sign() == 0 {
			out = append(out, "-0", "-0.0", "-0.000", "0.00")
		}
	}
	for _, c := range centers {
		for _, d := range deltas {
			x := new(big.Rat).Add(c, d)
			add(x)
			add(new(big.Rat).Neg(x))
		}
	}
	span := int64(20)
	for _, b := range []*bound{lo, hi} {
		if b != nil {
			if a := new(big.Int).Abs(ratFloor(b.Value)); a.IsInt64() && a.Int64() < 1e6 {
				span = max(span, 2*a.Int64()+10)
			}
		}
	}
	for range 200 {
		s := fmt.Sprint(rnd.Int64N(2*span+1) - span)
		if n := rnd.IntN(4); n > 0 {
			s += "."
			for range n {
				s += fmt.Sprint(rnd.IntN(10))
			}
		}
		out = append(out, s)
	}
	for _, s := range out[:len(out)/2] { // leading zeros
		if !strings.HasPrefix(s, "-") {
			out = append(out, "0"+s, "-0"+s)
		}
	}
	return append(out, "", "-", "01", "00", "-01", "1.", ".5", "+1", "1.2.3", "--1", "0x10", " 1", "1 ",
		"1e2", "1E2", "-1.5e-3", "1e+0", "0e0", "2.5E1", "1e", "1e+", "-0e-0", "1.0e2")
}

func TestNumberGBNF(t *testing.T) {
	rnd := rand.New(rand.NewPCG(3, 4))
	cases := [][2]string{
		{"", ""},
		{"1.1", ""}, {"x1.1", ""}, {"", "1.1"}, {"", "x1.1"},
		{"", "x3.0"}, {"", "3.0"}, {"", "-0.5"}, {"", "x-0.5"},
		{"x0", ""}, {"0", ""}, {"", "x0"}, {"", "0"},
		{"-5", "5"}, {"1.25", "x13.5"}, {"0", "100"}, {"-100.5", "-2.25"},
		{"x-0.001", "x0.001"}, {"99.99", "100.01"}, {"0.5", "0.5"}, {"123456.789", ""},
		{"", "1e3"}, {"1.5", "1.7"}, {"x-7", "x-6.999"}, {"-0.05", "0.05"}, {"x0.09", "0.1"},
		{"1000", "x1000.5"}, {"-1", "x0"}, {"x9.99", "x10"}, {"x-10", "-9.99"},
	}
	total := 0
	for _, c := range cases {
		lo, hi := bnd(t, c[0]), bnd(t, c[1])
		expr, err := numberGBNF(lo, hi)
		if err != nil {
			t.Errorf("numberGBNF(%s, %s): %v", c[0], c[1], err)
			continue
		}
		if (lo != nil || hi != nil) && strings.ContainsAny(expr, "eE") {
			t.Errorf("numberGBNF(%s, %s) = %s: exponents with bounds", c[0], c[1], expr)
		}
		g := textGrammar(t, expr)
		syntax := plainNumber
		if lo == nil && hi == nil {
			syntax = fullNumberR
		}
		for _, s := range numberSamples(t, rnd, lo, hi) {
			want := syntax.MatchString(s)
			if want {
				want = inBounds(ratOf(t, s), lo, hi)
			}
			if got := g.MatchString(s); got != want {
				t.Errorf("numberGBNF(%s, %s) on %q: got %v, want %v\n%s", c[0], c[1], s, got, want, expr)
			}
			total++
		}
	}
	t.Logf("%d bound pairs, %d texts", len(cases), total)
}

func TestNumberGBNFExamples(t *testing.T) {
	for _, c := range []struct{ lo, hi, want string }{
		{"x0", "", `"0." ([1-9] [0-9]{0,15} | "0" [1-9] [0-9]{0,14} | "0"{2} [1-9] [0-9]{0,13} | "0"{3} [1-9] [0-9]{0,12} | "0"{4} [1-9] [0-9]{0,11} | "0"{5} [1-9] [0-9]{0,10} | "0"{6} [1-9] [0-9]{0,9} | "0"{7} [1-9] [0-9]{0,8} | "0"{8} [1-9] [0-9]{0,7} | "0"{9} [1-9] [0-9]{0,6} | "0"{10} [1-9] [0-9]{0,5} | "0"{11} [1-9] [0-9]{0,4} | "0"{12} [1-9] [0-9]{0,3} | "0"{13} [1-9] [0-9]{0,2} | "0"{14} [1-9] [0-9]? | "0"{15} [1-9]) | [1-9] [0-9]{0,15} ("." [0-9]{1,16})?`},
		{"-5", "5", `"-"? ("5" ("." "0"{1,16})? | [0-4] ("." [0-9]{1,16})?)`},
		{"", "-0.5", `"-" ("0." [5-9] [0-9]{0,15} | [1-9] [0-9]{0,15} ("." [0-9]{1,16})?)`},
	} {
		got, err := numberGBNF(bnd(t, c.lo), bnd(t, c.hi))
		if err != nil || got != c.want {
			t.Errorf("numberGBNF(%s, %s) = %s, %v; want %s", c.lo, c.hi, got, err, c.want)
		}
	}
}

func TestNumberGBNFHugeBounds(t *testing.T) {
	big1 := "1" + strings.Repeat("0", 308)
	expr, err := numberGBNF(nil, bnd(t, "1e308"))
	if err != nil {
		t.Fatal(err)
	}
	g := textGrammar(t, expr)
	for s, want := range map[string]bool{
		big1: true, big1 + ".000": true, big1 + ".001": false, "9" + strings.Repeat("9", 307) + ".5": true,
		big1 + "0": false, "2" + strings.Repeat("0", 308): false,
		// The open negative side stops at 16 digits (maxDigits16).
		"-" + big1 + "0": false, "-9999999999999999.5": true, "-10000000000000000": false,
	} {
		if got := g.MatchString(s); got != want {
			t.Errorf("maximum 1e308 on %.20q…: got %v, want %v", s, got, want)
		}
	}
	if _, err := numberGBNF(bnd(t, "1e500"), nil); err == nil || !strings.Contains(err.Error(), "digits") {
		t.Errorf("minimum 1e500: error %v, want one about digits", err)
	}
	if _, err := numberGBNF(&bound{Value: big.NewRat(1, 3)}, nil); err == nil || !strings.Contains(err.Error(), "not a finite decimal") {
		t.Errorf("minimum 1/3: error %v, want one about decimals", err)
	}
}

func TestIntegerGBNF(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	cases := []struct {
		lo, hi string
		m      int64
	}{
		{"", "", 0}, {"0", "", 0}, {"1.5", "", 0}, {"x1.5", "", 0}, {"x1", "", 0}, {"", "x3", 0}, {"", "2.9", 0},
		{"-5", "5", 0}, {"x-5.5", "x5.5", 0}, {"", "-1", 0}, {"", "x0", 0}, {"-0.5", "0.5", 0}, {"7", "1234", 0},
		{"-1234", "-7", 0}, {"99", "101", 0}, {"3", "3", 0},
		{"", "", 2}, {"", "", 3}, {"", "", 5}, {"", "", 7}, {"", "", 10}, {"", "", 25}, {"", "", 100}, {"", "", 12},
		{"", "", 1000}, {"0", "", 5}, {"1", "", 10}, {"-50", "50", 3}, {"7", "1000", 7}, {"", "-3", 4}, {"-1000", "1000", 9},
		{"1000000", "1005000", 1024}, {"-99", "x99", 11}, {"1", "", 1},
	}
	total := 0
	for _, c := range cases {
		lo, hi := bnd(t, c.lo), bnd(t, c.hi)
		var m *big.Int
		if c.m != 0 {
			m = big.NewInt(c.m)
		}
		start := time.Now()
		expr, err := integerGBNF(lo, hi, m)
		if err != nil {
			t.Errorf("integerGBNF(%s, %s, %d): %v", c.lo, c.hi, c.m, err)
			continue
		}
		elapsed := time.Since(start)
		g := textGrammar(t, expr)
		samples := numberSamples(t, rnd, lo, hi)
		for v := -130; v <= 130; v++ {
			samples = append(samples, fmt.Sprint(v), fmt.Sprint(v)+".0")
		}
		for range 100 {
			samples = append(samples, fmt.Sprint(rnd.Int64()), fmt.Sprint(-rnd.Int64N(1e12)))
		}
		if m != nil {
			for _, b := range []*bound{lo, hi} {
				if b == nil {
					continue
				}
				base := new(big.Int).Mul(new(big.Int).Quo(ratFloor(b.Value), m), m)
				for k := int64(-3); k <= 3; k++ {
					v := new(big.Int).Add(base, new(big.Int).Mul(big.NewInt(k), m))
					samples = append(samples, v.String(), new(big.Int).Add(v, big.NewInt(1)).String())
				}
			}
		}
		syntax := intNumber
		if strings.ContainsAny(expr, "*+") {
			syntax = anyInteger
		}
		for _, s := range samples {
			want := syntax.MatchString(s)
			if want {
				x := ratOf(t, s)
				want = inBounds(x, lo, hi) && (m == nil || new(big.Int).Rem(x.Num(), m).Sign() == 0)
			}
			if got := g.MatchString(s); got != want {
				t.Errorf("integerGBNF(%s, %s, %d) on %q: got %v, want %v\n%.300s", c.lo, c.hi, c.m, s, got, want, expr)
			}
			total++
		}
		t.Logf("integerGBNF(%s, %s, %d): %d bytes in %v", c.lo, c.hi, c.m, len(expr), elapsed)
	}
	t.Logf("%d cases, %d texts", len(cases), total)
}

func TestNumericErrors(t *testing.T) {
	for _, c := range []struct {
		integer bool
		lo, hi  string
		m       int64
		want    string
	}{
		{false, "5", "3", 0, "minimum 5 is above maximum 3"},
		{true, "5", "3", 0, "minimum 5 is above maximum 3"},
		{false, "x3", "3", 0, "no number satisfies exclusiveMinimum 3 and maximum 3"},
		{true, "3", "x3", 0, "no integer satisfies minimum 3 and exclusiveMaximum 3"},
		{true, "1.2", "1.8", 0, "no integer satisfies minimum 1.2 and maximum 1.8"},
		{true, "1", "10", 20, "no multiple of 20 satisfies minimum 1 and maximum 10"},
		{true, "", "", -2, "multipleOf -2 is not positive"},
		{true, "", "", 9, "multipleOf 9 over this range needs too large a grammar"},
		{true, "", "", 1001, "multipleOf 1001 is above 1000"},
		{true, "1e500", "", 0, "digits"},
	} {
		lo, hi := bnd(t, c.lo), bnd(t, c.hi)
		var err error
		if c.integer {
			var m *big.Int
			if c.m != 0 {
				m = big.NewInt(c.m)
			}
			_, err = integerGBNF(lo, hi, m)
		} else {
			_, err = numberGBNF(lo, hi)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("bounds %q %q multipleOf %d: error %v, want one containing %q", c.lo, c.hi, c.m, err, c.want)
		}
	}
}

func BenchmarkNumberGBNF(b *testing.B) {
	lo, hi := bnd(b, "-100.25"), bnd(b, "x1234.5")
	for b.Loop() {
		if _, err := numberGBNF(lo, hi); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIntegerGBNFMultipleOf(b *testing.B) {
	for _, m := range []int64{5, 12, 7} {
		b.Run(fmt.Sprint(m), func(b *testing.B) {
			for b.Loop() {
				if _, err := integerGBNF(nil, nil, big.NewInt(m)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzNumberGBNF compares the number and integer grammars with big.Rat
// arithmetic on fuzzed bounds and texts.
func FuzzNumberGBNF(f *testing.F) {
	f.Add("1.1", "x3.0", "2.5", uint8(0))
	f.Add("x-0.5", "", "-0.49", uint8(3))
	f.Add("", "-0.001", "-0.0010", uint8(0))
	f.Add("7", "1000", "700.00", uint8(7))
	f.Fuzz(func(t *testing.T, loText, hiText, text string, m uint8) {
		parse := func(s string) (*bound, bool) {
			if s == "" {
				return nil, true
			}
			v := strings.TrimPrefix(s, "x")
			if len(v) > 30 || !plainNumber.MatchString(v) {
				return nil, false
			}
			r, _ := new(big.Rat).SetString(v)
			return &bound{Value: r, Exclusive: v != s}, true
		}
		lo, ok1 := parse(loText)
		hi, ok2 := parse(hiText)
		if !ok1 || !ok2 {
			return
		}
		x, _ := new(big.Rat).SetString(text)
		if expr, err := numberGBNF(lo, hi); err == nil {
			syntax := plainNumber
			if lo == nil && hi == nil {
				syntax = fullNumberR
			}
			want := syntax.MatchString(text) && inBounds(x, lo, hi)
			if got := textGrammar(t, expr).MatchString(text); got != want {
				t.Fatalf("numberGBNF(%s, %s) on %q: got %v, want %v\n%s", loText, hiText, text, got, want, expr)
			}
		} else if lo != nil && hi != nil && lo.Value.Cmp(hi.Value) < 0 {
			t.Fatalf("numberGBNF(%s, %s): %v", loText, hiText, err)
		}
		var mult *big.Int
		if m > 1 {
			mult = big.NewInt(int64(m))
		}
		if expr, err := integerGBNF(lo, hi, mult); err == nil {
			want := intNumber.MatchString(text) && inBounds(x, lo, hi) && (mult == nil || new(big.Int).Rem(x.Num(), mult).Sign() == 0)
			if got := textGrammar(t, expr).MatchString(text); got != want {
				t.Fatalf("integerGBNF(%s, %s, %d) on %q: got %v, want %v\n%.300s", loText, hiText, m, text, got, want, expr)
			}
		}
	})
}
