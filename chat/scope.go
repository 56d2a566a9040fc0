package chat

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// loopScopes gives each for-loop iteration jinja2's fresh scope (see the
// comment at the top of lex.go). The lexer reports every block tag it
// writes; loopScopes tracks the nesting of blocks and, for each for loop,
// the names its body sets, and at the end inserts the saving and restoring
// tags into the rewritten template.
type loopScopes struct {
	frames  []scopeFrame
	inserts []scopeInsert
	saved   int // save variables named so far
}

// scopeFrame is an open block: a for loop, or a block that matters for
// where a set belongs (if, for else-branches; macro, call and filter
// bodies, whose sets are their own; a block set's body).
type scopeFrame struct {
	kind        string
	before      int // output offsets around the opening tag
	after       int
	sets        []string // for: names set directly in the loop body
	targets     []string // for: the loop's own variables, set by each iteration
	inElse      bool     // for: past its {% else %}, which runs outside the loop
	elseSets    []string // for: names its else-branch sets, which stay in it too
	declaration bool     // set: a block set, closed by endset
}

// scopeInsert is a tag to insert into the output at offset at; restores go
// before saves at the same offset (an outer loop's restore precedes the
// save of a loop that opens its body).
type scopeInsert struct {
	at      int
	restore bool
	text    string
}

// block records the block tag body written to the output between offsets
// before and after.
func (s *loopScopes) block(body string, before, after int) {
	body = strings.TrimSpace(body)
	word, rest, _ := strings.Cut(body, " ")
	word = strings.TrimSpace(word)
	rest = strings.TrimSpace(rest)
	switch word {
	case "for", "if", "macro", "call", "filter":
		f := scopeFrame{kind: word, before: before, after: after}
		if word == "for" {
			vars, _, _ := strings.Cut(rest, " in ")
			for _, t := range strings.Split(vars, ",") {
				f.targets = append(f.targets, strings.Trim(strings.TrimSpace(t), "()"))
			}
		}
		s.frames = append(s.frames, f)
	case "else":
		if n := len(s.frames); n > 0 && s.frames[n-1].kind == "for" {
			s.frames[n-1].inElse = true
		}
	case "endif", "endmacro", "endcall", "endfilter", "endset":
		s.pop()
	case "endfor":
		if f, ok := s.pop(); ok && f.kind == "for" {
			s.scoped(f, after)
		}
	case "set":
		targets, _, hasValue := strings.Cut(rest, "=")
		for _, t := range strings.Split(targets, ",") {
			if t = strings.TrimSpace(t); t != "" && !strings.ContainsAny(t, ".[") {
				s.record(t)
			}
		}
		if !hasValue { // {% set x %}…{% endset %}
			s.frames = append(s.frames, scopeFrame{kind: "set", declaration: true})
		}
	}
}

func (s *loopScopes) pop() (scopeFrame, bool) {
	n := len(s.frames)
	if n == 0 {
		return scopeFrame{}, false // the library reports the unbalanced tag
	}
	f := s.frames[n-1]
	s.frames = s.frames[:n-1]
	return f, true
}

// record notes that name is set in the innermost scope: the body of the
// nearest enclosing for loop unless a macro, call or filter body (or a
// loop's else-branch) comes first.
func (s *loopScopes) record(name string) {
	for i := len(s.frames) - 1; i >= 0; i-- {
		f := &s.frames[i]
		switch f.kind {
		case "for":
			if f.inElse {
				if !slices.Contains(f.elseSets, name) {
					f.elseSets = append(f.elseSets, name)
				}
				return
			}
			// The loop's own variables are set afresh by each
			// iteration: a set of one lasts for that iteration only.
			if name != "loop" && !slices.Contains(f.targets, name) && !slices.Contains(f.sets, name) {
				f.sets = append(f.sets, name)
			}
			return
		case "macro", "call", "filter":
			return
		}
	}
}

// scoped schedules the save and restore tags of a for loop closed at
// output offset end: the body's variables restored at the start of each
// iteration, the else-branch's (which the library runs in the enclosing
// scope) after the loop.
func (s *loopScopes) scoped(f scopeFrame, end int) {
	save := func(name string, at int) {
		v := fmt.Sprintf("__ondo_s%d", s.saved)
		s.saved++
		s.inserts = append(s.inserts,
			scopeInsert{at: f.before, text: "{% set " + v + " = " + name + " %}"},
			scopeInsert{at: at, restore: true, text: "{% set " + name + " = " + v + " %}"})
	}
	for _, name := range f.sets {
		save(name, f.after)
	}
	for _, name := range f.elseSets {
		save(name, end)
	}
}

// apply returns out with the scheduled tags inserted.
func (s *loopScopes) apply(out string) string {
	if len(s.inserts) == 0 {
		return out
	}
	sort.SliceStable(s.inserts, func(i, j int) bool {
		a, b := s.inserts[i], s.inserts[j]
		if a.at != b.at {
			return a.at < b.at
		}
		return a.restore && !b.restore
	})
	var b strings.Builder
	last := 0
	for _, in := range s.inserts {
		b.WriteString(out[last:in.at])
		b.WriteString(in.text)
		last = in.at
	}
	b.WriteString(out[last:])
	return b.String()
}
