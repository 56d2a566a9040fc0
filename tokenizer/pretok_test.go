package tokenizer

import (
	"slices"
	"strings"
	"testing"
)

// listedPres are the pre-tokenizers the project promises: all of
// llama.cpp's.
var listedPres = llamaCppPres

// trickyInputs exercise the corners of the patterns.
var trickyInputs = []string{
	"", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\t\n", " \n", "\n ", "a ", " a", "  a", "a  ",
	"I'm sure you'RE right, don't they'll we'VE 'D 's ''s '' 'x",
	"y'all! How are you?", "Don'T", "'Tis", "it's", "IT'S", "isn’t",
	"1 12 123 1234 12345 123456", "3.14159", "v1.2.3", "+82-10-1234-5678", "x2y22z333",
	"room  1024,   56\t\t7", "a\n\n 12 ",
	"①②③ ٣٤٥ ३४५ Ⅻ ½", "٣٤٥٦٧",
	"我想在apple工作1314151天～", "日本語のテキスト、カタカナ。", "東京タワー",
	"서울시는 올해 하반기부터 28일 밝혔다.", "가나다라마바사 아자차카타파하",
	"🚀 (normal) 😶‍🌫️ (multiple emojis concatenated) ✅ 🦙🦙", "👍🏽👨‍👩‍👧",
	"a  b   c    d", "  lead", "trail  ", "\t\t", "x \t y", "x\t\ty", " \t x",
	"a\n\nb", "a\r\n\r\nb", " \n \n x", "!!\n\n", "!!\r\n x", "...\n\n\n", "/\n/",
	"\n\n\n\n", "\n \n\n \n \n\n\n \t \t\t \t\n  \n   \n    \n     \n",
	"    Hello\n    Hello", " (", "\n =", "' era", "Hello, world!", " this is 🦙.cpp",
	"Cửa Việt", "Fühler", "нещо на Български", "कांग्रेस नेता", "مرحبا بالعالم", "ثلاثة ١٢٣",
	"កាន់តែពិសេសអាចខលចេញ", "ied 4 ½ months", "w048 7tuijk dsdfhu",
	"------======= ''''''```````\"\"\"\"......!!!!!!??????",
	"CamelCaseWord HTTPServer iPhone McDonald'S", "ǅungla ǈudevit", "ＦＵＬＬ　ｗｉｄｔｈ！",
	"\u00a0nbsp\u00a0 \u2003em\u3000ideo\u2028line\u0085nel", "zero\u200bwidth", "tab\vvt\ffeed",
	"a/b//c", "<|endoftext|>", "<s>[INST]", "e\u0301 n\u0303", "ß ẞ ﬁ",
	"\ufffd", "x\x00y", "😀😀😀 ' 😀",
}

// TestSplittersMatchRegex checks that every pre-tokenizer gives on the
// tricky inputs exactly the pieces of its patterns run by the regex engine,
// and that the pieces add up to the input.
func TestSplittersMatchRegex(t *testing.T) {
	for _, name := range listedPres {
		t.Run(name, func(t *testing.T) {
			fam, ok := preFamilies[name]
			if !ok {
				t.Fatalf("pre %q is not defined", name)
			}
			fast, err := newPretokenizer(fam.patterns, false)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := newPretokenizer(fam.patterns, true)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range trickyInputs {
				got := fast.appendSplit(nil, s)
				want := ref.appendSplit(nil, s)
				if !slices.Equal(got, want) {
					t.Errorf("%q:\n got  %q\n want %q", s, got, want)
				}
				if strings.Join(got, "") != s {
					t.Errorf("%q: pieces %q do not add up to the input", s, got)
				}
			}
		})
	}
}

// TestSplitterExpectations pins down pieces derived by hand from the
// pattern definitions, checking the regex engine and the hand-written
// splitters alike.
func TestSplitterExpectations(t *testing.T) {
	tests := []struct {
		pre  string
		in   string
		want []string
	}{
		{"gpt-2", "Hello, y'all! 12345", []string{"Hello", ",", " y", "'", "all", "!", " 12345"}},
		{"gpt-2", "I'm   here\n\n", []string{"I", "'m", "  ", " here", "\n\n"}},
		{"gpt-2", "don'T", []string{"don", "'", "T"}},
		{"gpt-2", "\tHello \t x", []string{"\t", "Hello", " \t", " x"}},
		{"llama-bpe", "Hello, y'all! 12345", []string{"Hello", ",", " y", "'all", "!", " ", "123", "45"}},
		{"llama-bpe", "don'T I'M", []string{"don", "'T", " I", "'M"}},
		{"llama-bpe", "!!\n\n x\n  \n  y", []string{"!!\n\n", " x", "\n  \n", " ", " y"}},
		{"llama-bpe", "\tHello (x)", []string{"\tHello", " (", "x", ")"}},
		{"llama-bpe", "   ", []string{"   "}},
		{"qwen2", "a 12345b", []string{"a", " ", "1", "2", "3", "4", "5", "b"}},
		{"starcoder", "x 2024 y", []string{"x", " ", "2", "0", "2", "4", " y"}},
		{"deepseek-coder", "Hello 세계\n42!", []string{"Hello", " ", "세계", "\n", "4", "2", "!"}},
		{"default", "a+b=3456", []string{"a", "+", "b", "=", "345", "6"}},
		// An empty match cuts: SuperBPE's digits in threes from the right.
		{"superbpe", "a 1234567 b", []string{"a ", "1", "234", "567", " b"}},
		// llama.cpp's number splitter for Tiny Aya ends the text before a
		// number with the number's first group: "a  1" is one piece for
		// the second pattern, which backs off one space.
		{"tiny_aya", "a  1 x 2024", []string{"a", " ", " ", "1", " x", " ", "2", "024"}},
		// White space beyond ASCII is \v to llama.cpp's patterns, outside
		// DeepSeek's CJK class (U+0800 to U+4E00) though U+3000 is in it.
		{"deepseek-llm", "em\u3000ideo", []string{"em", "\u3000ideo"}},
		{"kimi-k2", "東京タワー abc123456", []string{"東京", "タワー", " abc", "123", "456"}},
		{"exaone-moe", "Hello world, 세계 평화!", []string{"Hello world", ",", " 세계 평화", "!"}},
		{"jais-2", "a      b", []string{"a", "    ", " ", " b"}},
		{"laguna", "!!\n\n x", []string{"!!", "\n\n", " x"}},
		{"chameleon", "a  b\t1,x", []string{"a", "  ", "b", "\t", "1", ",", "x"}},
		{"gemma4", "a b\n\nc", []string{"a b", "\n\n", "c"}},
		{"whitespace", "a b\u3000 c", []string{"a", " ", "b", "\u3000 ", "c"}},
	}
	for _, tc := range tests {
		for _, regexOnly := range []bool{false, true} {
			p, err := newPretokenizer(preFamilies[tc.pre].patterns, regexOnly)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.appendSplit(nil, tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("%s (regex only %v) %q:\n got  %q\n want %q", tc.pre, regexOnly, tc.in, got, tc.want)
			}
		}
	}
}

// FuzzSplitters compares the hand-written splitters with the regex engine
// on arbitrary text, stage by stage and for every listed pre-tokenizer.
func FuzzSplitters(f *testing.F) {
	for _, s := range trickyInputs {
		f.Add(s)
	}
	stages := map[string]nexter{
		gpt2Pattern:   gpt2Splitter{},
		llama3Pattern: llama3Splitter{digits: 3},
		qwen2Pattern:  llama3Splitter{digits: 1},
		`\p{N}`:       digitSplitter{},
	}
	refs := map[string]*regexStage{}
	for pat := range stages {
		rs, err := newRegexStage(pat)
		if err != nil {
			f.Fatal(err)
		}
		refs[pat] = rs
	}
	type pair struct{ fast, ref *pretokenizer }
	var pipes []pair
	for _, name := range listedPres {
		fast, err1 := newPretokenizer(preFamilies[name].patterns, false)
		ref, err2 := newPretokenizer(preFamilies[name].patterns, true)
		if err1 != nil || err2 != nil {
			f.Fatal(err1, err2)
		}
		pipes = append(pipes, pair{fast, ref})
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = sanitize(s)
		if s == "" {
			return
		}
		for pat, sp := range stages {
			got := splitAll(sp, s, nil)
			want := refs[pat].split(s, nil)
			if !slices.Equal(got, want) {
				t.Fatalf("pattern %s on %q:\n got  %v\n want %v", pat, s, got, want)
			}
		}
		for i, p := range pipes {
			got, want := p.fast.appendSplit(nil, s), p.ref.appendSplit(nil, s)
			if !slices.Equal(got, want) {
				t.Fatalf("pre %s on %q:\n got  %q\n want %q", listedPres[i], s, got, want)
			}
		}
	})
}
