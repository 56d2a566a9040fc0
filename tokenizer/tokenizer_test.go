package tokenizer

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/ondo-ai/ondo/gguf"
)

func TestSpecialTokens(t *testing.T) {
	tests := []struct {
		vocab                string
		bos, eos, eot, unk   int32
		eog                  []int32
		addsBOS, addsEOS     bool
		controlText, notCtrl string
	}{
		{"llama-spm", 1, 2, NoToken, 0, []int32{2}, true, false, "<s>", "▁the"},
		{"phi-3", 1, 32000, 32007, 0, []int32{2, 32000, 32007}, true, false, "<|user|>", "▁the"},
		{"gpt-2", 50256, 50256, 50256, NoToken, []int32{50256}, false, false, "<|endoftext|>", "Ġthe"},
		{"starcoder", 0, 0, 0, 0, []int32{0, 4}, false, false, "<fim_prefix>", "Ġthe"},
		{"deepseek-coder", 32013, 32014, 32014, NoToken, []int32{32014}, true, false, "<｜begin▁of▁sentence｜>", "Ġthe"},
		{"bert-bge", 101, NoToken, NoToken, 100, []int32{0}, true, true, "[CLS]", "▁the"},
		{"llama-bpe", 128000, 128009, 128009, NoToken, []int32{128001, 128008, 128009}, true, false, "<|start_header_id|>", "Ġthe"},
	}
	for _, tc := range tests {
		t.Run(tc.vocab, func(t *testing.T) {
			tk := load(t, tc.vocab)
			if tk.BOS() != tc.bos || tk.EOS() != tc.eos || tk.EOT() != tc.eot || tk.UNK() != tc.unk {
				t.Errorf("BOS %d EOS %d EOT %d UNK %d, want %d %d %d %d", tk.BOS(), tk.EOS(), tk.EOT(), tk.UNK(), tc.bos, tc.eos, tc.eot, tc.unk)
			}
			if got := tk.EOGs(); !slices.Equal(got, tc.eog) {
				t.Errorf("EOG tokens %v, want %v", got, tc.eog)
			}
			for _, id := range tc.eog {
				if !tk.IsEOG(id) {
					t.Errorf("IsEOG(%d) = false", id)
				}
			}
			if tk.AddsBOS() != tc.addsBOS || tk.AddsEOS() != tc.addsEOS {
				t.Errorf("AddsBOS %v AddsEOS %v, want %v %v", tk.AddsBOS(), tk.AddsEOS(), tc.addsBOS, tc.addsEOS)
			}
			ctrl, normal := find(t, tk, tc.controlText), find(t, tk, tc.notCtrl)
			if !tk.IsControl(ctrl) || tk.IsControl(normal) {
				t.Errorf("IsControl(%q) %v, IsControl(%q) %v", tc.controlText, tk.IsControl(ctrl), tc.notCtrl, tk.IsControl(normal))
			}
			if tk.Piece(ctrl) != tc.controlText {
				t.Errorf("Piece(%d) = %q", ctrl, tk.Piece(ctrl))
			}
			if tk.Piece(-1) != "" || tk.Piece(int32(tk.VocabSize())) != "" || tk.TokenType(-1) != TypeUndefined {
				t.Error("out-of-range ids are not handled")
			}
		})
	}
}

// find returns the id of a vocabulary string.
func find(t *testing.T, tk *Tokenizer, s string) int32 {
	t.Helper()
	for id := range tk.VocabSize() {
		if tk.Piece(int32(id)) == s {
			return int32(id)
		}
	}
	t.Fatalf("%q is not in the vocabulary", s)
	return NoToken
}

func TestEncodeOptions(t *testing.T) {
	tests := []struct {
		vocab string
		text  string
		opts  EncodeOptions
		want  []int32
	}{
		{"llama-spm", "Hello world", EncodeOptions{AddSpecial: true}, []int32{1, 15043, 3186}},
		{"llama-spm", "Hello world", EncodeOptions{AddSpecial: true, BOS: Off, EOS: On}, []int32{15043, 3186, 2}},
		{"llama-spm", "", EncodeOptions{AddSpecial: true}, []int32{1}},
		{"llama-spm", "", EncodeOptions{}, []int32{}},
		{"gpt-2", "Hello world", EncodeOptions{AddSpecial: true}, []int32{15496, 995}},
		{"gpt-2", "Hello world", EncodeOptions{BOS: On}, []int32{50256, 15496, 995}},
		{"llama-bpe", "Hello world", EncodeOptions{AddSpecial: true}, []int32{128000, 9906, 1917}},
		{"bert-bge", "Hello, World!", EncodeOptions{AddSpecial: true}, []int32{101, 7592, 1010, 2088, 999, 102}},
		{"bert-bge", "Hello", EncodeOptions{EOS: On}, []int32{7592, 102}},
	}
	for _, tc := range tests {
		tk := load(t, tc.vocab)
		if got := tk.Encode(tc.text, tc.opts); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("%s %q %+v: got %v, want %v", tc.vocab, tc.text, tc.opts, got, tc.want)
		}
	}
}

func TestParseSpecial(t *testing.T) {
	tk := load(t, "llama-bpe")
	text := "<|start_header_id|>user<|end_header_id|>\n\nHi!<|eot_id|>"
	got := tk.Encode(text, EncodeOptions{ParseSpecial: true})
	want := []int32{128006, 882, 128007, 271, 13347, 0, 128009}
	if !slices.Equal(got, want) {
		t.Errorf("with ParseSpecial: got %v, want %v", got, want)
	}
	plain := tk.Encode(text, EncodeOptions{})
	for _, id := range plain {
		if id >= 128000 {
			t.Errorf("without ParseSpecial the control token %d was matched: %v", id, plain)
		}
	}
	if s, _ := tk.Decode(plain, DecodeOptions{}); s != text {
		t.Errorf("plain text decodes to %q", s)
	}
	if s, _ := tk.Decode(got, DecodeOptions{}); s != "user\n\nHi!" {
		t.Errorf("control tokens rendered without Special: %q", s)
	}
	if s, _ := tk.Decode(got, DecodeOptions{Special: true}); s != text {
		t.Errorf("with Special: %q, want %q", s, text)
	}

	// SentencePiece puts a space in front of text after a special token.
	spm := load(t, "llama-spm")
	got = spm.Encode("<s>Hello</s>", EncodeOptions{ParseSpecial: true})
	if want := []int32{1, 15043, 2}; !slices.Equal(got, want) {
		t.Errorf("SPM with ParseSpecial: got %v, want %v", got, want)
	}
	if got := spm.Encode("<s>", EncodeOptions{}); slices.Contains(got, 1) {
		t.Errorf("SPM matched <s> without ParseSpecial: %v", got)
	}

	// deepseek-coder's user-defined tokens are matched always.
	ds := load(t, "deepseek-coder")
	got = ds.Encode("a<|User|>b", EncodeOptions{})
	if !slices.Contains(got, 32019) {
		t.Errorf("user-defined token not matched: %v", got)
	}
}

func TestDecodeLeadingSpace(t *testing.T) {
	spm := load(t, "llama-spm")
	ids := spm.Encode("Hello world", EncodeOptions{AddSpecial: true}) // <s> ▁Hello ▁world
	for _, tc := range []struct {
		opts DecodeOptions
		ids  []int32
		want string
	}{
		{DecodeOptions{}, ids, "Hello world"},
		{DecodeOptions{}, ids[1:], "Hello world"},
		{DecodeOptions{Special: true}, ids, "<s> Hello world"},
		{DecodeOptions{Continue: true}, ids, " Hello world"},
		{DecodeOptions{}, ids[2:], "world"},
	} {
		if got, err := spm.Decode(tc.ids, tc.opts); err != nil || got != tc.want {
			t.Errorf("Decode(%v, %+v) = %q, %v; want %q", tc.ids, tc.opts, got, err, tc.want)
		}
	}
	gpt := load(t, "gpt-2")
	if got, _ := gpt.Decode(gpt.Encode(" Hello", EncodeOptions{}), DecodeOptions{}); got != " Hello" {
		t.Errorf("byte-level BPE lost the leading space: %q", got)
	}
	if _, err := gpt.Decode([]int32{50257}, DecodeOptions{}); err == nil {
		t.Error("Decode accepted an id beyond the vocabulary")
	}
}

// TestInvalidUTF8 checks the documented behaviour: invalid bytes become
// U+FFFD, one per byte, before encoding.
func TestInvalidUTF8(t *testing.T) {
	in := "ok\xff\xfe \xea\xb0 end\x80"
	want := "ok\uFFFD\uFFFD \uFFFD\uFFFD end\uFFFD"
	for _, name := range []string{"llama-spm", "gpt-2", "llama-bpe", "bert-bge"} {
		tk := load(t, name)
		ids := tk.Encode(in, EncodeOptions{})
		if name == "bert-bge" {
			continue // WordPiece drops U+FFFD; it must just not panic
		}
		if got, _ := tk.Decode(ids, DecodeOptions{}); got != want {
			t.Errorf("%s: %q decodes to %q, want %q", name, in, got, want)
		}
	}
}

// roundTripVocabs are the byte-level and byte-fallback vocabularies, which
// give back any valid UTF-8 text.
var roundTripVocabs = []string{"llama-spm", "phi-3", "gpt-2", "starcoder", "deepseek-coder", "llama-bpe"}

// FuzzRoundTrip checks decode(encode(s)) == s for arbitrary text; invalid
// UTF-8 comes back with U+FFFD for each invalid byte. SentencePiece cannot
// tell "▁" from a space, so that character is left out for it, and a
// byte-level vocabulary can only give back bytes it has tokens for
// (StarCoder has none for 0xF1, the lead byte of the unassigned planes 4
// to 7).
func FuzzRoundTrip(f *testing.F) {
	for _, s := range trickyInputs {
		f.Add(s)
	}
	for _, s := range koreanSentences {
		f.Add(s)
	}
	f.Add("\xff\xfe invalid \xc3")
	f.Add("▁ not a space ▁▁")
	tks := make([]*Tokenizer, len(roundTripVocabs))
	for i, name := range roundTripVocabs {
		tks[i] = load(f, name)
	}
	bert := load(f, "bert-bge")
	f.Fuzz(func(t *testing.T, s string) {
		// WordPiece and special-token parsing must take anything too.
		if _, err := bert.Decode(bert.Encode(s, EncodeOptions{AddSpecial: true, ParseSpecial: true}), DecodeOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, tk := range tks {
			tk.Encode(s, EncodeOptions{ParseSpecial: true})
		}
		for i, tk := range tks {
			in := s
			if tk.model == modelSPM {
				in = strings.ReplaceAll(s, "▁", "")
			}
			want := sanitize(in)
			if tk.model == modelBPE && strings.IndexFunc(sanitize(in), func(r rune) bool {
				var b [4]byte
				for _, c := range b[:utf8.EncodeRune(b[:], r)] {
					if tk.byteTok[c] < 0 {
						return true
					}
				}
				return false
			}) >= 0 {
				continue
			}
			ids := tk.Encode(in, EncodeOptions{AddSpecial: true})
			got, err := tk.Decode(ids, DecodeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Fatalf("%s: %q (ids %v) decodes to %q", roundTripVocabs[i], in, ids, got)
			}
			// Streaming gives the same text in valid pieces.
			d := tk.NewDecoder(DecodeOptions{})
			var b strings.Builder
			for _, id := range ids {
				c, _ := d.Add(id)
				if !utf8.ValidString(c) {
					t.Fatalf("%s: invalid chunk %q", roundTripVocabs[i], c)
				}
				b.WriteString(c)
			}
			b.WriteString(d.Flush())
			if b.String() != got {
				t.Fatalf("%s: streamed %q, decoded %q", roundTripVocabs[i], b.String(), got)
			}
		}
	})
}

// TestBPEMergePaths checks that the short-word merge loop and the heap
// give the same tokens.
func TestBPEMergePaths(t *testing.T) {
	for _, name := range []string{"gpt-2", "llama-bpe"} {
		tk := load(t, name)
		st := tk.getState()
		words := append(strings.Fields(mixedText(1<<14)), trickyInputs...)
		for _, w := range words {
			w = sanitize(w)
			if w == "" || len(w) > smallWord {
				continue
			}
			small := tk.bpeMergeSmall(nil, w)
			heap := tk.bpeMergeHeap(st, nil, w)
			if !slices.Equal(small, heap) {
				t.Errorf("%s %q: small %v, heap %v", name, w, small, heap)
			}
		}
		tk.putState(st)
	}
}

func TestConcurrentEncode(t *testing.T) {
	tk := load(t, "llama-bpe")
	text := mixedText(1 << 15)
	want := tk.Encode(text, EncodeOptions{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 3 {
				if got := tk.Encode(text, EncodeOptions{}); !slices.Equal(got, want) {
					t.Error("concurrent Encode gave different ids")
				}
			}
		})
	}
	wg.Wait()
}

// writeVocab writes a vocab-only GGUF with the given metadata.
func writeVocab(t *testing.T, kvs ...gguf.KV) *gguf.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "v.gguf")
	if err := gguf.WriteFile(path, kvs, nil); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestMetadataErrors(t *testing.T) {
	tokens := gguf.NewKV(keyTokens, []string{"a", "b", "ab"})
	model := gguf.NewKV(keyModel, "gpt2")
	merges := gguf.NewKV(keyMerges, []string{"a b"})
	tests := []struct {
		name string
		kvs  []gguf.KV
		key  string
	}{
		{"no model", []gguf.KV{tokens}, keyModel},
		{"model not a string", []gguf.KV{gguf.NewKV(keyModel, uint32(1)), tokens}, keyModel},
		{"unknown model", []gguf.KV{gguf.NewKV(keyModel, "rwkv"), tokens}, keyModel},
		{"no tokens", []gguf.KV{model, merges}, keyTokens},
		{"tokens not strings", []gguf.KV{model, gguf.NewKV(keyTokens, []int32{1, 2}), merges}, keyTokens},
		{"no merges", []gguf.KV{model, tokens}, keyMerges},
		{"bad merge", []gguf.KV{model, tokens, gguf.NewKV(keyMerges, []string{"ab"})}, keyMerges},
		{"unknown pre", []gguf.KV{model, tokens, merges, gguf.NewKV(keyPre, "no-such-pre")}, keyPre},
		{"short scores", []gguf.KV{model, tokens, merges, gguf.NewKV(keyScores, []float32{1})}, keyScores},
		{"bad types", []gguf.KV{model, tokens, merges, gguf.NewKV(keyTypes, []int32{1, 1, 9})}, keyTypes},
		{"types not ints", []gguf.KV{model, tokens, merges, gguf.NewKV(keyTypes, []string{"x", "y", "z"})}, keyTypes},
		{"bos not int", []gguf.KV{model, tokens, merges, gguf.NewKV("tokenizer.ggml.bos_token_id", "1")}, "tokenizer.ggml.bos_token_id"},
		{"add_bos not bool", []gguf.KV{model, tokens, merges, gguf.NewKV(keyAddBOS, uint8(1))}, keyAddBOS},
		{"duplicate token", []gguf.KV{model, gguf.NewKV(keyTokens, []string{"a", "a"}), merges}, keyTokens},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := FromGGUF(writeVocab(t, tc.kvs...), Options{})
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.key) {
				t.Errorf("error %q does not name %s", err, tc.key)
			}
		})
	}

	f := writeVocab(t, model, tokens, merges, gguf.NewKV(keyPre, "no-such-pre"))
	if _, err := FromGGUF(f, Options{}); !errors.Is(err, ErrUnknownPre) || !strings.Contains(err.Error(), "no-such-pre") {
		t.Errorf("unknown pre: %v", err)
	}
	tk, err := FromGGUF(f, Options{AllowUnknownPre: true})
	if err != nil {
		t.Fatalf("AllowUnknownPre: %v", err)
	}
	if got := tk.Encode("ab a", EncodeOptions{}); !slices.Equal(got, []int32{2, 0}) {
		t.Errorf("toy vocabulary: %v", got) // " a" has no token: the space is dropped
	}
}
