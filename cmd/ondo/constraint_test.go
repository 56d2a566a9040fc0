package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/internal/schematest"
	"github.com/ondo-ai/ondo/internal/testdata"
)

// personSchema is schematest.Person (see there).
const personSchema = schematest.Person

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// validateJSON checks that out is one JSON text that validates against
// schema, with an independent validator.
func validateJSON(t testing.TB, schema, out string) {
	t.Helper()
	schematest.Validate(t, schema, out)
}

func TestGenerateGrammar(t *testing.T) {
	model := testdata.Path(t, "gguf", "stories260K.gguf")
	// The prompt starts as the grammar does: the grammar constrains only
	// what is generated.
	g := writeFile(t, "once.gbnf", `root ::= "Once" [a-z ]{1,20} "."`+"\n")
	for _, args := range [][]string{{}, {"--temperature", "1", "--seed", "3"}} {
		r := mustRun(t, append([]string{"generate", "--model", model, "--prompt", "Once upon a time", "-n", "64", "--grammar", g}, args...)...)
		if !regexp.MustCompile(`^Once[a-z ]{1,20}\.$`).MatchString(r.stdout) {
			t.Errorf("%v: output %q does not match the grammar", args, r.stdout)
		}
	}

	s := writeFile(t, "person.json", personSchema)
	r := mustRun(t, "generate", "--model", model, "--prompt", "Once upon a time", "-n", "200", "--json-schema", s, "--verbose")
	validateJSON(t, personSchema, r.stdout)
	if !strings.Contains(r.stderr, "finish reason:   stop") {
		t.Errorf("the JSON did not end generation: %s", r.stderr)
	}
}

func TestGenerateGrammarErrors(t *testing.T) {
	model := testdata.Path(t, "gguf", "stories260K.gguf")
	bad := writeFile(t, "bad.gbnf", "root ::= item\nitem ::= \"abc\n")
	empty := writeFile(t, "empty.gbnf", `root ::= "a" root`)
	token := writeFile(t, "token.gbnf", `root ::= "a" <|nonexistent|>`)
	schema := writeFile(t, "bad.json", `{"type":"object","properties":{"tags":{"type":"array","uniqueItems":true}}}`)
	notJSON := writeFile(t, "notjson.json", `{"type":`)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--grammar", bad}, bad + ":2:10: "},
		{[]string{"--grammar", empty}, empty + ":1:"},
		{[]string{"--grammar", token}, token + ":1:14: token <|nonexistent|> is not in the vocabulary"},
		{[]string{"--grammar", filepath.Join(t.TempDir(), "nope.gbnf")}, "--grammar: open"},
		{[]string{"--json-schema", schema}, schema + ": JSON schema at /properties/tags: "},
		{[]string{"--json-schema", notJSON}, notJSON + ": JSON schema: "},
		{[]string{"--grammar", bad, "--json-schema", schema}, "give only one"},
	} {
		args := append([]string{"generate", "--model", model, "--prompt", "x", "-n", "4"}, c.args...)
		msg := checkFailure(t, runOndo(t, args...), strings.Join(c.args, " "))
		if !strings.Contains(msg, c.want) {
			t.Errorf("%v: %q does not mention %q", c.args, msg, c.want)
		}
	}
}

// ondo run --format constrains the answer, in this process and through a
// server.
func TestRunFormat(t *testing.T) {
	dir := storeWithTiny(t)
	schema := writeFile(t, "person.json", personSchema)
	check := func(t *testing.T, where string) {
		args := []string{"run", "--models-dir", dir, "-p", "num_predict=200", "-p", "temperature=0", "tiny", "--format", schema, "Tell me about a person."}
		r := mustRun(t, args...)
		validateJSON(t, personSchema, strings.TrimSpace(r.stdout))

		// JSON mode: an object, or, when the model does not close it
		// within num_predict, an error that says so.
		r = runOndo(t, "run", "--models-dir", dir, "-p", "num_predict=40", "-p", "temperature=0", "tiny", "--format", "json", "Tell me about a person.")
		checkStderr(t, r, where+" --format json")
		if !strings.HasPrefix(r.stdout, "{") {
			t.Errorf("%s: --format json answered %q", where, r.stdout)
		}
		if r.code != 0 && !strings.Contains(r.stderr, "cut short") {
			t.Errorf("%s: --format json failed: %s", where, r.stderr)
		}

		bad := writeFile(t, "bad.json", `{"type":"object","properties":{"tags":{"type":"array","uniqueItems":true}}}`)
		msg := checkFailure(t, runOndo(t, "run", "--models-dir", dir, "tiny", "--format", bad, "x"), where+" bad schema")
		if !strings.Contains(msg, "uniqueItems") {
			t.Errorf("%s: bad schema: %q", where, msg)
		}
	}
	t.Run("in-process", func(t *testing.T) {
		noServer(t)
		check(t, "in-process")
	})
	t.Run("server", func(t *testing.T) {
		startServer(t, dir, "")
		check(t, "server")
	})
}
