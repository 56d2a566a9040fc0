package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
)

// rawVocab is a small SentencePiece-style BPE vocabulary: the 256 <0xXX>
// byte tokens, then words, then the control tokens <bos> and <eos>.
func rawVocab(t *testing.T, words, merges []string, kvs ...gguf.KV) *Tokenizer {
	t.Helper()
	var tokens []string
	var types []int32
	for b := range 256 {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, int32(TypeByte))
	}
	for _, w := range words {
		tokens = append(tokens, w)
		types = append(types, int32(TypeNormal))
	}
	tokens = append(tokens, "<bos>", "<eos>")
	types = append(types, int32(TypeControl), int32(TypeControl))
	kvs = append(kvs,
		gguf.NewKV(keyTokens, tokens),
		gguf.NewKV(keyTypes, types),
		gguf.NewKV(keyMerges, merges),
		gguf.NewKV("tokenizer.ggml.bos_token_id", uint32(len(tokens)-2)),
		gguf.NewKV("tokenizer.ggml.eos_token_id", uint32(len(tokens)-1)))
	tk, err := FromGGUF(writeVocab(t, kvs...), Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

// pieces returns the vocabulary strings of ids.
func pieces(tk *Tokenizer, ids []int32) []string {
	var out []string
	for _, id := range ids {
		out = append(out, tk.Piece(id))
	}
	return out
}

// TestGemma4Model checks the gemma4 tokenizer model: spaces as "▁", merges
// of characters by rank, pieces cut at newlines, a run of newlines that is
// a token used whole, byte fallback, BOS always added; and that the
// sarvam-moe pre-tokenizer does the same without the last two.
func TestGemma4Model(t *testing.T) {
	words := []string{"a", "b", "c", "▁", "▁a", "ab", "\n", "\n\n", "\n\n\n", "é"}
	merges := []string{"▁ a", "a b", "b ▁"}
	text := "a ab\n\n\nc\n\né😀"
	bytes := []string{"<0xF0>", "<0x9F>", "<0x98>", "<0x80>"}
	for _, tc := range []struct {
		name   string
		kvs    []gguf.KV
		want   []string
		addBOS bool
	}{
		{"model=gemma4", []gguf.KV{gguf.NewKV(keyModel, "gemma4"), gguf.NewKV(keyAddBOS, false)},
			append([]string{"a", "▁a", "b", "\n\n\n", "c", "\n\n", "é"}, bytes...), true},
		{"pre=sarvam-moe", []gguf.KV{gguf.NewKV(keyModel, "gpt2"), gguf.NewKV(keyPre, "sarvam-moe")},
			append([]string{"a", "▁a", "b", "\n", "\n", "\n", "c", "\n", "\n", "é"}, bytes...), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tk := rawVocab(t, words, merges, tc.kvs...)
			ids := tk.Encode(text, EncodeOptions{})
			if got := pieces(tk, ids); !slices.Equal(got, tc.want) {
				t.Errorf("pieces %q, want %q", got, tc.want)
			}
			if got, err := tk.Decode(ids, DecodeOptions{}); err != nil || got != text {
				t.Errorf("decodes to %q, %v", got, err)
			}
			if tk.AddsBOS() != tc.addBOS {
				t.Errorf("AddsBOS %v, want %v", tk.AddsBOS(), tc.addBOS)
			}
			// A merge result that is not a token ("b▁") becomes its bytes.
			want := []string{"<0x62>", "<0xE2>", "<0x96>", "<0x81>", "b"}
			if got := pieces(tk, tk.Encode("b b", EncodeOptions{})); !slices.Equal(got, want) {
				t.Errorf(`"b b": %q, want %q`, got, want)
			}
		})
	}
}

// TestWhitespaceModel checks the whitespace tokenizer model: white space
// is dropped and, unless the pre-tokenizer is "whitespace" or the file
// says otherwise, the text is lower-cased.
func TestWhitespaceModel(t *testing.T) {
	words := []string{"h", "e", "l", "o", "H", "he", "hel", "hell", "hello", "x"}
	merges := []string{"h e", "he l", "hel l", "hell o"}
	text := "Hello\u3000 hello\t\nx"
	for _, tc := range []struct {
		kvs  []gguf.KV
		want string
	}{
		{[]gguf.KV{gguf.NewKV(keyPre, "whitespace")}, "H e l l o|hello|x"},
		{[]gguf.KV{gguf.NewKV(keyPre, "whitespace"), gguf.NewKV(keyLowercase, true)}, "hello|hello|x"},
	} {
		tk := rawVocab(t, words, merges, append(tc.kvs, gguf.NewKV(keyModel, "whitespace"))...)
		got := strings.Join(pieces(tk, tk.Encode(text, EncodeOptions{})), " ")
		if want := strings.ReplaceAll(tc.want, "|", " "); got != want {
			t.Errorf("%v: %q, want %q", tc.kvs, got, want)
		}
	}
	// With another pre-tokenizer, lower case is the default.
	if tk := rawVocab(t, words, merges, gguf.NewKV(keyModel, "whitespace"), gguf.NewKV(keyPre, "gpt-2")); !tk.lowercase {
		t.Error("the whitespace model with pre gpt-2 does not lower-case")
	}
}
