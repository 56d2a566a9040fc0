package tokenizer

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ondo-ai/ondo/internal/peer"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/internal/testvocab"
)

// TestPeer compares Encode and Decode with llama.cpp's own tokenizer,
// driven through internal/peer, on the tricky inputs, the Korean sentences
// and lines of the benchmark text. It is skipped where the peer cannot run
// (Node.js and `npm ci` in bench/peer are needed).
//
// Known, deliberate differences are not compared: for WordPiece, llama.cpp
// reduces a Hangul syllable to its first jamo and drops spacing marks
// where BERT (the reference) decomposes the syllable fully and drops only
// non-spacing marks.
func TestPeer(t *testing.T) {
	c := startPeer(t)
	defer c.Close()
	inputs := peerInputs()
	for _, name := range vocabs {
		t.Run(name, func(t *testing.T) {
			var path string
			if name == "llama-bpe" {
				path = testvocab.Llama3(t)
			} else {
				path = testdata.Path(t, "tokenizer", "ggml-vocab-"+name+".gguf")
			}
			in := inputs
			if name == "bert-bge" {
				in = slices.DeleteFunc(slices.Clone(in), func(s string) bool {
					return strings.ContainsFunc(s, func(r rune) bool { return r >= 0xAC00 && r <= 0xD7A3 || r >= 0x0900 && r <= 0x17FF })
				})
			}
			comparePeer(t, c, load(t, name), path, in)
		})
	}
}

// startPeer starts llama.cpp's side of the cross-checks, or skips the test
// where it cannot run (in short mode too).
func startPeer(t *testing.T) *peer.Client {
	t.Helper()
	if testing.Short() {
		t.Skip("peer cross-check skipped in short mode")
	}
	if err := peer.Available(); err != nil {
		t.Skip(err)
	}
	c, err := peer.Start()
	if err != nil {
		t.Skip(err)
	}
	return c
}

// peerInputs are the texts the llama.cpp cross-checks tokenize: the tricky
// inputs, the Korean sentences, lines of the benchmark text and chat-style
// text with special tokens.
func peerInputs() []string {
	inputs := append(slices.Clone(trickyInputs), koreanSentences...)
	inputs = append(inputs, strings.Split(mixedText(1<<13), "\n")...)
	return append(inputs,
		"<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
		"<s>[INST] hello [/INST]</s>", "<|user|>\nhi<|end|>\n<|assistant|>",
		"<fim_prefix>def f():<fim_suffix>\n<fim_middle>", "a<|User|>b<｜fim▁hole｜>c")
}

// comparePeer tokenizes every input with tk and with llama.cpp on the
// vocabulary file path, with and without special-token parsing, and
// requires the same ids.
func comparePeer(t *testing.T, c *peer.Client, tk *Tokenizer, path string, inputs []string) {
	t.Helper()
	same, n := 0, 0
	for _, s := range inputs {
		for _, special := range []bool{false, true} {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			want, err := c.Tokenize(ctx, path, s, special)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			got := tk.Encode(s, EncodeOptions{ParseSpecial: special})
			n++
			if !slices.Equal(got, want) {
				t.Errorf("%q (special %v):\n ondo      %v\n llama.cpp %v", s, special, got, want)
				continue
			}
			same++
		}
	}
	t.Logf("%d/%d encodings identical to llama.cpp's", same, n)
}
