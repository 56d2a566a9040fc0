// Package grammar constrains generation to a formal language: grammars in
// llama.cpp's GBNF syntax, run over a vocabulary's tokens.
//
// Parse compiles GBNF source into a Grammar. Bind ties it to a vocabulary's
// Index (its tokens as a byte trie) and gives a Constraint, from which every
// generated sequence takes its own Matcher. A Matcher answers, for the text
// generated so far, which tokens may come next: one token cheaply (Allows),
// or all of them as a bit mask (Mask), and it says when the text is a whole
// sentence (Complete: only then may an end-of-generation token be chosen).
// package sample runs it as the first step of the sampling pipeline.
//
// # Syntax
//
//	root   ::= object            # a rule; root is where matching starts
//	object ::= "{" ws ( pair ( "," ws pair )* )? "}"
//	pair   ::= [a-z]+ ":" ws ( "\"" [^"\\]* "\"" | [0-9]{1,3} )
//	ws     ::= [ \t\n]{0,4}
//
// Literals "..." and classes [...] take the escapes \n \r \t \\ \" \xHH
// \uHHHH \UHHHHHHHH; [^...] negates a class; . is any character. Items
// group with ( ), alternatives split with |, and repeat with * + ? {m}
// {m,} {m,n} {,n}. A newline ends a rule, except inside parentheses or
// when the next line starts with |. # starts a comment. Tokens are named
// with <[ID]> or by their text, <think>, and !<[ID]> is any one token but
// that one; such tokens never match as text, and are the only way the
// vocabulary's control and user-defined tokens can be produced.
//
// Grammars work on bytes: a class is compiled into the UTF-8 encodings of
// its characters, so a token may end in the middle of a character (as byte
// tokens and byte-level BPE tokens do with Korean text) and no invalid
// UTF-8 can be produced. A rule that can reach itself before matching
// anything (left recursion), an unbounded repetition of something that
// can match the empty string, and a start rule that matches nothing are
// errors, as are syntax errors, which give the line and column.
package grammar

import (
	"errors"
	"sync"
)

// Grammar is a compiled grammar. It is safe for concurrent use; its
// parser tables grow as it is used and are shared by all its Matchers.
type Grammar struct {
	elems  []elem
	rules  [][]int32 // each rule's alternatives: positions in elems
	sets   []byteSet
	tokens []tokenRef
	names  []string // rule names; generated rules are named after their kind
	loops  []int32  // rules made for unbounded repetitions
	// chains are the rules of counted repetitions that have a twin loop,
	// twinRules those loops.
	chains    map[int32]chainRule
	twinRules []int32
	lexical   []bool  // source rules that only spell characters (see markLexical)
	ruleOf    []int32 // the rule of each element
	// userRules is the number of rules the source defines; they come
	// first, the generated ones (classes, repetitions, groups) after.
	userRules int
	nullable  []bool
	root      int32
	src       string

	a automaton

	bindMu sync.Mutex
	bound  map[*Index]*Constraint
}

// Parse compiles GBNF source whose start rule is named root.
func Parse(src string) (*Grammar, error) { return ParseRoot(src, "root") }

// ParseRoot compiles GBNF source whose start rule is root.
func ParseRoot(src, root string) (*Grammar, error) {
	defs, err := parseGBNF(src)
	if err != nil {
		return nil, err
	}
	if len(defs) == 0 {
		return nil, errors.New("grammar: the grammar has no rules")
	}
	g, err := compile(defs, root)
	if err != nil {
		return nil, err
	}
	g.src = src
	g.markLexical()
	g.initAutomaton()
	return g, nil
}

// Source returns the GBNF text the grammar was compiled from.
func (g *Grammar) Source() string { return g.src }

// Stats describes the grammar's size and how far its tables have grown.
type Stats struct {
	Rules, Elements int // after compilation (repetitions and classes add rules)
	Frames, States  int // parser tables built so far
}

// Stats returns the grammar's size and table counts.
func (g *Grammar) Stats() Stats {
	g.a.mu.Lock()
	defer g.a.mu.Unlock()
	return Stats{Rules: len(g.rules), Elements: len(g.elems), Frames: len(g.a.frames), States: len(g.a.states)}
}
