package engine_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ondo-ai/ondo/engine"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/sample"
	"github.com/ondo-ai/ondo/tokenizer"
)

// BenchmarkThroughput measures aggregate generation speed (tokens/s, all
// streams together) with 1, 4 and 8 concurrent greedy streams, each a
// short prompt and 32 new tokens, on the tiny synthetic model and on the
// 1B-shaped Q4_0 one when present: ONDO_BENCH_1B, or $TMPDIR/1b-q4_0.gguf,
// made with
//
//	go run ./cmd/ondo dev synth --preset llama-3.2-1b --type Q4_0 --out /tmp/1b-q4_0.gguf
//
// Run with -benchtime=1x -count=N: the stream counts then alternate, which
// keeps their ratios meaningful on a noisy machine.
func BenchmarkThroughput(b *testing.B) {
	for _, bm := range benchModels(b) {
		for _, streams := range []int{1, 4, 8} {
			b.Run(fmt.Sprintf("%s/streams=%d", bm.name, streams), func(b *testing.B) {
				benchStreams(b, bm.m, bm.tok, streams, 32)
			})
		}
	}
}

// BenchmarkTimeToFirst measures the time to the first token of a request
// whose 1,005-token prompt is new (cold) and of one that shares its first
// 1,000 tokens with an earlier request (warm: prefix reuse evaluates the
// other 5), as TestPrefixReuse does, on each bench model.
func BenchmarkTimeToFirst(b *testing.B) {
	const prefix = 1000
	for _, bm := range benchModels(b) {
		b.Run(bm.name, func(b *testing.B) {
			e := newEngine(b, bm.m, bm.tok, engine.Config{Parallel: 1, Context: 1100})
			rng := rand.New(rand.NewPCG(7, 7))
			randomTokens := func(n int) []int32 {
				p := make([]int32, n)
				for i := range p {
					p[i] = int32(3 + rng.IntN(bm.tok.VocabSize()-3))
				}
				return p
			}
			var cold, warm time.Duration
			for b.Loop() {
				shared := randomTokens(prefix)
				a := run(b, e, engine.Request{Prompt: slices.Concat(shared, randomTokens(5)), MaxTokens: 1})
				w := run(b, e, engine.Request{Prompt: slices.Concat(shared, randomTokens(5)), MaxTokens: 1})
				if w.final.Result.CachedTokens != prefix {
					b.Fatalf("second request reused %d tokens, want %d", w.final.Result.CachedTokens, prefix)
				}
				cold += a.final.Result.TimeToFirst
				warm += w.final.Result.TimeToFirst
			}
			b.ReportMetric(cold.Seconds()*1e3/float64(b.N), "cold-ms")
			b.ReportMetric(warm.Seconds()*1e3/float64(b.N), "warm-ms")
			b.ReportMetric(float64(cold)/float64(warm), "×")
		})
	}
}

// BenchmarkDecodeStep is BenchmarkThroughput's lower bound without the
// engine: one Forward call with the next token of n sequences, each in its
// own cache, as a decoding step builds it. The ratio of its tokens/s at n
// streams to one stream is the most batching can give on these kernels.
func BenchmarkDecodeStep(b *testing.B) {
	ctx := context.Background()
	for _, bm := range benchModels(b) {
		vocab := bm.m.Info().VocabSize
		logits := make([]float32, 8*vocab)
		caches := make([]*kvcache.Cache, 8)
		for i := range caches {
			c, err := bm.m.NewCache(64, true)
			if err != nil {
				b.Fatal(err)
			}
			prompt := []int32{bm.tok.BOS(), 5, 6, 7, 8, 9, 10, 11}
			if err := bm.m.Forward(ctx, model.SeqBatch(c, prompt, 0, false), logits); err != nil {
				b.Fatal(err)
			}
			caches[i] = c
		}
		for _, n := range []int{1, 4, 8} {
			b.Run(fmt.Sprintf("%s/streams=%d", bm.name, n), func(b *testing.B) {
				batch := &model.Batch{Caches: caches[:n]}
				for i := range n {
					batch.Tokens = append(batch.Tokens, int32(100+i))
					batch.Pos = append(batch.Pos, 8) // rewinds and refills position 8
					batch.Seq = append(batch.Seq, i)
					batch.Logits = append(batch.Logits, true)
				}
				for b.Loop() {
					if err := bm.m.Forward(ctx, batch, logits); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
			})
		}
	}
}

type benchModel struct {
	name string
	m    model.Model
	tok  *tokenizer.Tokenizer
}

// benchModels loads the tiny synthetic model and, when present, the
// 1B-shaped Q4_0 one.
func benchModels(b *testing.B) []benchModel {
	paths := [][2]string{{"tiny", synthTiny(b, 512, "")}}
	big := os.Getenv("ONDO_BENCH_1B")
	if big == "" {
		big = filepath.Join(os.TempDir(), "1b-q4_0.gguf")
	}
	if _, err := os.Stat(big); err == nil {
		paths = append(paths, [2]string{"1b-q4_0", big})
	}
	var out []benchModel
	for _, p := range paths {
		m, tok := open(b, p[1], 0)
		out = append(out, benchModel{p[0], m, tok})
	}
	return out
}

func benchStreams(b *testing.B, m model.Model, tok *tokenizer.Tokenizer, streams, maxTokens int) {
	e := newEngine(b, m, tok, engine.Config{Parallel: streams, Context: 256})
	rng := rand.New(rand.NewPCG(1, 2))
	reqs := make([]engine.Request, streams)
	for i := range reqs {
		p := []int32{tok.BOS()}
		for range 7 {
			p = append(p, int32(3+rng.IntN(tok.VocabSize()-3)))
		}
		// Ban the end-of-generation tokens so that every stream runs to
		// maxTokens.
		bias := map[int32]float32{}
		for _, id := range tok.EOGs() {
			bias[id] = float32(math.Inf(-1))
		}
		reqs[i] = engine.Request{Prompt: p, MaxTokens: maxTokens, Sampling: sample.Config{LogitBias: bias}}
	}
	// tokens/s counts the whole run, prompts included; gen-tokens/s only
	// the tokens after each stream's first, over the time from the first
	// stream's first token to the last stream's end.
	var tokens, genTokens int
	var genTime time.Duration
	for b.Loop() {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var results []*engine.Result
		for _, r := range reqs {
			ch, err := e.Submit(context.Background(), r)
			if err != nil {
				b.Fatal(err)
			}
			wg.Go(func() {
				o := read(b, ch)
				mu.Lock()
				results = append(results, o.final.Result)
				mu.Unlock()
			})
		}
		wg.Wait()
		first, end := time.Duration(math.MaxInt64), time.Duration(0)
		for _, r := range results {
			tokens += r.CompletionTokens
			genTokens += r.CompletionTokens - 1
			first = min(first, r.TimeToFirst)
			end = max(end, r.TimeToFirst+r.GenDuration)
		}
		genTime += end - first
	}
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
	b.ReportMetric(float64(genTokens)/genTime.Seconds(), "gen-tokens/s")
}
