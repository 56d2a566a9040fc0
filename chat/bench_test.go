package chat

import "testing"

// BenchmarkRenderLlama31 renders the Llama 3.1 template with a system prompt
// and nine user/assistant turns.
func BenchmarkRenderLlama31(b *testing.B) {
	tmpl := mustParseFile(b, "testdata/templates/meta-llama-Llama-3.1-8B-Instruct.jinja")
	in := Input{Messages: benchMessages(10), AddGenerationPrompt: true, BOSToken: "<|begin_of_text|>", EOSToken: "<|eot_id|>"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Render(in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseLlama31 compiles the Llama 3.1 template.
func BenchmarkParseLlama31(b *testing.B) {
	src := mustParseFile(b, "testdata/templates/meta-llama-Llama-3.1-8B-Instruct.jinja").Source()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(src); err != nil {
			b.Fatal(err)
		}
	}
}
