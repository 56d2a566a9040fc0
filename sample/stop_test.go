package sample

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestStopMatcher(t *testing.T) {
	tests := []struct {
		name    string
		stops   []string
		chunks  []string
		want    []string // Feed's text, chunk by chunk
		stopAt  int      // index of the chunk that completes a stop, -1 for none
		matched string
		flush   string
	}{
		{"no stop", []string{"</s>"}, []string{"Hello", " world"},
			[]string{"Hello", " world"}, -1, "", ""},
		{"no stop strings", nil, []string{"a", "b"}, []string{"a", "b"}, -1, "", ""},
		{"stop inside a chunk", []string{"</s>"}, []string{"abc</s>def", "more"},
			[]string{"abc"}, 0, "</s>", ""},
		{"stop split across chunks", []string{"</s>"}, []string{"Hello <", "/s", "> more"},
			[]string{"Hello ", "", ""}, 2, "</s>", ""},
		{"partial match released", []string{"</s>"}, []string{"a <", "/x", "y"},
			[]string{"a ", "</x", "y"}, -1, "", ""},
		{"partial match held to the end", []string{"</s>"}, []string{"abc</"},
			[]string{"abc"}, -1, "", "</"},
		{"prefix reappears inside the tail", []string{"aab"}, []string{"aa", "a", "ab"},
			[]string{"", "a", "a"}, 2, "aab", ""},
		{"overlapping stops", []string{"abcd", "bce"}, []string{"xab", "c", "e"},
			[]string{"x", "", "a"}, 2, "bce", ""},
		{"first to complete wins", []string{"abc", "b"}, []string{"xabc"},
			[]string{"xa"}, 0, "b", ""},
		{"same end: the longer wins", []string{"bc", "abc"}, []string{"xabcz"},
			[]string{"x"}, 0, "abc", ""},
		{"stop at the very start", []string{"###"}, []string{"###x"},
			[]string{""}, 0, "###", ""},
		{"stop at the start, split", []string{"###"}, []string{"#", "##", "x"},
			[]string{"", ""}, 1, "###", ""},
		{"empty stop ignored", []string{"", "z"}, []string{"ab", "cz"},
			[]string{"ab", "c"}, 1, "z", ""},
		{"Korean stop", []string{"끝"}, []string{"안녕하세요 ", "끝", "입니다"},
			[]string{"안녕하세요 ", ""}, 1, "끝", ""},
		{"Korean stop split inside the character", []string{"끝"},
			[]string{"안녕\xeb", "\x81", "\x9d뒤"}, []string{"안녕", "", ""}, 2, "끝", ""},
		{"Korean near miss released", []string{"끝났다"}, []string{"이제 끝", "내요"},
			[]string{"이제 ", "끝내요"}, -1, "", ""},
		{"Korean multi-character stop split", []string{"사용자:"},
			[]string{"답변", "입니다.\n사", "용", "자:", " 다음"},
			[]string{"답변", "입니다.\n", "", ""}, 3, "사용자:", ""},
		{"incomplete UTF-8 held", nil, []string{"가\xea", "\xb0\x80나"},
			[]string{"가", "가나"}, -1, "", ""},
		{"incomplete UTF-8 flushed raw", nil, []string{"가\xea\xb0"},
			[]string{"가"}, -1, "", "\xea\xb0"},
		{"invalid bytes not held", nil, []string{"a\x80\x80"},
			[]string{"a\x80\x80"}, -1, "", ""},
		{"multiple stops, one matches", []string{"\n\n", "User:", "<|im_end|>"},
			[]string{"Sure.", "<|im", "_end", "|>", "junk"},
			[]string{"Sure.", "", "", ""}, 3, "<|im_end|>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewStopMatcher(tt.stops...)
			var got []string
			for i, ch := range tt.chunks {
				out, stop := m.Feed(ch)
				got = append(got, out)
				if stop != (tt.stopAt >= 0 && i >= tt.stopAt) {
					t.Fatalf("chunk %d: stop = %v", i, stop)
				}
				if stop && i > tt.stopAt {
					got = got[:len(got)-1] // after the stop: must be ""
					if out != "" {
						t.Fatalf("chunk %d after the stop: %q", i, out)
					}
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Feed gave %q, want %q", got, tt.want)
			}
			if m.Matched() != tt.matched || m.Stopped() != (tt.stopAt >= 0) {
				t.Fatalf("Matched() = %q, Stopped() = %v", m.Matched(), m.Stopped())
			}
			if f := m.Flush(); f != tt.flush {
				t.Fatalf("Flush() = %q, want %q", f, tt.flush)
			}
			if f := m.Flush(); f != "" {
				t.Fatalf("second Flush() = %q", f)
			}
			m.Reset()
			if m.Stopped() || m.Matched() != "" {
				t.Fatalf("Reset kept the stop")
			}
		})
	}
}

// refStop is the definition: the text up to the stop string that is complete first (the longest
// of those completing at the same byte), or all of it.
func refStop(text string, stops []string) (string, bool) {
	for e := 1; e <= len(text); e++ {
		best := ""
		for _, s := range stops {
			if s != "" && strings.HasSuffix(text[:e], s) && len(s) > len(best) {
				best = s
			}
		}
		if best != "" {
			return text[:e-len(best)], true
		}
	}
	return text, false
}

// TestStopMatcherChunking feeds random texts cut at random byte positions (inside Korean
// characters too) and checks that the result never depends on the cuts.
func TestStopMatcherChunking(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	pieces := []string{"a", "b", "<", "/", "s", ">", "끝", "났", "다", "사용자", ":", " ", "\n", "ab"}
	stopSets := [][]string{
		{"</s>"},
		{"끝났다", "\n\n"},
		{"ab", "bab", "b<"},
		{"사용자:", "끝", "a"},
		{"aaa", "aab"},
	}
	for iter := range 3000 {
		stops := stopSets[iter%len(stopSets)]
		var sb strings.Builder
		for range r.IntN(20) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		text := sb.String()
		want, wantStop := refStop(text, stops)

		m := NewStopMatcher(stops...)
		var got strings.Builder
		stopped := false
		for rest := text; len(rest) > 0 && !stopped; {
			n := 1 + r.IntN(min(len(rest), 6))
			out, stop := m.Feed(rest[:n])
			rest = rest[n:]
			if !utf8.ValidString(out) {
				t.Fatalf("%q cut badly: Feed released invalid UTF-8 %q", text, out)
			}
			got.WriteString(out)
			stopped = stop
		}
		got.WriteString(m.Flush())
		if got.String() != want || stopped != wantStop {
			t.Fatalf("stops %q, text %q: got %q (stop %v), want %q (stop %v)",
				stops, text, got.String(), stopped, want, wantStop)
		}
	}
}
