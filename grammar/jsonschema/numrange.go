package jsonschema

import (
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
)

// This file builds grammars for the JSON text of numbers within bounds.
//
// A number is a sign and a magnitude, so a range of values splits into a
// range of non-negative magnitudes and one of negated magnitudes ("-0" is
// the value 0). The texts of magnitudes between two decimals form a regular
// language, built digit by digit: texts whose integer part is shorter or
// longer than a bound's fall wholly on one side of it; texts of the bound's
// integer length are compared digit by digit, integer part then fraction,
// where a digit either equals the bound's (the comparison goes on) or
// differs (it is decided, and the rest is free). Against both bounds at
// once this is a walk in which each side is "still equal" or "decided".
//
// Integers with multipleOf also need remainders: their texts come from a
// finite automaton (range comparison × remainder), minimized and turned
// into an expression by state elimination, read left to right or right to
// left, whichever prints shorter; a few multiples in a tight range are
// simply listed.

// A bound limits a number on one side; a nil *bound leaves that side open.
type bound struct {
	Value     *big.Rat
	Exclusive bool
}

// maxDigits bounds the decimal digits of a bound (1e308 has 309).
const maxDigits = 400

// maxEnumerate is how many multiples a range may hold to be listed.
const maxEnumerate = 256

// maxMultipleOf is the largest multipleOf turned into an automaton.
const maxMultipleOf = 1000

// maxAutomaton bounds the states of a multipleOf automaton.
const maxAutomaton = 1 << 18

// maxDigits16 is the most digits a generated number has in its integer
// part and in its fraction (as in llama.cpp's grammars): a model must not be
// able to write digits forever, and 16 digits are as many as a float64
// tells apart. Integers are written canonically, without a fraction, so
// that they decode into an integer type (1.0 would not, in Go or Rust).
const maxDigits16 = 16

var (
	anyDigit = setRx(digitSet)
	// anyFrac is an optional fraction: ("." [0-9]{1,16})?
	anyFrac = optRx(catRx(runeRx('.'), repRx(anyDigit, 1, maxDigits16)))
	// maxMagnitude bounds the integer part of generated numbers: < 10^16.
	maxMagnitude = new(big.Int).Exp(big.NewInt(10), big.NewInt(maxDigits16), nil)
)

// fullNumber is RFC 8259's number, with its digit runs bounded.
const fullNumber = `"-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?`

// fullInteger is an integer of at most 16 digits.
const fullInteger = `"-"? ("0" | [1-9] [0-9]{0,15})`

// numberGBNF returns a GBNF expression, without rule references, for the
// JSON text of every number x with lo ≤ x ≤ hi (< and > where Exclusive).
// Without bounds it is RFC 8259's whole number syntax; with a bound, only
// plain decimals -?int(.frac)? are produced — no exponents — since their
// values can be compared digit by digit. Fractions may have trailing zeros.
// Either way integer parts and fractions have at most 16 digits (an open
// side stops below ±10^16): see maxDigits16.
func numberGBNF(lo, hi *bound) (string, error) {
	if lo == nil && hi == nil {
		return fullNumber, nil
	}
	if err := checkBounds(lo, hi, "number"); err != nil {
		return "", err
	}
	limit := new(big.Rat).SetInt(maxMagnitude)
	if hi == nil {
		// Below 10^16, or one digit more than a larger minimum.
		hi = &bound{Value: limit, Exclusive: true}
		if lo.Value.Cmp(limit) >= 0 {
			hi = &bound{Value: new(big.Rat).Mul(lo.Value, big.NewRat(10, 1)), Exclusive: true}
		}
	}
	if lo == nil && hi.Value.Cmp(new(big.Rat).Neg(limit)) > 0 {
		lo = &bound{Value: new(big.Rat).Neg(limit), Exclusive: true}
	}
	pos, neg, err := splitSigns(lo, hi)
	if err != nil {
		return "", err
	}
	var x *rx
	if pos != nil && neg != nil && magEqual(*pos, *neg) {
		x = catRx(optRx(runeRx('-')), pos.language(false))
	} else {
		var parts []*rx
		if pos != nil {
			parts = append(parts, pos.language(false))
		}
		if neg != nil {
			parts = append(parts, catRx(runeRx('-'), neg.language(false)))
		}
		x = altRx(parts...)
	}
	if x.op == opNone {
		return "", fmt.Errorf("no number satisfies %s", boundsPhrase(lo, hi))
	}
	return x.gbnf(), nil
}

// integerGBNF returns a GBNF expression, without rule references, for the
// JSON text of every integer n with lo ≤ n ≤ hi (< and > where Exclusive;
// bounds may be fractions) that is a multiple of multipleOf when it is not
// nil. The text is -?(0|[1-9][0-9]*), optionally with a zero fraction
// ("1.0", "1.00": JSON Schema counts 1.0 as an integer); "-0" only when 0
// is in range. A multipleOf above maxMultipleOf is refused unless the range
// holds few enough multiples to list them.
func integerGBNF(lo, hi *bound, multipleOf *big.Int) (string, error) {
	s, err := integerLanguage(lo, hi, multipleOf, true)
	if err != nil && multipleOf != nil && (lo == nil || hi == nil) {
		// The 16-digit limit makes the multiples' automaton acyclic, and its
		// expression can grow past the limits (multipleOf 3, say): then the
		// open side stays open, as the remainder automaton's loops allow.
		if s2, err2 := integerLanguage(lo, hi, multipleOf, false); err2 == nil {
			return s2, nil
		}
	}
	return s, err
}

// integerLanguage is integerGBNF; clamp stops open sides at 16 digits.
func integerLanguage(lo, hi *bound, multipleOf *big.Int, clamp bool) (string, error) {
	if err := checkBounds(lo, hi, "integer"); err != nil {
		return "", err
	}
	if multipleOf != nil && multipleOf.Sign() <= 0 {
		return "", fmt.Errorf("multipleOf %s is not positive", multipleOf)
	}
	if multipleOf != nil && multipleOf.Cmp(big.NewInt(1)) == 0 {
		multipleOf = nil
	}
	// The integers in range: [a, b], nil for an open side.
	var a, b *big.Int
	if lo != nil {
		if lo.Exclusive {
			a = new(big.Int).Add(ratFloor(lo.Value), big.NewInt(1))
		} else {
			a = ratCeil(lo.Value)
		}
	}
	if hi != nil {
		if hi.Exclusive {
			b = new(big.Int).Sub(ratCeil(hi.Value), big.NewInt(1))
		} else {
			b = ratFloor(hi.Value)
		}
	}
	if a != nil && b != nil && a.Cmp(b) > 0 {
		return "", fmt.Errorf("no integer satisfies %s", boundsPhrase(lo, hi))
	}
	// An open side stops at 16 digits (see maxDigits16).
	top := new(big.Int).Sub(maxMagnitude, big.NewInt(1))
	if b == nil && clamp {
		b = top
		if a != nil && a.Cmp(b) > 0 {
			b = a
		}
	}
	if a == nil && clamp {
		a = new(big.Int).Neg(top)
		if b != nil && a.Cmp(b) > 0 {
			a = b
		}
	}
	// Magnitude ranges of the non-negative and the negative texts.
	var parts [2]*intRange
	if b == nil || b.Sign() >= 0 {
		r := &intRange{lo: big.NewInt(0), hi: b}
		if a != nil && a.Sign() > 0 {
			r.lo = a
		}
		parts[0] = r
	}
	if a == nil || a.Sign() <= 0 {
		r := &intRange{lo: big.NewInt(0)}
		if a != nil {
			r.hi = new(big.Int).Neg(a)
		}
		if b != nil && b.Sign() < 0 {
			r.lo = new(big.Int).Neg(b)
		}
		parts[1] = r
	}
	var langs [2]*rx
	for i, r := range parts {
		if r == nil {
			continue
		}
		l, err := r.language(multipleOf)
		if err != nil {
			return "", err
		}
		langs[i] = l
	}
	var x *rx
	switch {
	case langs[0] != nil && langs[1] != nil && langs[0].key() == langs[1].key():
		x = catRx(optRx(runeRx('-')), langs[0])
	default:
		var alts []*rx
		if langs[0] != nil {
			alts = append(alts, langs[0])
		}
		if langs[1] != nil {
			alts = append(alts, catRx(runeRx('-'), langs[1]))
		}
		x = altRx(alts...)
	}
	if x.op == opNone {
		return "", fmt.Errorf("no multiple of %s satisfies %s", multipleOf, boundsPhrase(lo, hi))
	}
	s := x.gbnf()
	if len(s) > maxGBNF {
		return "", fmt.Errorf("multipleOf %s with %s gives a grammar of %d bytes (limit %d)", multipleOf, boundsPhrase(lo, hi), len(s), maxGBNF)
	}
	return s, nil
}

// checkBounds rejects missing values and bounds that leave nothing.
func checkBounds(lo, hi *bound, what string) error {
	if (lo != nil && lo.Value == nil) || (hi != nil && hi.Value == nil) {
		return fmt.Errorf("%s bound without a value", what)
	}
	if lo == nil || hi == nil {
		return nil
	}
	switch c := lo.Value.Cmp(hi.Value); {
	case c > 0:
		return fmt.Errorf("%s is above %s", describeBound(lo, true), describeBound(hi, false))
	case c == 0 && (lo.Exclusive || hi.Exclusive):
		return fmt.Errorf("no %s satisfies %s", what, boundsPhrase(lo, hi))
	}
	return nil
}

// boundsPhrase names the bounds present: "minimum 1 and maximum 10".
func boundsPhrase(lo, hi *bound) string {
	switch {
	case lo != nil && hi != nil:
		return describeBound(lo, true) + " and " + describeBound(hi, false)
	case lo != nil:
		return describeBound(lo, true)
	case hi != nil:
		return describeBound(hi, false)
	}
	return "no bounds"
}

// describeBound names a bound as a schema would: "exclusiveMinimum 1.5".
func describeBound(b *bound, lower bool) string {
	name := map[bool]string{true: "minimum", false: "maximum"}[lower]
	if b.Exclusive {
		name = "exclusive" + strings.ToUpper(name[:1]) + name[1:]
	}
	return name + " " + ratString(b.Value)
}

// ratString prints r as a decimal when it is one.
func ratString(r *big.Rat) string {
	if d, err := toDecimal(new(big.Rat).Abs(r)); err == nil {
		s := d.int
		if d.frac != "" {
			s += "." + d.frac
		}
		if r.Sign() < 0 {
			s = "-" + s
		}
		return s
	}
	return r.RatString()
}

func ratFloor(r *big.Rat) *big.Int {
	return new(big.Int).Div(r.Num(), r.Denom()) // Euclidean: rounds down for a positive divisor
}

func ratCeil(r *big.Rat) *big.Int {
	return new(big.Int).Neg(ratFloor(new(big.Rat).Neg(r)))
}

// A decDigits is a non-negative finite decimal: its integer digits without
// leading zeros ("0" below one) and its fraction digits without trailing
// zeros.
type decDigits struct{ int, frac string }

func toDecimal(r *big.Rat) (decDigits, error) {
	if r.Sign() < 0 {
		return decDigits{}, fmt.Errorf("negative magnitude %s", r.RatString())
	}
	// The fraction ends iff the denominator is 2^i·5^j; it has max(i, j) digits.
	d := new(big.Int).Set(r.Denom())
	n := 0
	for _, p := range []int64{2, 5} {
		i := 0
		m := new(big.Int)
		for {
			q, rem := new(big.Int).QuoRem(d, big.NewInt(p), m)
			if rem.Sign() != 0 {
				break
			}
			d = q
			i++
		}
		n = max(n, i)
	}
	if d.Cmp(big.NewInt(1)) != 0 {
		return decDigits{}, fmt.Errorf("bound %s is not a finite decimal", r.RatString())
	}
	if n > maxDigits || r.Num().BitLen() > r.Denom().BitLen()+maxDigits*4 {
		return decDigits{}, fmt.Errorf("bound %s has more than %d digits", r.FloatString(0), maxDigits)
	}
	s := r.FloatString(n)
	i, f, _ := strings.Cut(s, ".")
	if len(i) > maxDigits {
		return decDigits{}, fmt.Errorf("bound %s has more than %d digits", s, maxDigits)
	}
	return decDigits{int: i, frac: strings.TrimRight(f, "0")}, nil
}

// A magLimit is one end of a range of magnitudes.
type magLimit struct {
	d    decDigits
	excl bool
}

// A magRange is a range of magnitudes: lo ≤ v ≤ hi (< where excl); hi nil
// is unbounded.
type magRange struct {
	lo magLimit
	hi *magLimit
}

func magEqual(a, b magRange) bool {
	if a.lo != b.lo || (a.hi == nil) != (b.hi == nil) {
		return false
	}
	return a.hi == nil || *a.hi == *b.hi
}

// splitSigns splits a range of values into the magnitudes of its
// non-negative texts and of its negative texts; nil where there are none.
func splitSigns(lo, hi *bound) (pos, neg *magRange, err error) {
	limit := func(v *big.Rat, excl bool) (magLimit, error) {
		d, err := toDecimal(new(big.Rat).Abs(v))
		return magLimit{d, excl}, err
	}
	zero := magLimit{d: decDigits{int: "0"}}
	// Non-negative texts: v = x.
	if hi == nil || hi.Value.Sign() >= 0 {
		r := &magRange{lo: zero}
		if lo != nil && lo.Value.Sign() >= 0 {
			if r.lo, err = limit(lo.Value, lo.Exclusive); err != nil {
				return nil, nil, err
			}
		}
		if hi != nil {
			h, err := limit(hi.Value, hi.Exclusive)
			if err != nil {
				return nil, nil, err
			}
			r.hi = &h
		}
		pos = r
	}
	// Negative texts: x = -v, so x ≤ hi is v ≥ -hi, and x ≥ lo is v ≤ -lo.
	if lo == nil || lo.Value.Sign() <= 0 {
		r := &magRange{lo: zero}
		if hi != nil && hi.Value.Sign() <= 0 {
			if r.lo, err = limit(hi.Value, hi.Exclusive); err != nil {
				return nil, nil, err
			}
		}
		if lo != nil {
			l, err := limit(lo.Value, lo.Exclusive)
			if err != nil {
				return nil, nil, err
			}
			r.hi = &l
		}
		neg = r
	}
	return pos, neg, nil
}

// language returns the texts "0", "12", "3.50" … whose value lies in r;
// with integer, texts without fraction (r's ends must then be integers).
func (r magRange) language(integer bool) *rx {
	loLen := len(r.lo.d.int)
	hiLen := -1
	if r.hi != nil {
		hiLen = len(r.hi.d.int)
		if c := cmpDecimal(r.lo.d, r.hi.d); c > 0 || c == 0 && (r.lo.excl || r.hi.excl) {
			return rxNone
		}
	}
	var alts []*rx
	// Integer parts of the lower bound's length, and of the upper's.
	lengths := []int{loLen}
	if hiLen > loLen {
		lengths = append(lengths, hiLen)
	}
	for _, L := range lengths {
		w := &magWalk{L: L, integer: integer, ex1: r.lo.excl}
		if L == loLen {
			w.t1 = padDigits(r.lo.d, L)
		}
		if L == hiLen {
			w.t2, w.ex2 = padDigits(r.hi.d, L), r.hi.excl
		}
		alts = append(alts, w.walk(0, w.t1 != nil, w.t2 != nil))
	}
	// Integer parts of a length strictly in between: no bound matters.
	frac := anyFrac
	if integer {
		frac = rxEmpty
	}
	if hiLen < 0 || hiLen-loLen >= 2 {
		alts = append(alts, catRx(setRx(newSet(runeRange{'1', '9'})), repRx(anyDigit, loLen, max(hiLen-2, -1)), frac))
	}
	return altRx(alts...)
}

func cmpDecimal(a, b decDigits) int {
	if len(a.int) != len(b.int) {
		return len(a.int) - len(b.int)
	}
	if c := strings.Compare(a.int, b.int); c != 0 {
		return c
	}
	return strings.Compare(a.frac, b.frac) // no trailing zeros: string order is value order
}

// padDigits returns d's digits with its integer part padded to L digits.
func padDigits(d decDigits, L int) []byte {
	return []byte(strings.Repeat("0", L-len(d.int)) + d.int + d.frac)
}

// A magWalk builds the texts with an integer part of L digits, compared
// digit by digit with the padded lower bound t1 and upper bound t2.
type magWalk struct {
	L        int
	t1, t2   []byte
	ex1, ex2 bool
	integer  bool
}

func digitAt(t []byte, pos int) int {
	if pos < len(t) {
		return int(t[pos] - '0')
	}
	return 0
}

// zeroTail reports whether t has only zeros from pos on.
func zeroTail(t []byte, pos int) bool {
	for _, c := range t[min(pos, len(t)):] {
		if c != '0' {
			return false
		}
	}
	return true
}

func digitRange(lo, hi int) *rx {
	return setRx(newSet(runeRange{rune('0' + lo), rune('0' + hi)}))
}

// walk returns the rest of the text from digit position pos (integer
// digits are 0…L-1, fraction digits follow), where lo and hi say whether
// the text so far equals the lower and the upper bound.
func (w *magWalk) walk(pos int, lo, hi bool) *rx {
	if lo && !w.ex1 && zeroTail(w.t1, pos) {
		lo = false // whatever follows is ≥ the bound
	}
	if hi && w.ex2 && zeroTail(w.t2, pos) {
		return rxNone // whatever follows is ≥ the bound
	}
	if hi && w.integer && strings.Trim(string(w.t2[min(pos, len(w.t2)):]), "9") == "" {
		hi = false // the rest of an integer bound is all nines: no digits can exceed it
	}
	end := rxEmpty // may the text end here? Not while equal to the lower bound's digits
	if lo {
		end = rxNone
	}
	if !w.integer && pos-w.L >= maxDigits16 {
		return end // no room for another fraction digit
	}
	switch {
	case !lo && !hi:
		return w.free(pos)
	case pos < w.L:
		return w.digit(pos, lo, hi)
	case w.integer:
		return end
	case pos == w.L:
		return altRx(end, catRx(runeRx('.'), w.digit(pos, lo, hi)))
	}
	return altRx(end, w.digit(pos, lo, hi))
}

// free is the rest of the text from pos once both comparisons are decided.
func (w *magWalk) free(pos int) *rx {
	if pos == 0 && w.L > 1 { // no leading zero
		return catRx(digitRange(1, 9), w.free(1))
	}
	switch {
	case pos < w.L && w.integer:
		return repRx(anyDigit, w.L-pos, w.L-pos)
	case pos < w.L:
		return catRx(repRx(anyDigit, w.L-pos, w.L-pos), anyFrac)
	case pos == w.L && w.integer:
		return rxEmpty
	case pos == w.L:
		return anyFrac
	}
	return repRx(anyDigit, 0, w.room(pos))
}

// room is how many fraction digits may still come at position pos ≥ L.
func (w *magWalk) room(pos int) int { return max(maxDigits16-(pos-w.L), 0) }

// digit is one digit at pos and the rest of the text.
func (w *magWalk) digit(pos int, lo, hi bool) *rx {
	if pos >= w.L && (!lo || zeroTail(w.t1, pos)) && (!hi || zeroTail(w.t2, pos)) {
		// Past the bounds' last digits: the same choice forever.
		r := w.room(pos)
		switch {
		case lo && hi || r == 0: // equal to both, the lower exclusive; or no room
			return rxNone
		case lo: // something non-zero must come, within r digits
			var alts []*rx
			for k := range r {
				alts = append(alts, catRx(repRx(runeRx('0'), k, k), digitRange(1, 9), repRx(anyDigit, 0, r-k-1)))
			}
			return altRx(alts...)
		default: // only zeros may come
			return repRx(runeRx('0'), 1, r)
		}
	}
	dlo, dhi := 0, 9
	if pos == 0 && w.L > 1 {
		dlo = 1
	}
	a, b := -1, 10
	if lo {
		a = digitAt(w.t1, pos)
		dlo = max(dlo, a)
	}
	if hi {
		b = digitAt(w.t2, pos)
		dhi = min(dhi, b)
	}
	if dlo > dhi {
		return rxNone
	}
	if lo && hi && a == b {
		return catRx(digitRange(a, a), w.walk(pos+1, true, true))
	}
	var alts []*rx
	if lo {
		alts = append(alts, catRx(digitRange(a, a), w.walk(pos+1, true, false)))
		dlo = a + 1
	}
	if hi {
		alts = append(alts, catRx(digitRange(b, b), w.walk(pos+1, false, true)))
		dhi = b - 1
	}
	if dlo <= dhi {
		alts = append(alts, catRx(digitRange(dlo, dhi), w.free(pos+1)))
	}
	return altRx(alts...)
}

// An intRange is a range of integer magnitudes lo ≤ v ≤ hi; hi nil is
// unbounded.
type intRange struct{ lo, hi *big.Int }

// language returns the texts of the range's integers that are multiples
// of m (every integer when m is nil).
func (r *intRange) language(m *big.Int) (*rx, error) {
	if r.hi != nil && r.lo.Cmp(r.hi) > 0 {
		return rxNone, nil
	}
	if m == nil {
		mr := magRange{lo: magLimit{d: decDigits{int: r.lo.String()}}}
		if r.hi != nil {
			mr.hi = &magLimit{d: decDigits{int: r.hi.String()}}
		}
		if len(r.lo.String()) > maxDigits || (r.hi != nil && len(r.hi.String()) > maxDigits) {
			return nil, fmt.Errorf("integer bound has more than %d digits", maxDigits)
		}
		return mr.language(true), nil
	}
	// The multiples in range: first, first+m, … up to hi.
	first := new(big.Int).Mul(new(big.Int).Div(new(big.Int).Add(r.lo, new(big.Int).Sub(m, big.NewInt(1))), m), m)
	if r.hi != nil {
		count := new(big.Int).Sub(r.hi, first)
		if count.Sign() < 0 {
			return rxNone, nil
		}
		count.Div(count, m)
		if count.Cmp(big.NewInt(maxEnumerate)) < 0 {
			var alts []*rx
			for v := first; v.Cmp(r.hi) <= 0; v = new(big.Int).Add(v, m) {
				alts = append(alts, litRx(v.String()))
			}
			return altRx(alts...), nil
		}
	}
	if m.Cmp(big.NewInt(maxMultipleOf)) > 0 {
		return nil, fmt.Errorf("multipleOf %s is above %d and the range holds too many multiples to list them", m, maxMultipleOf)
	}
	d, err := rangeDFA(r.lo, r.hi, int(m.Int64()))
	if err != nil {
		return nil, err
	}
	x := d.minimize().expression()
	if x == nil {
		return nil, fmt.Errorf("multipleOf %s over this range needs too large a grammar (its expression passes %d nodes)", m, maxElimNodes)
	}
	return x, nil
}

// A digitDFA reads decimal digits: next[s][d] is the state after digit d in
// state s, or -1 for none.
type digitDFA struct {
	next   [][10]int32
	accept []bool
	start  int32
}

// rangeDFA builds the automaton of the texts of integers v with
// lo ≤ v ≤ hi (hi nil: unbounded) and v ≡ 0 (mod m). It reads the text
// from the left, keeping the number of digits read, how the digits so far
// compare with the bounds' first digits, and the remainder.
func rangeDFA(lo, hi *big.Int, m int) (*digitDFA, error) {
	ld, hd := lo.String(), ""
	if hi != nil {
		hd = hi.String()
	}
	if len(ld) > maxDigits || len(hd) > maxDigits {
		return nil, fmt.Errorf("integer bound has more than %d digits", maxDigits)
	}
	type state struct {
		phase  int8 // 0 nothing read, 1 read "0", 2 in a number not starting with 0
		k      int  // digits read, capped past the bounds' lengths
		cl, ch int8 // sign of (digits so far − bound's first k digits), while k ≤ its length
		r      int  // value so far mod m
	}
	cmp := func(a int, b byte) int8 { return int8(min(max(a-int(b-'0'), -1), 1)) }
	capK := max(len(ld), len(hd)) + 1
	step := func(s state, dig int) (state, bool) {
		switch s.phase {
		case 0:
			if dig == 0 {
				return state{phase: 1}, true
			}
			t := state{phase: 2, k: 1, cl: cmp(dig, ld[0]), r: dig % m}
			if hi != nil {
				t.ch = cmp(dig, hd[0])
			}
			return t, true
		case 1:
			return state{}, false
		}
		t := s
		t.k = min(s.k+1, capK)
		t.r = (s.r*10 + dig) % m
		if hi != nil && t.k > len(hd) {
			return state{}, false // longer than the upper bound
		}
		if s.k < len(ld) && s.cl == 0 {
			t.cl = cmp(dig, ld[s.k])
		}
		if t.k > len(ld) {
			t.cl = 0 // longer than the lower bound: above it, whatever the digits
		}
		if hi != nil && s.k < len(hd) && s.ch == 0 {
			t.ch = cmp(dig, hd[s.k])
		}
		return t, true
	}
	accepting := func(s state) bool {
		switch s.phase {
		case 0:
			return false
		case 1:
			return lo.Sign() == 0
		}
		geLo := s.k > len(ld) || s.k == len(ld) && s.cl >= 0
		leHi := hi == nil || s.k < len(hd) || s.k == len(hd) && s.ch <= 0
		return s.r == 0 && geLo && leHi
	}
	ids := map[state]int32{}
	var states []state
	id := func(s state) int32 {
		if i, ok := ids[s]; ok {
			return i
		}
		i := int32(len(states))
		ids[s] = i
		states = append(states, s)
		return i
	}
	d := &digitDFA{start: id(state{})}
	for i := 0; i < len(states); i++ {
		if len(states) > maxAutomaton {
			return nil, fmt.Errorf("multipleOf %d over this range needs more than %d automaton states", m, maxAutomaton)
		}
		var row [10]int32
		for dig := range 10 {
			row[dig] = -1
			if t, ok := step(states[i], dig); ok {
				row[dig] = id(t)
			}
		}
		d.next = append(d.next, row)
		d.accept = append(d.accept, accepting(states[i]))
	}
	return d, nil
}

// minimize returns the smallest automaton of the same language (Moore's
// partition refinement), without states that cannot reach acceptance.
func (d *digitDFA) minimize() *digitDFA {
	n := len(d.next)
	live := d.live()
	gbnfClass := make([]int32, n)
	for s := range n {
		switch {
		case !live[s]:
			gbnfClass[s] = -1
		case d.accept[s]:
			gbnfClass[s] = 1
		}
	}
	count := -1
	for {
		type sig struct {
			c    int32
			next [10]int32
		}
		ids := map[sig]int32{}
		next := make([]int32, n)
		for s := range n {
			if gbnfClass[s] < 0 {
				next[s] = -1
				continue
			}
			k := sig{c: gbnfClass[s]}
			for dig, t := range d.next[s] {
				k.next[dig] = -1
				if t >= 0 {
					k.next[dig] = gbnfClass[t]
				}
			}
			i, ok := ids[k]
			if !ok {
				i = int32(len(ids))
				ids[k] = i
			}
			next[s] = i
		}
		gbnfClass = next
		if len(ids) == count {
			break
		}
		count = len(ids)
	}
	m := &digitDFA{next: make([][10]int32, count), accept: make([]bool, count), start: gbnfClass[d.start]}
	for s := range n {
		c := gbnfClass[s]
		if c < 0 {
			continue
		}
		m.accept[c] = d.accept[s]
		for dig, t := range d.next[s] {
			m.next[c][dig] = -1
			if t >= 0 {
				m.next[c][dig] = gbnfClass[t]
			}
		}
	}
	return m
}

// live reports the states from which an accepting state can be reached.
func (d *digitDFA) live() []bool {
	n := len(d.next)
	preds := make([][]int32, n)
	for s, row := range d.next {
		for _, t := range row {
			if t >= 0 {
				preds[t] = append(preds[t], int32(s))
			}
		}
	}
	live := make([]bool, n)
	var stack []int32
	for s, a := range d.accept {
		if a {
			live[s] = true
			stack = append(stack, int32(s))
		}
	}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, p := range preds[s] {
			if !live[p] {
				live[p] = true
				stack = append(stack, p)
			}
		}
	}
	return live
}

// maxSubsets bounds the automaton that reads the texts right to left.
const maxSubsets = 1024

// maxElimStates bounds the automata turned into expressions.
const maxElimStates = 256

// maxElimNodes bounds the expression state elimination may build: the
// expressions for most remainders grow exponentially with the states.
const maxElimNodes = 20000

// expression returns a regular expression for d's language, from the
// automaton reading left to right or the one reading right to left,
// whichever prints shorter: divisibility by 5 is a matter of the last
// digit, which only the second sees directly. It returns nil when neither
// stays below maxElimNodes.
func (d *digitDFA) expression() *rx {
	if d.start < 0 {
		return rxNone
	}
	var best *rx
	if len(d.next) <= maxElimStates {
		best = d.eliminate()
	}
	if r := d.reverse(); r != nil {
		if r = r.minimize(); len(r.next) <= maxElimStates {
			if x := r.eliminate(); x != nil && (best == nil || x.size < best.size) {
				best = reverseRx(x)
			}
		}
	}
	return best
}

// reverse returns a deterministic automaton of the reversed language (by
// subset construction), or nil when it would be too large.
func (d *digitDFA) reverse() *digitDFA {
	n := len(d.next)
	preds := make([][10][]int32, n)
	for s, row := range d.next {
		for dig, t := range row {
			if t >= 0 {
				preds[t][dig] = append(preds[t][dig], int32(s))
			}
		}
	}
	words := (n + 63) / 64
	ids := map[string]int32{}
	var sets [][]uint64
	id := func(b []uint64) int32 {
		k := fmt.Sprint(b)
		if i, ok := ids[k]; ok {
			return i
		}
		i := int32(len(sets))
		ids[k] = i
		sets = append(sets, b)
		return i
	}
	first := make([]uint64, words)
	for s, a := range d.accept {
		if a {
			first[s/64] |= 1 << (s % 64)
		}
	}
	r := &digitDFA{start: id(first)}
	for i := 0; i < len(sets); i++ {
		if len(sets) > maxSubsets {
			return nil
		}
		cur := sets[i]
		var row [10]int32
		for dig := range 10 {
			next := make([]uint64, words)
			any := false
			for s := range n {
				if cur[s/64]&(1<<(s%64)) != 0 {
					for _, p := range preds[s][dig] {
						next[p/64] |= 1 << (p % 64)
						any = true
					}
				}
			}
			row[dig] = -1
			if any {
				row[dig] = id(next)
			}
		}
		r.next = append(r.next, row)
		r.accept = append(r.accept, cur[d.start/64]&(1<<(d.start%64)) != 0)
	}
	return r
}

// eliminate turns d into a regular expression by state elimination: each
// state in turn is removed and its paths p → q → s become edges p → s
// labelled p→q (q→q)* q→s. States with few edges go first. It gives up,
// returning nil, when an edge grows beyond maxElimNodes.
func (d *digitDFA) eliminate() *rx {
	if d.start < 0 {
		return rxNone
	}
	n := len(d.next)
	in, out := n, n+1 // the added start and final states
	edge := make([]map[int]*rx, n+2)
	preds := make([]map[int]bool, n+2)
	for i := range edge {
		edge[i], preds[i] = map[int]*rx{}, map[int]bool{}
	}
	add := func(p, q int, x *rx) {
		if x.op == opNone {
			return
		}
		if old, ok := edge[p][q]; ok {
			x = altRx(old, x)
		}
		edge[p][q] = x
		preds[q][p] = true
	}
	for s, row := range d.next {
		var labels []runeSet
		var targets []int
		for dig, t := range row {
			if t < 0 {
				continue
			}
			i := slices.Index(targets, int(t))
			if i < 0 {
				i = len(targets)
				targets = append(targets, int(t))
				labels = append(labels, nil)
			}
			labels[i] = labels[i].union(runesOf(rune('0' + dig)))
		}
		for i, t := range targets {
			add(s, t, setRx(labels[i]))
		}
		if d.accept[s] {
			add(s, out, rxEmpty)
		}
	}
	add(in, int(d.start), rxEmpty)
	alive := make([]bool, n)
	for i := range alive {
		alive[i] = true
	}
	for range n {
		q, cost := -1, 0
		for s := range n {
			if !alive[s] {
				continue
			}
			ins, outs := len(preds[s]), len(edge[s])
			if _, self := edge[s][s]; self {
				ins, outs = ins-1, outs-1
			}
			if c := ins * outs; q < 0 || c < cost {
				q, cost = s, c
			}
		}
		alive[q] = false
		loop := rxEmpty
		if l, ok := edge[q][q]; ok {
			loop = starRx(l)
		}
		for _, p := range slices.Sorted(maps.Keys(preds[q])) {
			if p == q {
				continue
			}
			for _, s := range slices.Sorted(maps.Keys(edge[q])) {
				if s != q {
					add(p, s, catRx(edge[p][q], loop, edge[q][s]))
					if edge[p][s].size > maxElimNodes {
						return nil
					}
				}
			}
			delete(edge[p], q)
		}
		for s := range edge[q] {
			delete(preds[s], q)
		}
		edge[q], preds[q] = nil, nil
	}
	if x, ok := edge[in][out]; ok {
		return x
	}
	return rxNone
}
