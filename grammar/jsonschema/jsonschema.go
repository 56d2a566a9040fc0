// Package jsonschema converts a JSON Schema into a GBNF grammar (package
// grammar's syntax) whose sentences are JSON texts that validate against
// the schema: structured output for the OpenAI and Ollama APIs.
//
// The conversion is exact or it fails. A keyword the grammar cannot
// enforce (uniqueItems, not, if/then/else, propertyNames, …) is an *Error
// naming it and where it stands, never silently dropped; so is a keyword
// JSON Schema does not know (vendor "x-" keywords and containers that a
// $ref points into are allowed), and so is a combination that a
// context-free grammar cannot express exactly: a pattern or format
// together with minLength or maxLength, two patterns joined by allOf, or
// oneOf branches that may overlap (a value matching two branches is
// invalid; branches pass when they differ in type, in const or enum
// values, in a required property's values, in ranges or counts, or are the
// same schema, which cancels out). Keys of additional properties are split
// exactly among patternProperties and additionalProperties by an
// automaton, so every key's value meets the schemas of all the patterns
// it matches.
//
// Within that, the grammar accepts the JSON texts that validate, with these
// deliberate narrowings, which keep what a model generates predictable:
//
//   - Object members come in a fixed order: the declared properties in the
//     schema's order (each optional one may be left out), then required
//     properties that are not declared, in the order of required, then any
//     additional or pattern properties. Members of const and enum objects
//     come in the order the schema gives.
//   - Whitespace between tokens is "", " ", or a newline and up to 20
//     spaces or tabs; none before or after the whole text. This accepts
//     compact JSON, Python's json.dumps spacing and indented output, and
//     keeps a model from emitting whitespace forever.
//   - Text the schema fixes or constrains is spelt one way, with only the
//     escapes JSON requires: property names, const and enum values,
//     strings with a pattern or format, and the keys of additional
//     properties wherever some keys are declared or have patterns.
//     Other strings take any JSON spelling.
//   - Numbers of const and enum values are written as the schema writes
//     them. Other numbers have at most 16 digits before the point and 16
//     after it (an exponent at most 3), so that a model cannot write
//     digits forever; integers are written plainly, 12, never 12.0 or
//     1.2e1, so that they decode into integer types. (Where multipleOf
//     leaves an integer's side open and 16 digits would make the grammar
//     too large, that side stays open.)
//   - Additional properties may repeat a key among themselves; a grammar
//     cannot rule that out. Declared keys never repeat.
//   - A minLength, minItems or minProperties above 100000 is refused, and a
//     maximum above it is dropped.
//
// In draft 7, keywords beside $ref are ignored; from 2019-09 on they apply.
// The dialect comes from $schema; without it, a constraining keyword beside
// $ref is an error, since the two readings differ. Remote $refs are
// errors; $id and $anchor within the document are followed.
package jsonschema

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/ondo-ai/ondo/grammar"
)

// Options tune the conversion.
type Options struct {
	// Strict is OpenAI's strict mode: every declared property is required,
	// and additionalProperties is false unless the schema gives it.
	Strict bool
}

// Error is a schema the conversion refuses: a keyword that is not
// supported, a value that is not valid for its keyword, or a combination
// that a grammar cannot enforce.
type Error struct {
	Keyword string // the keyword at fault; empty for the schema as a whole
	Pointer string // JSON pointer to the schema that holds it ("" is the root)
	Msg     string
	err     error // wrapped, for errors.Is
}

func (e *Error) Error() string {
	p := e.Pointer
	if p == "" {
		p = "(root)"
	}
	return "jsonschema: " + p + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.err }

// ErrUnsatisfiable is wrapped by the *Error that Compile returns for a
// schema that no JSON value satisfies (false, or contradicting keywords):
// no grammar can describe an empty language.
var ErrUnsatisfiable = errors.New("jsonschema: no JSON value satisfies the schema")

// unsupported is the error for a keyword the conversion does not handle.
func unsupported(ptr, kw, why string) *Error {
	msg := fmt.Sprintf("keyword %q is not supported", kw)
	if why != "" {
		msg += ": " + why
	}
	return &Error{Keyword: kw, Pointer: ptr, Msg: msg}
}

// invalid is the error for a keyword whose value is not valid.
func invalid(ptr, kw, format string, args ...any) *Error {
	return &Error{Keyword: kw, Pointer: ptr, Msg: fmt.Sprintf("keyword %q: ", kw) + fmt.Sprintf(format, args...)}
}

// Compile converts a JSON Schema (draft 7 and 2020-12 spellings) into GBNF
// source whose rule root matches exactly the JSON texts that validate,
// within the narrowings of the package documentation. Unsupported
// keywords, invalid schemas and unsatisfiable ones are *Error.
func Compile(schema []byte, opts Options) (string, error) {
	doc, err := decode(schema)
	if err != nil {
		return "", &Error{Msg: "the schema is not valid JSON: " + err.Error()}
	}
	c, err := newCompiler(doc, opts)
	if err != nil {
		return "", err
	}
	root, err := c.nodeAt("")
	if err != nil {
		return "", err
	}
	e, ok, err := c.gen(root, "root")
	if err != nil {
		return "", err
	}
	if !ok {
		return "", &Error{Msg: "no JSON value satisfies the schema", err: ErrUnsatisfiable}
	}
	src := c.output(e)
	if _, err := grammar.Parse(src); err != nil {
		// A recursive schema can leave no finite value (an object that
		// requires itself): then root alone is unproductive, which one
		// more alternative for root cures. Else it is too large (or a bug).
		if _, err2 := grammar.Parse(strings.Replace(src, "\n", ` | "x"`+"\n", 1)); err2 == nil {
			return "", &Error{Msg: "no JSON value satisfies the schema (it requires itself)", err: ErrUnsatisfiable}
		}
		return "", &Error{Msg: "the grammar made for the schema does not compile: " + err.Error()}
	}
	return src, nil
}

// JSONObject returns the GBNF for any JSON object: OpenAI's json_object
// response format, Ollama's format "json".
func JSONObject() string {
	return newRuleSet().output("object")
}

// The rules every grammar may use, by name. Their names are reserved: the
// names made from a schema never collide with them.
var commonRules = map[string]string{
	"value":   `object | array | string | number | "true" | "false" | "null"`,
	"object":  `"{" ws ( string ws ":" ws value ws ( "," ws string ws ":" ws value ws )* )? "}"`,
	"array":   `"[" ws ( value ws ( "," ws value ws )* )? "]"`,
	"string":  `"\"" jchar* "\""`,
	"jchar":   `[^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} )`,
	"number":  fullNumber,
	"integer": fullInteger,
	"boolean": `"true" | "false"`,
	"null":    `"null"`,
	// char is one character of a string counted as JSON Schema counts:
	// an escape is one character, a surrogate pair one, and lone
	// surrogates are left out so that no text has two counts.
	"char": `[^"\\\x00-\x1F] | "\\" ["\\/bfnrt] | "\\u" ( [0-9a-cA-Ce-fE-F] hex hex hex | [dD] [0-7] hex hex ) | "\\u" [dD] [89abAB] hex hex "\\u" [dD] [c-fC-F] hex hex`,
	"hex":  `[0-9a-fA-F]`,
	// cesc is an escape as canonical JSON spells it: only where required.
	"cesc": `"\\" ( ["\\bfnrt] | "u00" ( "0" [0-7bef] | "1" [0-9a-f] ) )`,
	// ws is bounded so that a model cannot emit whitespace forever.
	"ws": `( " " | "\n" [ \t]{0,20} )?`,
}

// A ruleSet is the rules made so far, deduplicated by body.
type ruleSet struct {
	rules  map[string]string // name → body
	byBody map[string]string // body → name
	names  map[string]bool   // every name given out, bodies or not yet
	seq    map[string]int    // the order names were given out
	suffix map[string]int    // the last number added to a base name
}

func newRuleSet() *ruleSet {
	// root is written by output; no rule made from a schema takes its name.
	return &ruleSet{rules: map[string]string{}, byBody: map[string]string{}, names: map[string]bool{"root": true}, seq: map[string]int{}, suffix: map[string]int{}}
}

// define returns the name of a rule with the given body, reusing a rule
// with the same body; hint suggests the name.
func (c *ruleSet) define(hint, body string) string {
	if name, ok := c.byBody[body]; ok {
		return name
	}
	name := c.reserve(hint)
	c.rules[name] = body
	c.byBody[body] = name
	return name
}

// reserve returns a fresh rule name made from hint.
func (c *ruleSet) reserve(hint string) string {
	var b strings.Builder
	for _, r := range hint {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		case b.Len() > 0 && !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	base := b.String()
	if len(base) > 32 {
		base = base[:32]
	}
	base = strings.Trim(base, "-")
	if base == "" {
		base = "r"
	}
	name := base
	for {
		_, common := commonRules[name]
		if !common && !c.names[name] {
			break
		}
		c.suffix[base]++
		name = fmt.Sprintf("%s-%d", base, c.suffix[base]+1)
	}
	c.names[name] = true
	c.seq[name] = len(c.seq)
	return name
}

// output writes the grammar: root first, then the rules root reaches, in
// the order they were made, then the common rules.
func (c *ruleSet) output(rootExpr string) string {
	rootBody := rootExpr
	if body, ok := c.rules[rootExpr]; ok && !slices.Contains(c.reach(body), rootExpr) {
		rootBody = body // root is that rule; it is not recursive
	}
	var b strings.Builder
	fmt.Fprintf(&b, "root ::= %s\n", rootBody)
	var mine, common []string
	for _, name := range c.reach(rootBody) {
		if _, ok := c.rules[name]; ok {
			mine = append(mine, name)
		} else {
			common = append(common, name)
		}
	}
	sort.SliceStable(mine, func(i, j int) bool { return c.seq[mine[i]] < c.seq[mine[j]] })
	sort.Strings(common)
	for _, name := range mine {
		fmt.Fprintf(&b, "%s ::= %s\n", name, c.rules[name])
	}
	for _, name := range common {
		fmt.Fprintf(&b, "%s ::= %s\n", name, commonRules[name])
	}
	return b.String()
}

// reach returns the rules that body refers to, directly or not.
func (c *ruleSet) reach(body string) []string {
	seen := map[string]bool{}
	var order []string
	var visit func(body string)
	visit = func(body string) {
		for _, ref := range references(body) {
			if seen[ref] {
				continue
			}
			seen[ref] = true
			order = append(order, ref)
			if r, ok := c.rules[ref]; ok {
				visit(r)
			} else {
				visit(commonRules[ref])
			}
		}
	}
	visit(body)
	return order
}

// references returns the rule names a GBNF body refers to, skipping
// literals, classes and repetition counts.
func references(body string) []string {
	var out []string
	for i := 0; i < len(body); {
		switch ch := body[i]; {
		case ch == '"' || ch == '[':
			end := byte('"')
			if ch == '[' {
				end = ']'
			}
			i++
			for i < len(body) && body[i] != end {
				if body[i] == '\\' {
					i++
				}
				i++
			}
			i++
		case ch == '{':
			for i < len(body) && body[i] != '}' {
				i++
			}
		case isNameByte(ch):
			j := i
			for j < len(body) && isNameByte(body[j]) {
				j++
			}
			out = append(out, body[i:j])
			i = j
		default:
			i++
		}
	}
	return out
}

func isNameByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
