package grammar

import (
	"fmt"
	"testing"
)

// ruleHashOf returns the hash of the named rule of a grammar, and whether
// it has one.
func ruleHashOf(t *testing.T, g *Grammar, name string) (ruleHash, bool) {
	t.Helper()
	g.a.mu.Lock()
	defer g.a.mu.Unlock()
	if g.a.ruleHashes == nil {
		g.hashRules()
	}
	for r := range g.userRules {
		if g.names[r] == name {
			h := g.a.ruleHashes[r]
			return h, h.ok
		}
	}
	t.Fatalf("no rule %s", name)
	return ruleHash{}, false
}

// Rules hash alike exactly when they and all they reach are alike,
// whatever their names, their order and the grammar around them.
func TestRuleHashes(t *testing.T) {
	for _, c := range []struct {
		a, ra, b, rb string
		same         bool
	}{
		{`root ::= s
s ::= "\"" [a-z]* "\""`, "s", `root ::= "[" str "]"
str ::= "\"" [a-z]* "\""`, "str", true},
		// One byte more in a class.
		{`root ::= s
s ::= "\"" [a-z]* "\""`, "s", `root ::= s
s ::= "\"" [a-z{]* "\""`, "s", false},
		// A cycle written in the other order, its rules renamed.
		{`root ::= a
a ::= "(" b ")" | "x"
b ::= "[" a "]" | "y"`, "a", `root ::= q
p ::= "[" q "]" | "y"
q ::= "(" p ")" | "x"`, "q", true},
		{`root ::= a
a ::= "(" b ")" | "x"
b ::= "[" a "]" | "y"`, "b", `root ::= q
p ::= "[" q "]" | "y"
q ::= "(" p ")" | "x"`, "p", true},
		// Two places in one cycle are not alike.
		{`root ::= a
a ::= "(" b ")" | "x"
b ::= "[" a "]" | "y"`, "a", `root ::= a
a ::= "(" b ")" | "x"
b ::= "[" a "]" | "y"`, "b", false},
		// The same calls, another shape of recursion.
		{`root ::= a
a ::= "(" a ")" | "x"`, "a", `root ::= a
a ::= "(" a ")" a | "x"`, "a", false},
		// A cycle calling out of itself, to rules that differ.
		{`root ::= v
v ::= "[" v "]" | n
n ::= [0-9]+`, "v", `root ::= v
v ::= "[" v "]" | n
n ::= [0-8]+`, "v", false},
		{`root ::= v
v ::= "[" v "]" | n
n ::= [0-9]+`, "v", `root ::= "<" w ">"
w ::= "[" w "]" | d
d ::= [0-9]+`, "w", true},
	} {
		ga, gb := mustParse(t, c.a), mustParse(t, c.b)
		ha, oka := ruleHashOf(t, ga, c.ra)
		hb, okb := ruleHashOf(t, gb, c.rb)
		if !oka || !okb {
			t.Fatalf("%s / %s: no hash", c.a, c.b)
		}
		if (ha == hb) != c.same {
			t.Errorf("%q rule %s and %q rule %s: same hash %v, want %v", c.a, c.ra, c.b, c.rb, ha == hb, c.same)
		}
	}
	// A rule that reaches a token reference has none.
	if _, ok := ruleHashOf(t, mustParse(t, "root ::= s\ns ::= <[3]> [a-z]"), "s"); ok {
		t.Error("a rule with a token reference has a hash")
	}
}

// Grammars that differ a little share one index: masks taken from the
// index's shared caches (by signature) must still be each grammar's own,
// and grammars that are alike but for their rules' names and order must
// find their masks there rather than walk again.
func TestSharedAcrossGrammars(t *testing.T) {
	texts := []string{"[", "]", "[\"", "\"]", "\"", "\",", ",", ";", " ", "a", "ab", "z", "az", "a\"", "z\"",
		"{", "}", "\"a\"", "(", ")", "1", "12", "\\", "한", "\xed", "\x95\x9c"}
	base := `root ::= "[" ws ( str ( "," ws str )* )? "]"
str ::= "\"" [a-z]* "\""
ws ::= [ \n]{0,2}`
	renamed := `ws2 ::= [ \n]{0,2}
text ::= "\"" [a-z]* "\""
root ::= "[" ws2 ( text ( "," ws2 text )* )? "]"`
	variants := []string{
		`root ::= "[" ws ( str ( "," ws str )* )? "]"
str ::= "\"" [a-y]* "\""
ws ::= [ \n]{0,2}`,
		`root ::= "[" ws ( str ( ";" ws str )* )? "]"
str ::= "\"" [a-z]* "\""
ws ::= [ \n]{0,2}`,
		`root ::= "[" ws ( str ( "," ws str )* )? "]"
str ::= "\"" [^"\\]* "\""
ws ::= [ \n]{0,2}`,
		`root ::= v
v ::= "[" ( v ( "," v )* )? "]" | "\"" [a-z]{0,3} "\""`,
		`root ::= v
v ::= "[" ( v ( ";" v )* )? "]" | "\"" [a-z]{0,3} "\""`,
		`root ::= v
v ::= "(" ( v ( "," v )* )? ")" | "\"" [a-z]{0,3} "\""`,
	}
	ix := testIndex(texts...)
	checkMaskMatchesAllows(t, ix, mustParse(t, base), len(texts))
	before := len(ix.shared)
	if before == 0 {
		t.Fatal("nothing shared")
	}
	checkMaskMatchesAllows(t, ix, mustParse(t, renamed), len(texts))
	if len(ix.shared) != before {
		t.Errorf("the renamed grammar added %d shared local masks, want none", len(ix.shared)-before)
	}
	for i, src := range variants {
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkMaskMatchesAllows(t, ix, mustParse(t, src), len(texts)) })
	}
	if len(ix.shared) == before {
		t.Error("the variants found all their masks shared")
	}
}
