package tokenizer_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/tokenizer"
)

// writeToyVocab writes a tiny byte-level BPE vocabulary: <|endoftext|>,
// the 256 byte tokens, and the merges that spell "hello" and " hello".
func writeToyVocab(path string) error {
	tokens := []string{"<|endoftext|>"}
	types := []int32{int32(tokenizer.TypeControl)}
	for b := range 256 {
		// GPT-2's printable stand-ins for the bytes.
		r := rune(b)
		switch {
		case b < '!':
			r = rune(256 + b)
		case b > '~' && b < 0xA1:
			r = rune(256 + 33 + b - 0x7F)
		case b == 0xAD:
			r = 256 + 33 + 34
		}
		tokens = append(tokens, string(r))
		types = append(types, int32(tokenizer.TypeNormal))
	}
	for _, s := range []string{"he", "ll", "hell", "hello", "Ġhello"} {
		tokens = append(tokens, s)
		types = append(types, int32(tokenizer.TypeNormal))
	}
	return gguf.WriteFile(path, []gguf.KV{
		gguf.NewKV("tokenizer.ggml.model", "gpt2"),
		gguf.NewKV("tokenizer.ggml.pre", "gpt-2"),
		gguf.NewKV("tokenizer.ggml.tokens", tokens),
		gguf.NewKV("tokenizer.ggml.token_type", types),
		gguf.NewKV("tokenizer.ggml.merges", []string{"h e", "l l", "he ll", "hell o", "Ġ hello"}),
		gguf.NewKV("tokenizer.ggml.eos_token_id", uint32(0)),
	}, nil)
}

func openToy() *tokenizer.Tokenizer {
	dir, err := os.MkdirTemp("", "toy")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "toy.gguf")
	if err := writeToyVocab(path); err != nil {
		log.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	tk, err := tokenizer.FromGGUF(f, tokenizer.Options{})
	if err != nil {
		log.Fatal(err)
	}
	return tk
}

func ExampleTokenizer_Encode() {
	tk := openToy() // tokenizer.FromGGUF on a model file

	ids := tk.Encode("hello hello!<|endoftext|>", tokenizer.EncodeOptions{ParseSpecial: true})
	fmt.Println(ids)
	var pieces []string
	for _, id := range ids {
		pieces = append(pieces, tk.Piece(id))
	}
	fmt.Printf("%q\n", pieces)
	fmt.Println(tk.IsEOG(ids[len(ids)-1]))
	// Output:
	// [260 261 34 0]
	// ["hello" "Ġhello" "!" "<|endoftext|>"]
	// true
}

func ExampleTokenizer_Decode() {
	tk := openToy()

	ids := tk.Encode("hello, 세계", tokenizer.EncodeOptions{})
	text, err := tk.Decode(ids, tokenizer.DecodeOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(text)
	// Output: hello, 세계
}

func ExampleDecoder() {
	tk := openToy()

	// "가" is three bytes, here three byte tokens: the decoder holds the
	// first two back until the character is complete.
	d := tk.NewDecoder(tokenizer.DecodeOptions{})
	for _, id := range tk.Encode("가!", tokenizer.EncodeOptions{}) {
		chunk, err := d.Add(id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%d → %q\n", id, chunk)
	}
	fmt.Printf("end → %q\n", d.Flush())
	// Output:
	// 235 → ""
	// 177 → ""
	// 129 → "가"
	// 34 → "!"
	// end → ""
}
