package tokenizer

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// A stage splits text into pieces: the matches of its pattern and, as
// pieces of their own, the runs of text between them (Hugging Face's
// "isolated" split behaviour, which llama.cpp follows too). An empty match
// only cuts the text where it is, as in llama.cpp.
type stage interface {
	// split appends to dst the end offsets of the pieces of s in order;
	// the last one is len(s). s is valid UTF-8 and not empty.
	split(s string, dst []int) []int
}

// regexStage is a stage run by the regex engine.
type regexStage struct {
	pattern string
	re      *regexp2.Regexp
}

func newRegexStage(pattern string) (*regexStage, error) {
	re, err := regexp2.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("pre-tokenizer pattern %q: %w", pattern, err)
	}
	return &regexStage{pattern: pattern, re: re}, nil
}

// split runs the pattern the way llama.cpp does, which first replaces every
// white-space character beyond ASCII with U+000B: to the pattern such a
// character is \v, whatever literal classes it names.
func (st *regexStage) split(s string, dst []int) []int {
	var matches [][]int
	var err error
	if strings.IndexFunc(s, wideSpace) < 0 {
		matches, err = st.re.FindAllStringIndex(s, -1)
	} else {
		rs := []rune(s)
		for i, r := range rs {
			if wideSpace(r) {
				rs[i] = '\v'
			}
		}
		matches, err = st.re.FindAllRunesIndex(rs, -1)
		runeToByte(s, matches)
	}
	if err != nil {
		// Only a match timeout can fail, and none is set.
		panic(fmt.Sprintf("tokenizer: pattern %q: %v", st.pattern, err))
	}
	prev := 0
	for _, m := range matches {
		if m[0] > prev {
			dst = append(dst, m[0])
		}
		if m[1] > m[0] {
			dst = append(dst, m[1])
		}
		prev = max(prev, m[1])
	}
	if prev < len(s) {
		dst = append(dst, len(s))
	}
	return dst
}

func wideSpace(r rune) bool { return r > unicode.MaxASCII && unicode.IsSpace(r) }

// runeToByte turns the rune offsets of matches in s, in increasing order,
// into byte offsets.
func runeToByte(s string, matches [][]int) {
	ri, bi := 0, 0
	for _, m := range matches {
		for k, target := range m {
			for ri < target {
				_, n := utf8.DecodeRuneInString(s[bi:])
				bi += n
				ri++
			}
			m[k] = bi
		}
	}
}

// preFamily is one pre-tokenizer definition: its patterns, applied in turn
// to every piece the previous one produced, and the flags that come with it.
type preFamily struct {
	patterns     []string
	ignoreMerges bool // a piece that is a whole vocabulary entry is used as is
	addBOS       bool // default for tokenizer.ggml.add_bos_token
	forceBOS     bool // BOS is added even when tokenizer.ggml.add_bos_token says no
	noBOS        bool // the family has no BOS token by default
	// raw vocabularies hold text as it is (SentencePiece-style, with
	// <0xXX> byte tokens) instead of GPT-2's byte characters, and BPE
	// merges characters, not bytes.
	raw          bool
	escapeSpaces bool // spaces become "▁" before anything else (raw only)
	// wholeNewlines uses a piece of newlines only as one token when the
	// vocabulary has it (Gemma 4).
	wholeNewlines bool
}

// Pieces of patterns shared by several families. contractions is the
// case-insensitive group of English contractions written out as classes.
const (
	contractions = `(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])`
	// llama3Head is Llama 3's pattern up to its white-space alternatives.
	llama3Head = contractions + `|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+`
	// o200kTail ends the o200k-style patterns (Tekken, GPT-4o and their
	// relatives).
	o200kTail = `| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// deepseekV3Words is the last stage of DeepSeek V3's pre-tokenizer.
	deepseekV3Words = "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\\r\\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
	// newlineRuns cuts text into runs of newlines and runs of the rest.
	newlineRuns = `[^\n]+|[\n]+`
)

// casedWords is the letter part of the o200k-style patterns the way
// llama.cpp runs them: an upper-case run then a lower-case one, or the
// reverse, where only ASCII letters have a case (every other letter, and
// with marks every mark, counts as both) and an optional contraction
// follows. letter is the class a cased character must belong to.
func casedWords(letter string, contraction bool) string {
	upper := `(?:(?=` + letter + `)[^a-z])`
	lower := `(?:(?=` + letter + `)[^A-Z])`
	c := ""
	if contraction {
		c = contractions + "?"
	}
	return `[^\r\n\p{L}\p{N}]?` + upper + `*` + lower + `+` + c +
		`|[^\r\n\p{L}\p{N}]?` + upper + `+` + lower + `*` + c
}

// caselessWords is the letter part of the o200k-style patterns that
// llama.cpp runs with the Unicode case classes (\p{Lu}, \p{Ll}, …): its
// pattern engine sees every letter as one class, so the upper- and
// lower-case runs of the original become one run of letters and marks.
const caselessWords = `[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+` + contractions + `?`

// Han characters as llama.cpp's Kimi K2 splitter knows them.
const hanClass = "[\u4E00-\u9FFF\u3400-\u4DBF\U00020000-\U0002A6DF\U0002A700-\U0002EBEF\uF900-\uFAFF\U0002F800-\U0002FA1F]"

// Patterns with characters beyond ASCII spell them as escapes: several
// (such as U+1F7D and U+212A) change under Unicode normalization, which
// editors and tools may apply to source text.
var (
	famDefault = preFamily{patterns: []string{
		`[\p{P}\$\+<=>\^~\|]+`,
		gpt2Pattern,
		`\p{N}+`,
		`[0-9][0-9][0-9]`,
	}}
	famGPT2      = preFamily{patterns: []string{gpt2Pattern}}
	famLlama3    = preFamily{patterns: []string{llama3Pattern}, ignoreMerges: true, addBOS: true}
	famLlama3Raw = preFamily{patterns: []string{llama3Pattern}}
	famQwen2     = preFamily{patterns: []string{qwen2Pattern}}
	famStarcoder = preFamily{patterns: []string{`\p{N}`, gpt2Pattern}}
	famFalcon    = preFamily{patterns: []string{
		"[\\p{P}\\$\\+<=>\\^~\\|`]+",
		gpt2Pattern,
		`[0-9][0-9][0-9]`,
	}}
	famDeepseekLLM = preFamily{patterns: []string{
		`[\r\n]`,
		"\\s?[A-Za-z\u00B5\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u01BA\u01BC-\u01BF\u01C4-\u0293\u0295-\u02AF\u0370-\u0373\u0376\u0377\u037B-\u037D\u037F\u0386\u0388-\u038A\u038C\u038E-\u03A1\u03A3-\u03F5\u03F7-\u0481\u048A-\u052F\u0531-\u0556\u10A0-\u10C5\u13A0-\u13F5\u13F8-\u13FD\u1C90-\u1CBA\u1CBD-\u1CBF\u1D00-\u1D2B\u1D6B-\u1D77\u1D79-\u1D9A\u1E00-\u1F15\u1F18-\u1F1D\u1F20-\u1F45\u1F48-\u1F4D\u1F50-\u1F57\u1F59\u1F5B\u1F5D\u1F5F-\u1F7D\u1F80-\u1FB4\u1FB6-\u1FBC\u1FBE\u1FC2-\u1FC4\u1FC6-\u1FCC\u1FD0-\u1FD3\u1FD6-\u1FDB\u1FE0-\u1FEC\u1FF2-\u1FF4\u1FF6-\u1FFC\u2102\u2107\u210A-\u2113\u2115\u2119-\u211D\u2124\u2126\u2128\u212A-\u212D\u212F-\u2134\u2139\u213C-\u213F\u2145-\u2149\u214E\u2183\u2184\u2C00-\u2C7B\u2C7E-\u2CE4\u2CEB-\u2CEE\u2CF2\u2CF3\uA640-\uA66D\uA680-\uA69B\uA722-\uA76F\uA771-\uA787\uA78B-\uA78E\uAB70-\uABBF\uFB00-\uFB06\uFB13-\uFB17\uFF21-\uFF3A\uFF41-\uFF5A\U00010400-\U0001044F\U000104B0-\U000104D3\U000104D8-\U000104FB\U00010C80-\U00010CB2\U00010CC0-\U00010CF2\U000118A0-\U000118DF\U0001E900-\U0001E943]+",
		"\\s?[!-/:-~\uFF01-\uFF0F\uFF1A-\uFF5E\u2018-\u201F\u3000-\u3002]+",
		`\s+$`,
		"[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+",
		`\p{N}+`,
	}}
	famDeepseekCoder = preFamily{patterns: []string{
		`[\r\n]`,
		`\s?\p{L}+`,
		`\s?\p{P}+`,
		"[\u4E00-\u9FA5\u0800-\u4E00\uAC00-\uD7FF]+",
		`\p{N}`,
	}}
	famDeepseekV3 = preFamily{patterns: []string{
		`\p{N}{1,3}`,
		"[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+",
		deepseekV3Words,
	}}
	// Tekken, o200k (GPT-4o) and their relatives, as llama.cpp adapts the
	// patterns of their tokenizer.json.
	famTekken = preFamily{patterns: []string{casedWords(`\p{L}`, false) + `|\p{N}` + o200kTail},
		ignoreMerges: true, addBOS: true}
	famGPT4o        = preFamily{patterns: []string{casedWords(`\p{L}`, true) + `|\p{N}{1,3}` + o200kTail}}
	famGraniteEmbed = preFamily{patterns: []string{casedWords(`[\p{L}\p{M}]`, true) + `|\p{N}{1,3}` + o200kTail}, ignoreMerges: true}
	famQwen35       = preFamily{patterns: []string{
		contractions + `|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	}}
	famSeedCoder = preFamily{patterns: []string{
		contractions + `|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}\r\n]+|\s*[\r\n]+|\s+(?!\S)|\s+`,
	}}
	famBloom  = preFamily{patterns: []string{" ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+"}}
	famViking = preFamily{patterns: []string{" ?[^(\\s|.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C)]+", `\p{N}`}}

	// Jais 2: Llama 3's pattern with white space taken in runs of powers
	// of two.
	famJais2 = preFamily{patterns: []string{llama3Head +
		`|\s{512}(?!\S)|\s{256}(?!\S)|\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}`}}
	famYoutu = preFamily{patterns: []string{
		"[\uAC00-\uD7A3\u3131-\u318E]+|[\uFF01\u2026\u201C\u201D\u2018\u2019\u2014\uFF1A\uFF1B\uFF0C\u3001-\u303F\uFE30-\uFE4F]+|[\u3105-\u312F]+|[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+",
		caselessWords + `|\p{N}` + o200kTail,
	}, ignoreMerges: true}
	// Cohere's Tiny Aya: numbers in groups of three from the right, which
	// llama.cpp cuts after the text before them (that text and the first
	// group make one piece), then o200k's pattern without case.
	famTinyAya = preFamily{patterns: []string{
		numberGroups,
		caselessWords + `|\p{N}{1,3}` + o200kTail,
	}}
	famExaoneMoE = preFamily{patterns: []string{
		contractions + `|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+`,
	}}
	famMiniCPM5 = preFamily{patterns: []string{
		`\p{N}{1,3}`,
		contractions + `|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	}, ignoreMerges: true}
	// Kimi K2: Han characters in runs of their own, then o200k's pattern
	// on letters without case and without marks (what llama.cpp's
	// hand-written splitter for it does).
	famKimiK2 = preFamily{patterns: []string{
		hanClass + `+|[^\r\n\p{L}\p{N}]?(?:(?!` + hanClass + `)\p{L})+` + contractions +
			`?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	}}
	// SuperBPE: runs of numbers, cut where a multiple of three ASCII
	// digits is left.
	famSuperBPE = preFamily{patterns: []string{`\p{N}+`, `(?=(?:[0-9]{3})+(?![0-9]))`}}
	famAFMoE    = preFamily{patterns: []string{
		numberGroups,
		"[\u4E00-\u9FFF\u3400-\u4DBF\u8C48-\uFAFF\u3040-\u309F\u30A0-\u30FF\uFF65-\uFF9F\u2F00-\u2FDF\u0E40-\u0E7F\u0E80-\u0EFF\u1780-\u17FF\u1000-\u109F\uAA60-\uAA7F\uA9E0-\uA9FF\uAC00-\uD7AF\u1100-\u11FF]+",
		deepseekV3Words,
	}}
	famLaguna    = preFamily{patterns: []string{newlineRuns, qwen2Pattern}}
	famChameleon = preFamily{patterns: []string{
		`<sentinel:[0-9]+>`,
		`(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z`,
		`([\t\n]|    |  )`,
		`\p{N}`,
		"[\\p{P}!-/:-@\\[-`{-~]",
		gpt2Pattern,
	}, addBOS: true}
	// Gemma 4 and Sarvam: SentencePiece-style vocabularies merged by rank,
	// on the whole text with spaces as "▁", cut only at newlines.
	famGemma4 = preFamily{patterns: []string{newlineRuns}, raw: true, escapeSpaces: true,
		wholeNewlines: true, addBOS: true, forceBOS: true}
	famSarvam = preFamily{patterns: []string{newlineRuns}, raw: true, escapeSpaces: true}
	// The text of jina-embeddings-v2-base-zh is cut at white space, the
	// white space kept as pieces of its own.
	famWhitespace = preFamily{patterns: []string{`\S+`}, raw: true}
)

// numberGroups cuts after every run of numbers and inside it where a
// multiple of three is left: where llama.cpp's splitter for AFMoE's and
// Tiny Aya's numbers ends its pieces. It only matches empty strings, which
// a stage takes as cuts.
const numberGroups = `(?<=\p{N})(?=(?:\p{N}{3})*(?!\p{N}))`

// preFamilies maps tokenizer.ggml.pre to its definition. The names are the
// ones llama.cpp's converter writes; several models share one definition.
var preFamilies = map[string]preFamily{
	"default": famDefault,

	"llama3": famLlama3, "llama-v3": famLlama3, "llama-bpe": famLlama3,
	"falcon3": famLlama3, "falcon-h1": famLlama3, "pixtral": famLlama3,
	"midm-2.0": famLlama3, "lfm2": famLlama3, "jina-v5-nano": famLlama3,

	"dbrx": famLlama3Raw, "smaug-bpe": famLlama3Raw,
	"chatglm-bpe": withNoBOS(famLlama3Raw), "glm4": withNoBOS(famLlama3Raw),

	"gpt-2": famGPT2, "phi-2": famGPT2, "mpt": famGPT2, "olmo": famGPT2,
	"jais": famGPT2, "trillion": famGPT2, "granite-docling": famGPT2,
	"jina-es": famGPT2, "jina-de": famGPT2, "jina-v2-es": famGPT2,
	"jina-v2-de": famGPT2, "jina-v1-en": famGPT2, "jina-v2-code": famGPT2,
	"roberta-bpe": famGPT2, "gigachat": famGPT2, "a.x-4.0": famGPT2,
	"mellum": famGPT2, "modern-bert": famGPT2, "exaone4": famGPT2,

	"starcoder": famStarcoder, "refact": famStarcoder, "command-r": famStarcoder,
	"smollm": famStarcoder, "codeshell": famStarcoder, "exaone": famStarcoder,
	"minerva-7b": famStarcoder, "mellum2": famStarcoder,

	"qwen2": famQwen2, "deepseek-r1-qwen": famQwen2, "stablelm2": famQwen2,
	"megrez": famQwen2, "hunyuan": famQwen2, "grok-2": famQwen2,
	"solar-open": famQwen2, "kormo": famQwen2, "f2llmv2": famQwen2,
	// llama.cpp's pattern for these differs from Qwen 2's only in ways
	// that match the same text: the contractions in another order, and
	// \s*[\r\n] for \s*[\r\n]+ (\s* takes all newlines but the last).
	"bailingmoe": famQwen2, "bailingmoe2": famQwen2, "llada-moe": famQwen2,

	"falcon":         famFalcon,
	"deepseek-llm":   famDeepseekLLM,
	"deepseek-coder": famDeepseekCoder,
	"deepseek-v3":    famDeepseekV3, "hunyuan-dense": famDeepseekV3, "joyai-llm": famDeepseekV3,
	"tekken": famTekken,
	"gpt-4o": famGPT4o, "llama4": famGPT4o, "minimax-m2": famGPT4o,
	"kanana2": famGPT4o, "talkie": famGPT4o,
	"granite-embed-multi-97m": famGraniteEmbed,
	"qwen35":                  famQwen35,
	"seed-coder":              famSeedCoder,
	"poro-chat":               famBloom, "bloom": famBloom, "gpt3-finnish": famBloom,
	"viking": famViking,

	"jais-2":   famJais2,
	"youtu":    famYoutu,
	"tiny_aya": famTinyAya, "cohere2moe": famTinyAya,
	"exaone-moe": famExaoneMoE,
	"minicpm5":   famMiniCPM5,
	"kimi-k2":    famKimiK2,
	"superbpe":   famSuperBPE,
	"afmoe":      famAFMoE,
	"laguna":     famLaguna,
	"chameleon":  famChameleon,
	"gemma4":     famGemma4, "granite-embed-multi-311m": famGemma4,
	"sarvam-moe": famSarvam,
	"whitespace": famWhitespace,
}

func withNoBOS(f preFamily) preFamily { f.noBOS = true; return f }

// pretokenizer splits text into the pieces byte-level BPE encodes one by one.
type pretokenizer struct {
	stages []stage
	// fast is the single hand-written stage of the common one-pattern
	// families, used without the offsets slice.
	fast nexter
}

// newPretokenizer compiles patterns. With regexOnly every stage uses the
// regex engine, which the tests use as the reference for the hand-written
// splitters.
func newPretokenizer(patterns []string, regexOnly bool) (*pretokenizer, error) {
	p := &pretokenizer{}
	for _, pat := range patterns {
		var st stage
		if !regexOnly {
			switch pat {
			case gpt2Pattern:
				st = gpt2Splitter{}
			case llama3Pattern:
				st = llama3Splitter{digits: 3}
			case qwen2Pattern:
				st = llama3Splitter{digits: 1}
			case `\p{N}`:
				st = digitSplitter{}
			}
		}
		if st == nil {
			rs, err := newRegexStage(pat)
			if err != nil {
				return nil, err
			}
			st = rs
		}
		p.stages = append(p.stages, st)
	}
	if len(p.stages) == 1 {
		if nx, ok := p.stages[0].(nexter); ok {
			p.fast = nx
		}
	}
	return p, nil
}

// appendSplit appends the pieces of s to dst; scratch holds one offsets
// slice per stage and is reused between calls.
func (p *pretokenizer) appendSplit(dst []string, s string) []string {
	var scratch [][]int
	p.each(s, &scratch, func(w string) { dst = append(dst, w) })
	return dst
}

// each calls fn for every piece of s, in order.
func (p *pretokenizer) each(s string, scratch *[][]int, fn func(string)) {
	if len(s) == 0 {
		return
	}
	if p.fast != nil {
		for i := 0; i < len(s); {
			j := p.fast.next(s, i)
			fn(s[i:j])
			i = j
		}
		return
	}
	if len(*scratch) < len(p.stages) {
		*scratch = make([][]int, len(p.stages))
	}
	p.level(s, 0, *scratch, fn)
}

func (p *pretokenizer) level(s string, lvl int, scratch [][]int, fn func(string)) {
	if lvl == len(p.stages) {
		fn(s)
		return
	}
	ends := p.stages[lvl].split(s, scratch[lvl][:0])
	scratch[lvl] = ends
	prev := 0
	for i := 0; i < len(ends); i++ {
		// Deeper levels may grow scratch[lvl+1:], never scratch[lvl].
		e := ends[i]
		p.level(s[prev:e], lvl+1, scratch, fn)
		prev = e
	}
}
