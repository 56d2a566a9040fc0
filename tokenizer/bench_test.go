package tokenizer

import (
	"sync"
	"testing"
)

// BenchmarkEncodeLlama3 encodes 1 MB of mixed Korean and English news text
// with the Llama 3 vocabulary. Run it on one core:
//
//	go test ./tokenizer/ -run '^$' -bench EncodeLlama3 -cpu 1
//
// "warm" is the steady state, with the word cache filled by earlier
// calls; "fresh" starts every call with an empty cache; "nocache" has the
// cache turned off; "regex" is warm but splits with the regex engine
// instead of the hand-written splitter.
func BenchmarkEncodeLlama3(b *testing.B) {
	tk := load(b, "llama-bpe")
	text := mixedText(1 << 20)
	run := func(b *testing.B, tk *Tokenizer, reset bool) {
		b.SetBytes(int64(len(text)))
		ids := tk.Encode(text, EncodeOptions{})
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if reset {
				st := tk.getState()
				clear(st.cache)
				st.arena = st.arena[:0]
				tk.putState(st)
			}
			ids = tk.AppendEncode(ids[:0], text, EncodeOptions{})
		}
		b.ReportMetric(float64(len(ids)), "tokens/op")
	}
	b.Run("warm", func(b *testing.B) { run(b, tk, false) })
	b.Run("fresh", func(b *testing.B) { run(b, tk, true) })
	b.Run("nocache", func(b *testing.B) {
		cold := *tk
		cold.cacheSize = -1
		cold.states = &sync.Pool{}
		run(b, &cold, false)
	})
	b.Run("regex", func(b *testing.B) {
		re := *tk
		re.states = &sync.Pool{}
		p, err := newPretokenizer(famLlama3.patterns, true)
		if err != nil {
			b.Fatal(err)
		}
		re.pretok = p
		run(b, &re, false)
	})
}
