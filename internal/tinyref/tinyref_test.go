package tinyref

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/internal/tinygguf"
)

const (
	dim, heads, kvHeads, hd, ffn, vocab = 16, 4, 2, 6, 20, 24
	qDim, kvDim                         = heads * hd, kvHeads * hd
)

var tokens = []int32{3, 17, 0, 23, 5, 5, 11, 2}

// sink returns a random three-layer model using every feature and its spec.
// Layer 0: separate biased q/k/v, q/k norms, norms before and after both
// branches, gate and up apart, NeoX rotation of 4 of the 6 elements with
// frequency factors, a window of 2. Layer 1: fused attn_qkv with a bias and
// fused gate|up, norms only after the branches, adjacent pairs with YaRN.
// Layer 2: 4 experts, 2 used, norms before, no rotation. Tied output with a
// bias.
func sink() (*tinygguf.Model, Spec) {
	m := tinygguf.New()
	r := rand.New(rand.NewPCG(5, 6))
	add := func(name string, scale, offset float64, shape ...int64) {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(offset + r.NormFloat64()*scale)
		}
		m.AddTensor(name, w, shape...)
	}
	norm := func(name string, n int) { add(name, 0.2, 1, int64(n)) }
	add("token_embd.weight", 0.5, 0, dim, vocab)
	add("output.bias", 0.5, 0, vocab)
	norm("output_norm.weight", dim)

	norm("blk.0.attn_norm.weight", dim)
	for _, t := range []struct {
		name string
		rows int64
	}{{"attn_q", qDim}, {"attn_k", kvDim}, {"attn_v", kvDim}} {
		add("blk.0."+t.name+".weight", 0.4, 0, dim, t.rows)
		add("blk.0."+t.name+".bias", 0.3, 0, t.rows)
	}
	norm("blk.0.attn_q_norm.weight", hd)
	norm("blk.0.attn_k_norm.weight", hd)
	add("blk.0.attn_output.weight", 0.3, 0, qDim, dim)
	norm("blk.0.post_attention_norm.weight", dim)
	norm("blk.0.ffn_norm.weight", dim)
	add("blk.0.ffn_gate.weight", 0.6, 0, dim, ffn)
	add("blk.0.ffn_up.weight", 0.4, 0, dim, ffn)
	add("blk.0.ffn_down.weight", 0.3, 0, ffn, dim)
	norm("blk.0.post_ffw_norm.weight", dim)

	add("blk.1.attn_qkv.weight", 0.4, 0, dim, qDim+2*kvDim)
	add("blk.1.attn_qkv.bias", 0.3, 0, qDim+2*kvDim)
	add("blk.1.attn_output.weight", 0.3, 0, qDim, dim)
	norm("blk.1.post_attention_norm.weight", dim)
	add("blk.1.ffn_up.weight", 0.5, 0, dim, 2*ffn)
	add("blk.1.ffn_down.weight", 0.3, 0, ffn, dim)
	norm("blk.1.post_ffw_norm.weight", dim)

	norm("blk.2.attn_norm.weight", dim)
	add("blk.2.attn_q.weight", 0.4, 0, dim, qDim)
	add("blk.2.attn_k.weight", 0.4, 0, dim, kvDim)
	add("blk.2.attn_v.weight", 0.4, 0, dim, kvDim)
	add("blk.2.attn_output.weight", 0.3, 0, qDim, dim)
	norm("blk.2.ffn_norm.weight", dim)
	add("blk.2.ffn_gate_inp.weight", 1, 0, dim, 4)
	add("blk.2.ffn_gate_exps.weight", 0.6, 0, dim, ffn, 4)
	add("blk.2.ffn_up_exps.weight", 0.4, 0, dim, ffn, 4)
	add("blk.2.ffn_down_exps.weight", 0.3, 0, ffn, dim, 4)

	return m, Spec{Dim: dim, Heads: heads, KVHeads: kvHeads, HeadDim: hd, Layers: 3, Eps: 1e-6,
		Ropes: []Rope{
			{Base: 100, NeoX: true, Dims: 4, Factors: []float32{1, 3}, AttnFactor: 1.1},
			{Base: 50, Scale: 4, YaRN: true, OrigCtx: 4},
			{},
		},
		Window:  []int{2, 0, 0},
		Scale:   0.5,
		AttnCap: 1.5, FinalCap: 3,
		FFN: GeGLU, GELUFP16: true, ExpertsUsed: 2, NormExperts: true,
		EmbedScale: 2, ResidualScale: 0.8, LogitScale: 1.3}
}

func diff(a, b [][]float64) float64 {
	d := 0.0
	for p := range a {
		for j := range a[p] {
			d = max(d, math.Abs(a[p][j]-b[p][j]))
		}
	}
	return d
}

// TestSensitive checks that the reference is sensitive to every part of
// the spec and of the file: each deliberate mistake moves the logits by
// far more than the families' tolerances (1e-4 and 1e-3), so a test that
// compares the engine with a wrong reference fails.
func TestSensitive(t *testing.T) {
	m, s := sink()
	want := Forward(m, s, tokens)
	rope := func(l int, f func(*Rope)) func(*Spec) {
		return func(s *Spec) {
			s.Ropes = append([]Rope(nil), s.Ropes...)
			f(&s.Ropes[l])
		}
	}
	specs := []struct {
		name string
		edit func(*Spec)
	}{
		{"adjacent pairs for NeoX", rope(0, func(r *Rope) { r.NeoX = false })},
		{"NeoX for adjacent pairs", rope(1, func(r *Rope) { r.NeoX = true })},
		{"all dims rotated", rope(0, func(r *Rope) { r.Dims, r.Factors = 0, []float32{1, 3, 1} })},
		{"no frequency factors", rope(0, func(r *Rope) { r.Factors = nil })},
		{"no attention factor", rope(0, func(r *Rope) { r.AttnFactor = 0 })},
		{"another base", rope(1, func(r *Rope) { r.Base = 10000 })},
		{"linear instead of YaRN", rope(1, func(r *Rope) { r.YaRN = false })},
		{"YaRN original context", rope(1, func(r *Rope) { r.OrigCtx = 64 })},
		{"no rotation", rope(1, func(r *Rope) { *r = Rope{} })},
		{"rotation where there is none", rope(2, func(r *Rope) { *r = Rope{Base: 10000} })},
		{"no window", func(s *Spec) { s.Window = nil }},
		{"window 1", func(s *Spec) { s.Window = []int{1} }},
		{"default score scale", func(s *Spec) { s.Scale = 0 }},
		{"no attention cap", func(s *Spec) { s.AttnCap = 0 }},
		{"no final cap", func(s *Spec) { s.FinalCap = 0 }},
		{"SwiGLU for GeGLU", func(s *Spec) { s.FFN = SwiGLU }},
		{"one expert", func(s *Spec) { s.ExpertsUsed = 1 }},
		{"experts not renormalised", func(s *Spec) { s.NormExperts = false }},
		{"no embedding scale", func(s *Spec) { s.EmbedScale = 0 }},
		{"no residual scale", func(s *Spec) { s.ResidualScale = 0 }},
		{"no logit scale", func(s *Spec) { s.LogitScale = 0 }},
		{"large eps", func(s *Spec) { s.Eps = 0.5 }},
	}
	for _, tc := range specs {
		s2 := s
		tc.edit(&s2)
		if d := diff(Forward(m, s2, tokens), want); d < 1e-2 {
			t.Errorf("%s: logits move by only %.3g", tc.name, d)
		}
	}
	// GELU's fp16 rounding is a precision detail, not a feature: it moves
	// the logits a little, but it must move them.
	s2 := s
	s2.GELUFP16 = false
	if d := diff(Forward(m, s2, tokens), want); d == 0 || d > 1e-2 {
		t.Errorf("GELU without fp16 rounding: logits move by %.3g, want a little", d)
	}
	for _, name := range []string{"output.bias", "blk.0.attn_k.bias", "blk.0.attn_q_norm.weight", "blk.0.attn_k_norm.weight",
		"blk.0.attn_norm.weight", "blk.0.post_attention_norm.weight", "blk.1.post_ffw_norm.weight", "blk.1.attn_qkv.bias"} {
		m, s := sink()
		m.DelTensor(name)
		if d := diff(Forward(m, s, tokens), want); d < 1e-2 {
			t.Errorf("without %s: logits move by only %.3g", name, d)
		}
	}
}

// TestEquivalentForms checks that what must not matter does not: q/k/v
// fused or apart, gate and up fused or apart, a tied classifier or its
// copy, one Rope or the same per layer, a window longer than the prompt,
// the default score scale spelt out.
func TestEquivalentForms(t *testing.T) {
	m, s := sink()
	want := Forward(m, s, tokens)
	same := func(name string, m *tinygguf.Model, s Spec) {
		t.Helper()
		if d := diff(Forward(m, s, tokens), want); d > 1e-12 {
			t.Errorf("%s: logits move by %.3g", name, d)
		}
	}

	split, _ := sink()
	bounds := []int64{0, qDim, qDim + kvDim, qDim + 2*kvDim} // q, k and v rows of attn_qkv
	for i, n := range []string{"attn_q", "attn_k", "attn_v"} {
		lo, hi := bounds[i], bounds[i+1]
		split.AddTensor("blk.1."+n+".weight", split.Weights["blk.1.attn_qkv.weight"][dim*lo:dim*hi], dim, hi-lo)
		split.AddTensor("blk.1."+n+".bias", split.Weights["blk.1.attn_qkv.bias"][lo:hi], hi-lo)
	}
	split.DelTensor("blk.1.attn_qkv.weight")
	split.DelTensor("blk.1.attn_qkv.bias")
	gu := split.Weights["blk.1.ffn_up.weight"]
	split.AddTensor("blk.1.ffn_gate.weight", gu[:dim*ffn], dim, ffn)
	split.AddTensor("blk.1.ffn_up.weight", gu[dim*ffn:], dim, ffn)
	same("q/k/v and gate/up apart", split, s)

	untied, _ := sink()
	untied.AddTensor("output.weight", untied.Weights["token_embd.weight"], dim, vocab)
	same("untied copy", untied, s)

	one := s
	one.Ropes, one.Rope = nil, s.Ropes[0]
	want = Forward(m, one, tokens)
	one.Ropes = []Rope{s.Ropes[0], s.Ropes[0], s.Ropes[0]}
	same("one Rope or the same per layer", m, one)

	want = Forward(m, s, tokens)
	long := s
	long.Window = []int{2, len(tokens), 100}
	same("window beyond the prompt", m, long)

	s.Scale = 0
	want = Forward(m, s, tokens)
	s.Scale = 1 / math.Sqrt(hd)
	same("default scale spelt out", m, s)
}

// TestRotation checks the rotations against properties of the formulas:
// position 0 is the identity (times the magnitude), lengths are kept
// (times the magnitude), and the product of a rotated query and key depends
// only on their distance.
func TestRotation(t *testing.T) {
	ropes := map[string]Rope{
		"adjacent":    {Base: 10000},
		"NeoX":        {Base: 100, NeoX: true},
		"partial":     {Base: 100, NeoX: true, Dims: 4},
		"factors":     {Base: 100, Factors: []float32{1, 2.5, 8}},
		"linear":      {Base: 100, Scale: 4},
		"YaRN":        {Base: 100, Scale: 4, YaRN: true, OrigCtx: 8},
		"attn factor": {Base: 100, NeoX: true, AttnFactor: 1.3},
	}
	r := rand.New(rand.NewPCG(1, 2))
	vec := func() []float64 {
		v := make([]float64, 2*hd)
		for i := range v {
			v[i] = r.NormFloat64()
		}
		return v
	}
	dot := func(a, b []float64) float64 {
		s := 0.0
		for i := range a {
			s += a[i] * b[i]
		}
		return s
	}
	for name, rope := range ropes {
		q, k := vec(), vec()
		_, mag := rope.angle(0, 0, hd)
		at := func(v []float64, pos int) []float64 {
			v = append([]float64(nil), v...)
			rope.rotate(v, hd, pos)
			return v
		}
		if d := diff([][]float64{at(q, 0)}, [][]float64{scaled(q, mag)}); d > 1e-12 {
			t.Errorf("%s: position 0 moves the vector by %.3g", name, d)
		}
		if a, b := dot(at(q, 7), at(q, 7)), mag*mag*dot(q, q); math.Abs(a-b) > 1e-9 {
			t.Errorf("%s: squared length %v, want %v", name, a, b)
		}
		if a, b := dot(at(q, 9), at(k, 4)), dot(at(q, 15), at(k, 10)); math.Abs(a-b) > 1e-9 {
			t.Errorf("%s: q·k at 9 and 4 is %v, at 15 and 10 %v", name, a, b)
		}
		if a, b := dot(at(q, 9), at(k, 4)), dot(at(q, 9), at(k, 5)); math.Abs(a-b) < 1e-3 {
			t.Errorf("%s: q·k at distances 5 and 4 nearly the same (%v, %v)", name, a, b)
		}
	}
}

func scaled(v []float64, s float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = x * s
	}
	return out
}

// TestActivations checks GELU's tanh approximation and the fp16 form at
// known values.
func TestActivations(t *testing.T) {
	p := &pass{}
	if g := p.gelu(1); math.Abs(g-0.8411919906082768) > 1e-15 {
		t.Errorf("gelu(1) = %v", g)
	}
	p.GELUFP16 = true
	for x, want := range map[float64]float64{1: 0.84130859375, -11: 0, 12: 12} {
		if g := p.gelu(x); g != want {
			t.Errorf("fp16 gelu(%v) = %v, want %v", x, g, want)
		}
	}
}
