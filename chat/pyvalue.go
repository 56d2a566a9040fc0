package chat

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ardanlabs/jinja"
)

// Python semantics the library does not have, reached through names the
// preprocessor (lex.go) puts in the template:
//
//   - {{ x }} prints str(x): None, True, 2.0, 1e-07, ['a', 'b'] and
//     {'k': None} as Python writes them (the library prints "", "2", "1e-07",
//     and lists and dicts with unescaped strings);
//   - x|string is str(x), x|trim(chars) is str(x).strip(chars), with Python's
//     whitespace (which includes U+001C..U+001F);
//   - d|dictsort sorts the items ignoring case unless case_sensitive, as
//     jinja2 does (the library compares keys byte by byte: "Zeta" before
//     "alpha"), and by value when asked;
//   - s.strip(), s.lstrip(), s.rstrip() strip all Unicode whitespace, as
//     Python does (the library's lstrip and rstrip only strip " \t\n\r"), and
//     s.split(sep, maxsplit), s.rsplit(sep, maxsplit) honour maxsplit and
//     split on runs of whitespace without sep.

// pyFilters are the callables added to every render.
var pyFilters = map[string]func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error){
	tojsonName:        tojsonFilter,
	strName:           strFilter,
	"__ondo_string":   strFilter,
	"__ondo_trim":     trimFilter,
	"__ondo_dictsort": dictsortFilter,
	"__ondo_strip":    stripMethod("strip"),
	"__ondo_lstrip":   stripMethod("lstrip"),
	"__ondo_rstrip":   stripMethod("rstrip"),
	"__ondo_split":    splitMethod(false),
	"__ondo_rsplit":   splitMethod(true),
}

// pyStr is Python's str(v) as jinja2 prints it (undefined prints nothing).
func pyStr(v jinja.Value) string {
	switch {
	case v.IsString():
		return v.AsString()
	case v.IsUndefined():
		return ""
	}
	var b strings.Builder
	pyRepr(&b, v, 0)
	return b.String()
}

// pyRepr writes Python's repr(v).
func pyRepr(b *strings.Builder, v jinja.Value, depth int) {
	if depth > 100 {
		b.WriteString("...")
		return
	}
	switch {
	case v.IsNone():
		b.WriteString("None")
	case v.IsUndefined():
		b.WriteString("Undefined")
	case v.IsBool():
		if v.AsBool() {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case v.IsInt():
		b.WriteString(strconv.FormatInt(v.AsInt(), 10))
	case v.IsFloat():
		b.WriteString(pyFloatRepr(v.AsFloat()))
	case v.IsString():
		pyStrRepr(b, v.AsString())
	case v.IsList():
		b.WriteByte('[')
		for i, it := range v.AsList().Items {
			if i > 0 {
				b.WriteString(", ")
			}
			pyRepr(b, it, depth+1)
		}
		b.WriteByte(']')
	case v.IsDict():
		d := v.AsDict()
		b.WriteByte('{')
		for i, k := range d.Keys {
			if i > 0 {
				b.WriteString(", ")
			}
			pyStrRepr(b, k)
			b.WriteString(": ")
			val, _ := d.Get(k)
			pyRepr(b, val, depth+1)
		}
		b.WriteByte('}')
	default:
		b.WriteString("<function>")
	}
}

// pyStrRepr writes Python's repr of a string: single quotes unless the
// string has ' and no ", backslash escapes for non-printable characters.
func pyStrRepr(b *strings.Builder, s string) {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == utf8.RuneError:
			b.WriteRune(r)
		case r < 0x7f && r >= 0x20 || r > 0x7f && unicode.IsPrint(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(b, `\x%02x`, r)
		case r < 0x10000:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			fmt.Fprintf(b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
}

// pyFloatRepr formats f like Python's repr(float): the shortest
// round-tripping digits, positional notation with at least one fractional
// digit when the decimal exponent is in [-4, 16), scientific notation with a
// two-digit-minimum exponent otherwise.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	mant, expStr, _ := strings.Cut(s, "e")
	exp, _ := strconv.Atoi(expStr)
	if exp < -4 || exp >= 16 {
		return mant + "e" + expStr[:1] + fmt.Sprintf("%02d", max(exp, -exp))
	}
	s = strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// strFilter is str(x), for output tags and the string filter. Several
// arguments are a tuple, as in {{ a, b }}.
func strFilter(args []jinja.Value, _ map[string]jinja.Value) (jinja.Value, error) {
	switch len(args) {
	case 0:
		return jinja.NewString(""), nil
	case 1:
		if args[0].IsString() {
			return args[0], nil
		}
		return jinja.NewString(pyStr(args[0])), nil
	}
	var b strings.Builder
	b.WriteByte('(')
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		pyRepr(&b, a, 0)
	}
	b.WriteByte(')')
	return jinja.NewString(b.String()), nil
}

// argOrKw returns positional argument i (after the value) or keyword name.
func argOrKw(args []jinja.Value, kwargs map[string]jinja.Value, i int, name string) (jinja.Value, bool) {
	if i+1 < len(args) {
		return args[i+1], true
	}
	v, ok := kwargs[name]
	return v, ok
}

// pyStrip is Python's str.strip/lstrip/rstrip with chars (nil: whitespace).
func pyStrip(s, which string, chars jinja.Value, have bool) (string, error) {
	f := isPySpace
	if have && !chars.IsNone() {
		if !chars.IsString() {
			return "", fmt.Errorf("%s arg must be None or str", which)
		}
		set := chars.AsString()
		f = func(r rune) bool { return strings.ContainsRune(set, r) }
	}
	switch which {
	case "lstrip":
		return strings.TrimLeftFunc(s, f), nil
	case "rstrip":
		return strings.TrimRightFunc(s, f), nil
	}
	return strings.TrimFunc(s, f), nil
}

// trimFilter is jinja2's trim: str(value).strip(chars).
func trimFilter(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 {
		return jinja.NewString(""), nil
	}
	chars, have := argOrKw(args, kwargs, 0, "chars")
	s, err := pyStrip(pyStr(args[0]), "strip", chars, have)
	if err != nil {
		return jinja.Value{}, fmt.Errorf("trim: %w", err)
	}
	return jinja.NewString(s), nil
}

// dictsortFilter is jinja2's dictsort(case_sensitive=False, by="key",
// reverse=False): a dict's [key, value] pairs sorted by key or value,
// strings compared lowercased (Python's str.lower, here strings.ToLower)
// unless case_sensitive, stably, as Python's sorted. Anything but a dict
// gives an empty list, as the library's filter does.
func dictsortFilter(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
	if len(args) == 0 || !args[0].IsDict() {
		return jinja.NewList(nil), nil
	}
	caseSensitive, _ := argOrKw(args, kwargs, 0, "case_sensitive")
	by, haveBy := argOrKw(args, kwargs, 1, "by")
	reverse, _ := argOrKw(args, kwargs, 2, "reverse")
	pos := 0
	if haveBy {
		switch {
		case by.IsString() && by.AsString() == "key":
		case by.IsString() && by.AsString() == "value":
			pos = 1
		default:
			return jinja.Value{}, fmt.Errorf(`dictsort: you can only sort by either "key" or "value"`)
		}
	}
	d := args[0].AsDict()
	items := make([]jinja.Value, len(d.Keys))
	sortKeys := make([]jinja.Value, len(d.Keys))
	for i, k := range d.Keys {
		items[i] = jinja.NewList([]jinja.Value{jinja.NewString(k), d.Data[k]})
		sortKeys[i] = jinja.NewString(k)
		if pos == 1 {
			sortKeys[i] = d.Data[k]
		}
		if s := sortKeys[i]; s.IsString() && !caseSensitive.IsTruthy() {
			sortKeys[i] = jinja.NewString(strings.ToLower(s.AsString()))
		}
	}
	order := make([]int, len(items))
	for i := range order {
		order[i] = i
	}
	var cmpErr error
	desc := reverse.IsTruthy()
	sort.SliceStable(order, func(i, j int) bool {
		c, err := pyCompare(sortKeys[order[i]], sortKeys[order[j]])
		if err != nil && cmpErr == nil {
			cmpErr = err
		}
		if desc {
			return c > 0
		}
		return c < 0
	})
	if cmpErr != nil {
		return jinja.Value{}, fmt.Errorf("dictsort: %w", cmpErr)
	}
	sorted := make([]jinja.Value, len(items))
	for i, o := range order {
		sorted[i] = items[o]
	}
	return jinja.NewList(sorted), nil
}

// pyCompare orders two values as Python's < does for the types JSON gives a
// template: strings by code point, numbers (and booleans, which are ints)
// by value; other pairs cannot be ordered.
func pyCompare(a, b jinja.Value) (int, error) {
	if a.IsString() && b.IsString() {
		return strings.Compare(a.AsString(), b.AsString()), nil
	}
	asInt := func(v jinja.Value) (int64, bool) {
		switch {
		case v.IsInt():
			return v.AsInt(), true
		case v.IsBool() && v.AsBool():
			return 1, true
		case v.IsBool():
			return 0, true
		}
		return 0, false
	}
	x, xi := asInt(a)
	y, yi := asInt(b)
	if xi && yi {
		return cmpOrdered(x, y), nil
	}
	if (xi || a.IsFloat()) && (yi || b.IsFloat()) {
		fx, fy := float64(x), float64(y)
		if a.IsFloat() {
			fx = a.AsFloat()
		}
		if b.IsFloat() {
			fy = b.AsFloat()
		}
		return cmpOrdered(fx, fy), nil
	}
	return 0, fmt.Errorf("'<' not supported between %s and %s", pyType(a), pyType(b))
}

func cmpOrdered[T int64 | float64](x, y T) int {
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// pyType is the name of a value's Python type.
func pyType(v jinja.Value) string {
	switch {
	case v.IsString():
		return "str"
	case v.IsBool():
		return "bool"
	case v.IsInt():
		return "int"
	case v.IsFloat():
		return "float"
	case v.IsList():
		return "list"
	case v.IsDict():
		return "dict"
	case v.IsNone():
		return "NoneType"
	}
	return "Undefined"
}

// receiver checks that a string method is called on a string.
func receiver(args []jinja.Value, method string) (string, error) {
	if len(args) == 0 || !args[0].IsString() {
		what := "Undefined"
		if len(args) > 0 && !args[0].IsUndefined() {
			what = pyStr(args[0])
			if len(what) > 40 {
				what = what[:40] + "..."
			}
		}
		return "", fmt.Errorf("%s has no attribute %q", what, method)
	}
	return args[0].AsString(), nil
}

func stripMethod(which string) func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
	return func(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
		s, err := receiver(args, which)
		if err != nil {
			return jinja.Value{}, err
		}
		chars, have := argOrKw(args, nil, 0, "")
		s, err = pyStrip(s, which, chars, have)
		if err != nil {
			return jinja.Value{}, err
		}
		return jinja.NewString(s), nil
	}
}

func splitMethod(right bool) func([]jinja.Value, map[string]jinja.Value) (jinja.Value, error) {
	name := "split"
	if right {
		name = "rsplit"
	}
	return func(args []jinja.Value, kwargs map[string]jinja.Value) (jinja.Value, error) {
		s, err := receiver(args, name)
		if err != nil {
			return jinja.Value{}, err
		}
		sep, haveSep := argOrKw(args, kwargs, 0, "sep")
		n := -1
		if m, ok := argOrKw(args, kwargs, 1, "maxsplit"); ok {
			if !m.IsInt() {
				return jinja.Value{}, fmt.Errorf("%s: maxsplit must be an int", name)
			}
			n = int(max(min(m.AsInt(), math.MaxInt32), -1))
		}
		var parts []string
		switch {
		case !haveSep || sep.IsNone():
			parts = splitSpace(s, n, right)
		case !sep.IsString():
			return jinja.Value{}, fmt.Errorf("%s: must be str or None", name)
		case sep.AsString() == "":
			return jinja.Value{}, fmt.Errorf("%s: empty separator", name)
		case n < 0:
			parts = strings.Split(s, sep.AsString())
		case right:
			parts = rsplitN(s, sep.AsString(), n)
		default:
			parts = strings.SplitN(s, sep.AsString(), n+1)
		}
		items := make([]jinja.Value, len(parts))
		for i, p := range parts {
			items[i] = jinja.NewString(p)
		}
		return jinja.NewList(items), nil
	}
}

// rsplitN splits s around the last n occurrences of sep.
func rsplitN(s, sep string, n int) []string {
	var rev []string
	for len(rev) < n {
		i := strings.LastIndex(s, sep)
		if i < 0 {
			break
		}
		rev = append(rev, s[i+len(sep):])
		s = s[:i]
	}
	out := []string{s}
	for i := len(rev) - 1; i >= 0; i-- {
		out = append(out, rev[i])
	}
	return out
}

// splitSpace is Python's str.split()/rsplit() without a separator: runs of
// whitespace separate, at most n splits (n < 0: no limit), the rest is kept
// with its inner whitespace but without the whitespace at the split end.
func splitSpace(s string, n int, right bool) []string {
	if !right {
		var out []string
		for {
			s = strings.TrimLeftFunc(s, isPySpace)
			if s == "" {
				return out
			}
			if n >= 0 && len(out) == n {
				return append(out, s)
			}
			i := strings.IndexFunc(s, isPySpace)
			if i < 0 {
				return append(out, s)
			}
			out = append(out, s[:i])
			s = s[i:]
		}
	}
	var rev []string
	for {
		s = strings.TrimRightFunc(s, isPySpace)
		if s == "" {
			break
		}
		if n >= 0 && len(rev) == n {
			rev = append(rev, s)
			break
		}
		i := strings.LastIndexFunc(s, isPySpace)
		if i < 0 {
			rev = append(rev, s)
			break
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		rev = append(rev, s[i+size:])
		s = s[:i]
	}
	out := make([]string, len(rev))
	for i, p := range rev {
		out[len(rev)-1-i] = p
	}
	return out
}
