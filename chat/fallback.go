package chat

import (
	"embed"
	"fmt"
	"sync"
)

//go:embed fallback/*.jinja
var fallbackFS embed.FS

// fallbackNames are the built-in templates, in fallback/<name>.jinja.
var fallbackNames = []string{"chatml", "llama3", "gemma", "mistral", "mistral-v7", "phi3"}

var fallbacks = sync.OnceValue(func() map[string]*Template {
	m := make(map[string]*Template, len(fallbackNames))
	for _, name := range fallbackNames {
		src, err := fallbackFS.ReadFile("fallback/" + name + ".jinja")
		if err != nil {
			panic(err)
		}
		t, err := Parse(string(src))
		if err != nil {
			panic(fmt.Sprintf("chat: built-in template %s: %v", name, err))
		}
		t.name = name
		m[name] = t
	}
	return m
})

// Fallback returns a built-in template for a model that has no chat
// template, chosen by which special tokens its vocabulary (tokens, indexed
// by token id, as in tokenizer.ggml.tokens) contains, the way llama.cpp
// guesses a format:
//
//	<|start_header_id|> and <|end_header_id|>   "llama3":     <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>
//	<|im_start|> and <|im_end|>                 "chatml":     <|im_start|>role\ncontent<|im_end|>\n
//	<start_of_turn> and <end_of_turn>           "gemma":      <start_of_turn>user|model\ncontent<end_of_turn>\n (system text goes first in the first turn)
//	[INST] and [/INST], and [SYSTEM_PROMPT]     "mistral-v7": [SYSTEM_PROMPT]system[/SYSTEM_PROMPT][INST]user[/INST]assistant</s>
//	[INST] and [/INST]                          "mistral":    [INST]user[/INST]assistant</s> (system text goes first in the next user turn)
//	<|user|>, <|assistant|> and <|end|>         "phi3":       <|role|>\ncontent<|end|>\n
//	anything else                               "chatml"
//
// The first match in this order wins. Each starts with {{ bos_token }} where
// the family's own templates do (Llama 3, Gemma, Mistral) and ends with the
// family's assistant header when AddGenerationPrompt is set (Mistral's has
// none: the prompt ends with [/INST]). They use only role and content (text
// parts of list content): tools and tool calls are not rendered. The
// sources are in the fallback directory of this package.
func Fallback(tokens []string) *Template {
	has := make(map[string]bool, 16)
	for _, tok := range tokens {
		if len(tok) >= 5 && len(tok) <= 20 && (tok[0] == '<' || tok[0] == '[') {
			has[tok] = true
		}
	}
	name := "chatml"
	switch {
	case has["<|start_header_id|>"] && has["<|end_header_id|>"]:
		name = "llama3"
	case has["<|im_start|>"] && has["<|im_end|>"]:
		name = "chatml"
	case has["<start_of_turn>"] && has["<end_of_turn>"]:
		name = "gemma"
	case has["[INST]"] && has["[/INST]"] && has["[SYSTEM_PROMPT]"]:
		name = "mistral-v7"
	case has["[INST]"] && has["[/INST]"]:
		name = "mistral"
	case has["<|user|>"] && has["<|assistant|>"] && has["<|end|>"]:
		name = "phi3"
	}
	return fallbacks()[name]
}

// ForModel returns the template a model should use: its own chat template
// (the GGUF key tokenizer.chat_template) when it has one, compiled with
// Parse, otherwise Fallback(tokens).
func ForModel(chatTemplate string, tokens []string) (*Template, error) {
	if chatTemplate == "" {
		return Fallback(tokens), nil
	}
	return Parse(chatTemplate)
}
