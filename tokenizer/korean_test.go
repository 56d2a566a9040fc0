package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// koreanSentences are news-style sentences written for these tests.
var koreanSentences = []string{
	"서울시는 올해 하반기부터 대중교통 요금 체계를 전면 개편하겠다고 28일 밝혔다.",
	"한국은행은 기준금리를 연 3.25%로 동결하고 물가 흐름을 좀 더 지켜보기로 했다.",
	"기상청에 따르면 이번 주말 남부 지방을 중심으로 최대 120mm의 많은 비가 내릴 전망이다.",
	"정부는 반도체 산업 경쟁력 강화를 위해 향후 5년간 총 26조 원을 투입할 계획이다.",
	"국내 연구진이 상온에서 작동하는 새로운 배터리 소재를 개발해 국제 학술지에 발표했다.",
	"전문가들은 인공지능 기술이 일자리 구조에 미칠 영향을 면밀히 분석해야 한다고 지적했다.",
	"지난달 수출은 전년 같은 기간보다 7.4% 늘어나 석 달 연속 증가세를 이어갔다.",
	"부산 해운대 해수욕장에는 주말 동안 약 30만 명의 피서객이 몰린 것으로 집계됐다.",
	"교육부는 내년부터 초등학교 정보 교과 수업 시간을 두 배로 늘리는 방안을 추진한다.",
	"경찰은 사고 원인을 파악하기 위해 현장 주변 폐쇄회로(CCTV) 영상을 확보해 분석 중이다.",
	"문화체육관광부는 한글날을 맞아 다양한 기념행사를 전국 곳곳에서 연다고 밝혔다.",
	"\"시장 상황을 예의 주시하고 있다\"며 필요하면 추가 대책을 내놓겠다고 덧붙였다.",
}

// englishSentences are the English half of the benchmark text.
var englishSentences = []string{
	"The central bank kept its benchmark rate unchanged on Thursday, citing stubborn inflation.",
	"Officials said the new subway line will open to passengers early next year.",
	"Researchers published their findings in an international journal last week.",
	"Exports rose from a year earlier, the third straight monthly gain.",
	"\"We're not done yet,\" the minister told reporters after the meeting.",
	"Heavy rain is expected across the southern region this weekend, forecasters said.",
	"The company's shares closed higher after it beat analysts' estimates.",
	"Local governments will spend more on childcare and public housing, the plan shows.",
	"It's the largest investment in the industry's history, according to the ministry.",
	"Police are reviewing CCTV footage to determine the cause of the accident.",
}

// mixedText returns about n bytes of paragraphs of Korean and English news
// sentences with varying figures, the same for every call.
func mixedText(n int) string {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.Grow(n + 512)
	for b.Len() < n {
		for range 3 + rng.IntN(4) {
			if rng.IntN(2) == 0 {
				b.WriteString(koreanSentences[rng.IntN(len(koreanSentences))])
			} else {
				b.WriteString(englishSentences[rng.IntN(len(englishSentences))])
			}
			switch rng.IntN(4) {
			case 0:
				fmt.Fprintf(&b, " (%d.%d%%, %d건)", rng.IntN(100), rng.IntN(10), rng.IntN(100000))
			case 1:
				fmt.Fprintf(&b, " %d-%02d-%02d", 2000+rng.IntN(30), 1+rng.IntN(12), 1+rng.IntN(28))
			}
			b.WriteByte(' ')
		}
		b.WriteString("\n\n")
	}
	return b.String()
}

// TestKorean sends Korean sentences through every shared vocabulary: the
// byte-level and byte-fallback ones must give the text back exactly, and a
// streaming decoder fed one id at a time must give valid UTF-8 chunks that
// add up to the full decode. WordPiece normalizes (Hangul syllables are
// decomposed into jamo by BERT's accent stripping), so for it the ids must
// not be all [UNK] and the decoded text, recomposed, must be the lower-cased
// sentence with BERT's spacing.
func TestKorean(t *testing.T) {
	text := strings.Join(koreanSentences, "\n")
	for _, name := range vocabs {
		t.Run(name, func(t *testing.T) {
			tk := load(t, name)
			for _, s := range append(koreanSentences, text) {
				ids := tk.Encode(s, EncodeOptions{AddSpecial: true})
				full, err := tk.Decode(ids, DecodeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if name == "bert-bge" {
					checkBert(t, tk, s, ids, full)
				} else if full != s {
					t.Errorf("round trip:\n got  %q\n want %q", full, s)
				}
				d := tk.NewDecoder(DecodeOptions{})
				var cat strings.Builder
				for _, id := range ids {
					chunk, err := d.Add(id)
					if err != nil {
						t.Fatal(err)
					}
					if !utf8.ValidString(chunk) {
						t.Fatalf("chunk %q is not valid UTF-8", chunk)
					}
					cat.WriteString(chunk)
				}
				if rest := d.Flush(); rest != "" {
					t.Errorf("Flush returned %q after whole characters", rest)
				}
				if cat.String() != full {
					t.Errorf("streamed %q, decoded %q", cat.String(), full)
				}
			}
		})
	}
}

func checkBert(t *testing.T, tk *Tokenizer, s string, ids []int32, full string) {
	t.Helper()
	unk := 0
	for _, id := range ids {
		if id == tk.UNK() {
			unk++
		}
	}
	if unk > len(ids)/4 {
		t.Errorf("%q: %d of %d ids are [UNK]", s, unk, len(ids))
	}
	// The same text, normalized as BERT does: lower case, punctuation
	// and words separated by single spaces.
	var want []string
	var word strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == ' ' || r == '\n':
			if word.Len() > 0 {
				want = append(want, word.String())
				word.Reset()
			}
		case isBertPunct(r):
			if word.Len() > 0 {
				want = append(want, word.String())
				word.Reset()
			}
			want = append(want, string(r))
		default:
			word.WriteRune(r)
		}
	}
	if word.Len() > 0 {
		want = append(want, word.String())
	}
	got := norm.NFC.String(full)
	if unk == 0 && got != strings.Join(want, " ") {
		t.Errorf("WordPiece decode of %q:\n got  %q\n want %q", s, got, strings.Join(want, " "))
	}
}

// TestStreamingByteFallback checks that byte tokens of a character are held
// until the character is complete.
func TestStreamingByteFallback(t *testing.T) {
	tk := load(t, "llama-spm")
	ids := []int32{tk.BOS(), tk.byteTok[0xEA], tk.byteTok[0xB0], tk.byteTok[0x80]}
	d := tk.NewDecoder(DecodeOptions{})
	var chunks []string
	for _, id := range ids {
		s, err := d.Add(id)
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, s)
	}
	if want := []string{"", "", "", "가"}; strings.Join(chunks, "|") != strings.Join(want, "|") {
		t.Errorf("chunks %q, want %q", chunks, want)
	}
	// An incomplete character at the end comes out as U+FFFD per byte.
	d.Reset()
	for _, id := range ids[:3] {
		if s, _ := d.Add(id); s != "" {
			t.Errorf("chunk %q before the character is complete", s)
		}
	}
	if s := d.Flush(); s != "\uFFFD\uFFFD" {
		t.Errorf("Flush = %q, want two U+FFFD", s)
	}
	// A stray continuation byte cannot be completed and is not held.
	d.Reset()
	if s, _ := d.Add(tk.byteTok[0x80]); s != "\uFFFD" {
		t.Errorf("stray continuation byte gave %q", s)
	}
}
