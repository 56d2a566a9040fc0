package server

import (
	"bytes"
	"container/list"
	"encoding/json"
	"errors"
	"strings"
	"sync"

	"github.com/ondo-ai/ondo/engine"
	"github.com/ondo-ai/ondo/grammar"
	"github.com/ondo-ai/ondo/grammar/jsonschema"
)

// Structured output: the one place where a request's constraint fields
// (OpenAI's response_format, llama.cpp's grammar and json_schema, Ollama's
// format) become a *grammar.Grammar for engine.Request.Grammar. Every
// mistake in them is a 400 that names the field and says what is wrong.

// constraintSpec is what a request asks its output to be: one of a GBNF
// grammar, a JSON schema, or any JSON object.
type constraintSpec struct {
	field  string          // the request field it came from, for errors
	gbnf   string          // a GBNF grammar, or
	schema json.RawMessage // a JSON schema (strict: OpenAI's strict mode), or
	strict bool
	object bool // any JSON object
}

// constraint is a compiled constraint and the field it came from.
type constraint struct {
	field string
	g     *grammar.Grammar
}

// oneConstraint returns the one constraint a request gave (nil for none),
// refusing two at once: their intersection is not what either means.
func oneConstraint(specs ...*constraintSpec) (*constraintSpec, error) {
	var got *constraintSpec
	for _, s := range specs {
		if s == nil {
			continue
		}
		if got != nil {
			return nil, badRequest(s.field, "%q and %q both constrain the output: give only one of them", got.field, s.field)
		}
		got = s
	}
	return got, nil
}

// oaiResponseFormat is OpenAI's response_format. Schema beside type
// json_object is llama.cpp's extension.
type oaiResponseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
		Strict *bool           `json:"strict"`
	} `json:"json_schema"`
	Schema json.RawMessage `json:"schema"`
}

// oaiConstraints are the constraint fields of both OpenAI endpoints:
// response_format, and llama.cpp's server's grammar (GBNF) and json_schema.
type oaiConstraints struct {
	ResponseFormat *oaiResponseFormat `json:"response_format"`
	Grammar        string             `json:"grammar"`
	JSONSchema     json.RawMessage    `json:"json_schema"`
}

// spec returns the constraint the fields ask for, or nil.
func (c *oaiConstraints) spec() (*constraintSpec, error) {
	var rf *constraintSpec
	if f := c.ResponseFormat; f != nil {
		switch f.Type {
		case "", "text":
		case "json_object":
			rf = &constraintSpec{field: "response_format", object: true}
			if present(f.Schema) {
				rf = &constraintSpec{field: "response_format.schema", schema: f.Schema}
			}
		case "json_schema":
			js := f.JSONSchema
			if js == nil {
				return nil, badRequest("response_format.json_schema", "response_format.json_schema is required with type json_schema: {\"name\": …, \"schema\": {…}}")
			}
			rf = &constraintSpec{field: "response_format.json_schema.schema", schema: js.Schema, strict: js.Strict != nil && *js.Strict}
			if !present(js.Schema) {
				// OpenAI's schema is optional: without one, any object.
				rf = &constraintSpec{field: "response_format.json_schema", object: true}
			}
		default:
			return nil, badRequest("response_format.type", "response_format.type %q is not one of text, json_object, json_schema", f.Type)
		}
	}
	var gbnf, schema *constraintSpec
	if c.Grammar != "" {
		gbnf = &constraintSpec{field: "grammar", gbnf: c.Grammar}
	}
	if present(c.JSONSchema) {
		schema = &constraintSpec{field: "json_schema", schema: c.JSONSchema}
	}
	return oneConstraint(rf, gbnf, schema)
}

// ollamaFormat reads Ollama's format: "json" for any JSON object, a JSON
// schema object, or nothing ("", null).
func ollamaFormat(raw json.RawMessage) (*constraintSpec, error) {
	raw = bytes.TrimSpace(raw)
	if !present(raw) {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, badRequest("format", "invalid value for \"format\": %v", err)
		}
		switch s {
		case "":
			return nil, nil
		case "json":
			return &constraintSpec{field: "format", object: true}, nil
		}
		return nil, badRequest("format", "format %q is not \"json\" or a JSON schema object", s)
	case '{':
		return &constraintSpec{field: "format", schema: raw}, nil
	}
	return nil, badRequest("format", "invalid value for \"format\": expected \"json\" or a JSON schema object, got %s", clip(string(raw), 40))
}

// present reports whether an optional JSON field holds a value.
func present(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && string(raw) != "null"
}

// clip shortens s to n characters for a message.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// oaiConstraint compiles the constraint of an OpenAI request, or nil.
func (s *Server) oaiConstraint(c *oaiConstraints) (*constraint, error) {
	spec, err := c.spec()
	if err != nil {
		return nil, err
	}
	return s.constraint(spec)
}

// ollamaConstraint compiles Ollama's format, or nil.
func (s *Server) ollamaConstraint(format json.RawMessage) (*constraint, error) {
	spec, err := ollamaFormat(format)
	if err != nil {
		return nil, err
	}
	return s.constraint(spec)
}

// constraint compiles spec (nil gives nil). Grammars are cached by their
// GBNF text, so that a schema sent with every request is parsed once and
// keeps the parser tables and token masks its earlier requests built.
func (s *Server) constraint(spec *constraintSpec) (*constraint, error) {
	if spec == nil {
		return nil, nil
	}
	src := spec.gbnf
	switch {
	case spec.object:
		src = jsonschema.JSONObject()
	case spec.schema != nil:
		var err error
		if src, err = jsonschema.Compile(spec.schema, jsonschema.Options{Strict: spec.strict}); err != nil {
			return nil, schemaError(spec.field, err)
		}
	}
	g, err := s.grammars.get(src)
	if err != nil {
		var se *grammar.SyntaxError
		switch {
		case spec.gbnf == "":
			return nil, badRequest(spec.field, "%q: the grammar made from it does not compile (a bug in ondo): %v", spec.field, err)
		case errors.As(err, &se):
			return nil, badRequest(spec.field, "%q: line %d, column %d: %s", spec.field, se.Line, se.Col, se.Msg)
		}
		return nil, badRequest(spec.field, "%q: %s", spec.field, strings.TrimPrefix(err.Error(), "grammar: "))
	}
	return &constraint{field: spec.field, g: g}, nil
}

// schemaError describes a schema that jsonschema.Compile refused.
func schemaError(field string, err error) error {
	var je *jsonschema.Error
	if !errors.As(err, &je) {
		return badRequest(field, "%q: %v", field, err)
	}
	where := "the JSON schema"
	if je.Pointer != "" {
		where = "the JSON schema at " + je.Pointer
	}
	return badRequest(field, "%q: %s: %s", field, where, je.Msg)
}

// apply ties the constraint (nil: none) to the vocabulary of r's model
// and sets it on req. A token the grammar names and the vocabulary lacks
// is a 400 naming the field; the engine binds again on Submit and gets
// the same binding back.
func (c *constraint) apply(r *runner, req *engine.Request) error {
	if c == nil || r.gen == nil {
		return nil
	}
	if _, err := c.g.Bind(r.gen.Index()); err != nil {
		var se *grammar.SyntaxError
		if errors.As(err, &se) {
			return badRequest(c.field, "%q: line %d, column %d: %s (model %q)", c.field, se.Line, se.Col, se.Msg, r.name)
		}
		return badRequest(c.field, "%q: %v (model %q)", c.field, err, r.name)
	}
	req.Grammar = c.g
	return nil
}

// grammarCacheSize is the most compiled grammars kept.
const grammarCacheSize = 64

// grammarCache keeps the most recently used compiled grammars, by source.
type grammarCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // of *grammarEntry, the most recently used first
	bySrc map[string]*list.Element
}

type grammarEntry struct {
	src string
	g   *grammar.Grammar
}

func newGrammarCache(max int) *grammarCache {
	return &grammarCache{max: max, order: list.New(), bySrc: map[string]*list.Element{}}
}

// get returns the grammar compiled from src, compiling it on a miss.
// Failures are not kept: a bad grammar costs its sender, not the cache.
func (c *grammarCache) get(src string) (*grammar.Grammar, error) {
	c.mu.Lock()
	if el, ok := c.bySrc[src]; ok {
		c.order.MoveToFront(el)
		c.mu.Unlock()
		return el.Value.(*grammarEntry).g, nil
	}
	c.mu.Unlock()
	// Parsed without the lock: a large grammar does not hold up others.
	g, err := grammar.Parse(src)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.bySrc[src]; ok {
		// Another request compiled it meanwhile: share that one.
		c.order.MoveToFront(el)
		return el.Value.(*grammarEntry).g, nil
	}
	c.bySrc[src] = c.order.PushFront(&grammarEntry{src: src, g: g})
	for c.order.Len() > c.max {
		last := c.order.Back()
		c.order.Remove(last)
		delete(c.bySrc, last.Value.(*grammarEntry).src)
	}
	return g, nil
}

// len returns the number of grammars kept.
func (c *grammarCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
