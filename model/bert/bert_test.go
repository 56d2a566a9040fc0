package bert_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/tinygguf"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/bert"
	"github.com/ondo-ai/ondo/quant"
)

// tiny is a small random encoder built in the test, with a float64
// forward pass from the definitions to check the engine against.
type tiny struct {
	arch string
	*tinygguf.Model

	dim, heads, hd, ffn, layers, vocab, ctx int
	eps                                     float64
	base                                    float64 // nomic-bert's rope.freq_base
}

func newTiny(arch string, seed uint64) *tiny {
	t := &tiny{arch: arch, Model: tinygguf.New()}
	t.dim, t.heads, t.ffn, t.layers, t.vocab, t.ctx = 16, 4, 24, 2, 40, 32
	t.hd, t.eps, t.base = t.dim/t.heads, 1e-12, 1000
	a := arch + "."
	t.Set("general.architecture", arch)
	t.Set(a+"context_length", uint32(t.ctx))
	t.Set(a+"embedding_length", uint32(t.dim))
	t.Set(a+"feed_forward_length", uint32(t.ffn))
	t.Set(a+"block_count", uint32(t.layers))
	t.Set(a+"attention.head_count", uint32(t.heads))
	t.Set(a+"attention.layer_norm_epsilon", float32(t.eps))
	t.Set(a+"attention.causal", false)
	t.Set(a+"pooling_type", uint32(1))
	if arch == "nomic-bert" {
		t.Set(a+"rope.freq_base", float32(t.base))
	}
	t.Set("tokenizer.ggml.token_type_count", uint32(2))
	r := rand.New(rand.NewPCG(seed, 1))
	add := func(name string, center, scale float64, shape ...int64) {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(center + r.NormFloat64()*scale)
		}
		t.AddTensor(name, w, shape...)
	}
	d, ff := int64(t.dim), int64(t.ffn)
	layerNorm := func(name string) {
		add(name+".weight", 1, 0.1, d)
		add(name+".bias", 0, 0.1, d)
	}
	add("token_embd.weight", 0, 1, d, int64(t.vocab))
	add("token_types.weight", 0, 0.5, d, 2)
	if arch == "bert" {
		add("position_embd.weight", 0, 0.5, d, int64(t.ctx))
	}
	layerNorm("token_embd_norm")
	for l := 0; l < t.layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		if arch == "nomic-bert" {
			add(p+"attn_qkv.weight", 0, 0.4, d, 3*d)
		} else {
			for _, n := range []string{"attn_q", "attn_k", "attn_v"} {
				add(p+n+".weight", 0, 0.4, d, d)
				add(p+n+".bias", 0, 0.1, d)
			}
		}
		add(p+"attn_output.weight", 0, 0.3, d, d)
		add(p+"attn_output.bias", 0, 0.1, d)
		layerNorm(p + "attn_output_norm")
		add(p+"ffn_up.weight", 0, 0.4, d, ff)
		add(p+"ffn_down.weight", 0, 0.3, ff, d)
		if arch == "nomic-bert" {
			add(p+"ffn_gate.weight", 0, 0.4, d, ff)
		} else {
			add(p+"ffn_up.bias", 0, 0.1, ff)
			add(p+"ffn_down.bias", 0, 0.1, d)
		}
		layerNorm(p + "layer_output_norm")
	}
	return t
}

func (t *tiny) open(tb testing.TB) (model.Model, error) {
	tb.Helper()
	path := t.Write(tb)
	f, err := gguf.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	m, err := model.Load(f, model.Config{Threads: 2})
	if err == nil {
		tb.Cleanup(func() { m.Close() })
	}
	return m, err
}

// geluRef is the function llama.cpp's CPU backend computes for GELU: the
// tanh approximation of the input rounded to fp16, rounded to fp16.
func geluRef(x float64) float64 {
	switch {
	case x <= -10:
		return 0
	case x >= 10:
		return x
	}
	h := func(v float64) float64 { return float64(quant.FP16ToFloat32(quant.Float32ToFP16(float32(v)))) }
	x = h(x)
	return h(0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*x*(1+0.044715*x*x))))
}

// reference encodes tokens in float64 and returns the last layer's output,
// one row per token.
func (t *tiny) reference(tokens []int32) [][]float64 {
	w := func(name string) []float32 { return t.Weights[name] }
	linear := func(name string, x []float64, bias bool) []float64 {
		m := w(name + ".weight")
		cols := int(t.Shapes[name+".weight"][0])
		out := make([]float64, len(m)/cols)
		for r := range out {
			for c := 0; c < cols; c++ {
				out[r] += float64(m[r*cols+c]) * x[c]
			}
			if b, ok := t.Weights[name+".bias"]; ok && bias {
				out[r] += float64(b[r])
			}
		}
		return out
	}
	layerNorm := func(x []float64, name string) []float64 {
		mean, v := 0.0, 0.0
		for _, e := range x {
			mean += e
		}
		mean /= float64(len(x))
		for _, e := range x {
			v += (e - mean) * (e - mean)
		}
		v /= float64(len(x))
		out := make([]float64, len(x))
		for i, e := range x {
			out[i] = (e-mean)/math.Sqrt(v+t.eps)*float64(w(name + ".weight")[i]) + float64(w(name + ".bias")[i])
		}
		return out
	}
	rotate := func(x []float64, pos int) { // NeoX halves
		for h := 0; h < t.heads; h++ {
			for i := 0; i < t.hd/2; i++ {
				th := float64(pos) * math.Pow(t.base, -2*float64(i)/float64(t.hd))
				a, b := x[h*t.hd+i], x[h*t.hd+i+t.hd/2]
				x[h*t.hd+i], x[h*t.hd+i+t.hd/2] = a*math.Cos(th)-b*math.Sin(th), a*math.Sin(th)+b*math.Cos(th)
			}
		}
	}
	n, d := len(tokens), t.dim
	x := make([][]float64, n)
	for i, tok := range tokens {
		x[i] = make([]float64, d)
		for j := range x[i] {
			x[i][j] = float64(w("token_embd.weight")[int(tok)*d+j]) + float64(w("token_types.weight")[j])
			if t.arch == "bert" {
				x[i][j] += float64(w("position_embd.weight")[i*d+j])
			}
		}
		x[i] = layerNorm(x[i], "token_embd_norm")
	}
	for l := 0; l < t.layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		q, k, v := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for i := range x {
			if t.arch == "nomic-bert" {
				qkv := linear(p+"attn_qkv", x[i], false)
				q[i], k[i], v[i] = qkv[:d], qkv[d:2*d], qkv[2*d:]
				rotate(q[i], i)
				rotate(k[i], i)
			} else {
				q[i], k[i], v[i] = linear(p+"attn_q", x[i], true), linear(p+"attn_k", x[i], true), linear(p+"attn_v", x[i], true)
			}
		}
		next := make([][]float64, n)
		for i := range x {
			att := make([]float64, d)
			for h := 0; h < t.heads; h++ {
				sc := make([]float64, n)
				mx := math.Inf(-1)
				for s := range sc {
					for c := 0; c < t.hd; c++ {
						sc[s] += q[i][h*t.hd+c] * k[s][h*t.hd+c]
					}
					sc[s] /= math.Sqrt(float64(t.hd))
					mx = math.Max(mx, sc[s])
				}
				sum := 0.0
				for s := range sc {
					sc[s] = math.Exp(sc[s] - mx)
					sum += sc[s]
				}
				for s := range sc {
					for c := 0; c < t.hd; c++ {
						att[h*t.hd+c] += sc[s] / sum * v[s][h*t.hd+c]
					}
				}
			}
			o := linear(p+"attn_output", att, true)
			for j := range o {
				o[j] += x[i][j]
			}
			ffnIn := layerNorm(o, p+"attn_output_norm")
			var ffn []float64
			if t.arch == "nomic-bert" {
				g, u := linear(p+"ffn_gate", ffnIn, false), linear(p+"ffn_up", ffnIn, false)
				for j := range g {
					g[j] = g[j] / (1 + math.Exp(-g[j])) * u[j]
				}
				ffn = linear(p+"ffn_down", g, false)
			} else {
				u := linear(p+"ffn_up", ffnIn, true)
				for j := range u {
					u[j] = geluRef(u[j])
				}
				ffn = linear(p+"ffn_down", u, true)
			}
			for j := range ffn {
				ffn[j] += ffnIn[j]
			}
			next[i] = layerNorm(ffn, p+"layer_output_norm")
		}
		x = next
	}
	return x
}

// pool is the reference pooling.
func pool(rows [][]float64, p model.Pooling) []float64 {
	switch p {
	case model.PoolingMean:
		out := make([]float64, len(rows[0]))
		for _, r := range rows {
			for j, v := range r {
				out[j] += v / float64(len(rows))
			}
		}
		return out
	case model.PoolingCLS:
		return rows[0]
	}
	return rows[len(rows)-1]
}

// TestTinyReference checks BERT and nomic-bert encoders against the
// float64 definition in every pooling, for sequences of one token, a few
// and the whole context.
func TestTinyReference(t *testing.T) {
	seqs := [][]int32{{2, 17, 5, 39, 3}, {2}, nil}
	for i := 0; i < 32; i++ {
		seqs[2] = append(seqs[2], int32((i*7+3)%40))
	}
	for _, arch := range []string{"bert", "nomic-bert"} {
		t.Run(arch, func(t *testing.T) {
			tm := newTiny(arch, 42)
			m, err := tm.open(t)
			if err != nil {
				t.Fatal(err)
			}
			e := m.(model.Embedder)
			if e.Pooling() != model.PoolingMean {
				t.Errorf("pooling %v, want mean", e.Pooling())
			}
			worst := 0.0
			for _, toks := range seqs {
				want := tm.reference(toks)
				for _, p := range []model.Pooling{model.PoolingNone, model.PoolingMean, model.PoolingCLS, model.PoolingLast} {
					got := make([]float32, tm.dim)
					if err := e.Embed(context.Background(), toks, p, got); err != nil {
						t.Fatal(err)
					}
					for j, w := range pool(want, p) {
						worst = max(worst, math.Abs(float64(got[j])-w))
					}
				}
			}
			t.Logf("max |diff| vs float64 reference: %.3g", worst)
			if worst > 1e-4 {
				t.Errorf("max diff %.3g > 1e-4", worst)
			}
		})
	}
}

// TestEmbeddingOnly checks what an encoder says when asked for what it
// does not compute, and the argument checks of Embed.
func TestEmbeddingOnly(t *testing.T) {
	m, err := newTiny("bert", 1).open(t)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.NewCache(16, true); !errors.Is(err, model.ErrEmbeddingOnly) {
		t.Errorf("NewCache: error %v, want ErrEmbeddingOnly", err)
	}
	c, _ := kvcache.New(2, 8, 4, 4, true)
	if err := m.Forward(context.Background(), model.SeqBatch(c, []int32{1}, 0, false), make([]float32, 40)); !errors.Is(err, model.ErrEmbeddingOnly) {
		t.Errorf("Forward: error %v, want ErrEmbeddingOnly", err)
	}
	e := m.(model.Embedder)
	dst := make([]float32, 16)
	for _, tc := range []struct {
		toks []int32
		pool model.Pooling
		dst  []float32
		want string
	}{
		{nil, model.PoolingMean, dst, "bert: nothing to embed: no tokens"},
		{make([]int32, 33), model.PoolingMean, dst, "bert: 33 tokens exceed the context length 32"},
		{[]int32{1, 40}, model.PoolingMean, dst, "bert: token 40 at index 1 out of range [0, 40)"},
		{[]int32{1, -1}, model.PoolingMean, dst, "bert: token -1 at index 1 out of range [0, 40)"},
		{[]int32{1}, model.PoolingMean, dst[:15], "bert: embedding buffer of 15 for 16 dimensions"},
		{[]int32{1}, model.Pooling(4), dst, "bert: rank pooling scores a query–document pair with a reranker's head and makes no embedding (POST /v1/rerank)"},
	} {
		err := e.Embed(context.Background(), tc.toks, tc.pool, tc.dst)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Embed(%v, %v): error %v, want %q", tc.toks, tc.pool, err, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.Embed(ctx, []int32{1, 2}, model.PoolingMean, dst); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error %v", err)
	}
}

// TestLoadErrors checks that broken encoder files get errors naming the
// key or tensor at fault.
func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name string
		arch string
		edit func(*tiny)
		want string
	}{
		{"missing token type count", "bert", func(t *tiny) { t.Del("tokenizer.ggml.token_type_count") },
			`bert: metadata key "tokenizer.ggml.token_type_count" is missing`},
		{"token type count type", "bert", func(t *tiny) { t.Set("tokenizer.ggml.token_type_count", "two") },
			`bert: metadata key "tokenizer.ggml.token_type_count" has type string, want an integer`},
		{"token type count zero", "bert", func(t *tiny) { t.Set("tokenizer.ggml.token_type_count", uint32(0)) },
			`bert: token_type_count 0 is not positive`},
		{"token types shape", "bert", func(t *tiny) { t.Set("tokenizer.ggml.token_type_count", uint32(3)) },
			`bert: tensor "token_types.weight" has shape [16 2], want [16 3]`},
		{"missing eps", "bert", func(t *tiny) { t.Del("bert.attention.layer_norm_epsilon") },
			`bert: metadata key "bert.attention.layer_norm_epsilon": missing`},
		{"missing embedding length", "nomic-bert", func(t *tiny) { t.Del("nomic-bert.embedding_length") },
			`nomic-bert: metadata key "nomic-bert.embedding_length": missing`},
		{"heads", "bert", func(t *tiny) { t.Set("bert.attention.head_count", uint32(5)) },
			`bert: attention.head_count 5 does not divide embedding_length 16`},
		{"rank pooling", "bert", func(t *tiny) { t.Set("bert.pooling_type", uint32(4)) },
			`bert: pooling_type rank needs a classification head, and tensor "cls.output.weight" is missing`},
		{"unknown pooling", "bert", func(t *tiny) { t.Set("bert.pooling_type", uint32(9)) },
			`bert: metadata key "bert.pooling_type": unknown pooling type 9`},
		{"moe encoder", "nomic-bert", func(t *tiny) { t.Set("nomic-bert.moe_every_n_layers", uint32(2)) },
			`nomic-bert: moe_every_n_layers 2: mixture-of-experts encoders (nomic-bert-moe) are not supported`},
		{"missing positions", "bert", func(t *tiny) { t.DelTensor("position_embd.weight") },
			`bert: missing tensor "position_embd.weight"`},
		{"short positions", "bert", func(t *tiny) { t.Set("bert.context_length", uint32(64)) },
			`bert: tensor "position_embd.weight" has shape [16 32], want [16 64]`},
		{"missing norm bias", "bert", func(t *tiny) { t.DelTensor("blk.1.attn_output_norm.bias") },
			`bert: missing tensor "blk.1.attn_output_norm.bias"`},
		{"missing gate", "nomic-bert", func(t *tiny) { t.DelTensor("blk.0.ffn_gate.weight") },
			`nomic-bert: missing tensor "blk.0.ffn_gate.weight"`},
		{"fused qkv shape", "nomic-bert", func(t *tiny) { t.AddTensor("blk.0.attn_qkv.weight", make([]float32, 16*40), 16, 40) },
			`nomic-bert: tensor "blk.0.attn_qkv.weight" has shape [16 40], want [16 48]`},
		{"rope dims", "nomic-bert", func(t *tiny) { t.Set("nomic-bert.rope.dimension_count", uint32(8)) },
			`nomic-bert: rope.dimension_count 8 is not an even number up to the head dimension 4`},
		{"huge block count", "bert", func(t *tiny) { t.Set("bert.block_count", uint32(1<<30)) },
			`bert: block_count 1073741824 is more than the file's`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tm := newTiny(tc.arch, 1)
			tc.edit(tm)
			_, err := tm.open(t)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
