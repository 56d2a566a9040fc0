package chat_test

import (
	"fmt"
	"log"

	"github.com/ondo-ai/ondo/chat"
)

func Example() {
	// The template would come from the GGUF key tokenizer.chat_template.
	tmpl, err := chat.Parse(`{{- bos_token }}
{%- for message in messages %}
    {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}`)
	if err != nil {
		log.Fatal(err)
	}
	prompt, err := tmpl.Render(chat.Input{
		Messages: []chat.Message{
			{Role: "system", Content: "You are a helpful assistant."},
			{Role: "user", Content: "안녕하세요!"},
		},
		AddGenerationPrompt: true,
		BOSToken:            "<|begin_of_text|>",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", prompt)
	// Output:
	// "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n안녕하세요!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
}

func ExampleFallback() {
	// A model without tokenizer.chat_template: pick a format from its vocabulary.
	vocab := []string{"<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"}
	tmpl := chat.Fallback(vocab)
	prompt, _ := tmpl.Render(chat.Input{
		Messages:            []chat.Message{{Role: "system", Content: "Be brief."}, {Role: "user", Content: "Hi"}},
		AddGenerationPrompt: true,
		BOSToken:            "<bos>",
	})
	fmt.Println(tmpl.Name())
	fmt.Printf("%q\n", prompt)
	// Output:
	// gemma
	// "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\n"
}

func ExampleParseJSON() {
	// Tool schemas keep their key order, as they do in Python.
	tool, err := chat.ParseJSON([]byte(`{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}`))
	if err != nil {
		log.Fatal(err)
	}
	tmpl, _ := chat.Parse(`{% for t in tools %}{{ t | tojson }}{% endfor %}`)
	out, _ := tmpl.Render(chat.Input{Tools: []any{tool}})
	fmt.Println(out)
	// Output:
	// {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}}
}

func ExampleRaiseError() {
	tmpl, _ := chat.Parse(`{% if messages[0].role != 'user' %}{{ raise_exception('first message must be from the user') }}{% endif %}`)
	_, err := tmpl.Render(chat.Input{Messages: []chat.Message{{Role: "assistant", Content: "hi"}}})
	fmt.Println(err)
	// Output:
	// chat: template raised an exception: first message must be from the user
}
