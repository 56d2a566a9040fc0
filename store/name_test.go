package store

import (
	"errors"
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	for _, c := range []struct {
		in, canon, file string
		hub             bool
	}{
		{"mymodel", "mymodel:latest", "mymodel/latest.json", false},
		{"mymodel:tag", "mymodel:tag", "mymodel/tag.json", false},
		{"My-Model_2.5:Q4_K_M", "My-Model_2.5:Q4_K_M", "my-model_2.5/q4_k_m.json", false},
		{"owner/repo", "hf.co/owner/repo:latest", "hf.co/owner/repo/latest.json", true},
		{"owner/repo:Q4_K_M", "hf.co/owner/repo:Q4_K_M", "hf.co/owner/repo/q4_k_m.json", true},
		{"hf.co/owner/repo:q8_0", "hf.co/owner/repo:q8_0", "hf.co/owner/repo/q8_0.json", true},
		{"HF.CO/Owner/Repo-GGUF", "hf.co/Owner/Repo-GGUF:latest", "hf.co/owner/repo-gguf/latest.json", true},
		{"huggingface.co/bartowski/Llama-3.2-1B-Instruct-GGUF:IQ2_XXS", "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:IQ2_XXS", "hf.co/bartowski/llama-3.2-1b-instruct-gguf/iq2_xxs.json", true},
		{"model.gguf", "model.gguf:latest", "model.gguf/latest.json", false},
	} {
		n, err := ParseName(c.in)
		if err != nil {
			t.Errorf("ParseName(%q): %v", c.in, err)
			continue
		}
		if n.String() != c.canon || n.manifestPath() != c.file || n.Hub() != c.hub {
			t.Errorf("ParseName(%q) = %q (file %q, hub %v), want %q (file %q, hub %v)", c.in, n, n.manifestPath(), n.Hub(), c.canon, c.file, c.hub)
		}
	}
}

func TestParseNameBad(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", "empty"},
		{"../evil", `"..", which would leave the model store`},
		{"..", `"..", which would leave the model store`},
		{"a/../b", `"..", which would leave the model store`},
		{"owner/..:x", `"..", which would leave the model store`},
		{"hf.co/../../etc:passwd", `"..", which would leave the model store`},
		{"mymodel:..", `starts with '.'`},
		{"my..model", `contains ".."`},
		{"/etc/passwd", "absolute path"},
		{"/abs", "absolute path"},
		{`C:\models\x`, "backslash"},
		{`owner\repo`, "backslash"},
		{"evil\x00name", "NUL byte"},
		{"mymodel:tag\x00", "NUL byte"},
		{"owner/repo/", "empty path element"},
		{"owner//repo", "empty path element"},
		{"a/b/c/d", "4 path elements"},
		{"example.com/a/b", `unknown host "example.com"`},
		{"hf.co", "needs OWNER/REPO"},
		{"hf.co/owner", "needs OWNER/REPO"},
		{"a:b:c", "more than one ':'"},
		{"model:", "tag after ':' is empty"},
		{"model:a/b", "contains '/'"},
		{".hidden", "starts with '.'"},
		{"-flag", "starts with '-'"},
		{"sp ace", `contains ' '`},
		{"tab\tname", "0x09"},
		{"semi;colon", `contains ';'`},
		{"star*", `contains '*'`},
		{"ünïcode", "0xc3"},
		{"owner/re$po", `contains '$'`},
		{"CON", "Windows reserves"},
		{"nul.txt", "Windows reserves"},
		{"model:COM1", "Windows reserves"},
		{strings.Repeat("a", 97), "97 characters"},
		{"m:" + strings.Repeat("t", 129), "129 characters"},
		{strings.Repeat("a/", 200) + "b", "bytes long"},
	} {
		_, err := ParseName(c.in)
		var ne *NameError
		if !errors.As(err, &ne) {
			t.Errorf("ParseName(%q) = %v, want a *NameError", c.in, err)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseName(%q): %v; want it to mention %q", c.in, err, c.want)
		}
	}
}

func TestQuantLabel(t *testing.T) {
	for in, want := range map[string]string{
		"synth-llama-Q4_K_M":                   "Q4_K_M",
		"Llama-3.2-1B-Instruct.q8_0":           "Q8_0",
		"Qwen2.5-7B-Instruct-IQ2_XXS":          "IQ2_XXS",
		"model-Q4_0_4_4":                       "Q4_0_4_4",
		"gemma-3-1b-it-BF16":                   "BF16",
		"Q4_K_M/model":                         "Q4_K_M",
		"Q5_K_S/Qwen3-235B-A22B-Q5_K_S":        "Q5_K_S",
		"Qwen3-30B-A3B-UD-Q4_K_XL":             "UD-Q4_K_XL",
		"model_Q8_0_final":                     "Q8_0",
		"Qwen2-7B":                             "",
		"model-Q4_K_M-Q8_0":                    "Q8_0",
		"DeepSeek-R1-Distill-Qwen-1.5B-Q4_K_M": "Q4_K_M",
	} {
		if got := quantLabel(in); got != want {
			t.Errorf("quantLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
