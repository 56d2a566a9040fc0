// Package tinyref is the float64 forward pass that the model families'
// tests check the engine against: a decoder-only transformer over the
// weights of a tinygguf.Model, written straight from the formulas (it
// shares no code with model/decoder or model/layers, so a mistake there
// cannot hide in both).
//
// A Spec gives the shapes and what the metadata decides; the tensors the
// file holds decide the rest:
//   - a bias NAME.bias is added to the product with NAME.weight wherever it
//     exists, and output.bias to tied logits too;
//   - attn_qkv stacks the q, k and v rows in place of attn_q/k/v; an
//     ffn_up without ffn_gate stacks the gate rows, then the up rows;
//   - attn_q_norm and attn_k_norm RMS-normalise each head of q and k
//     before the rotation;
//   - attn_norm and ffn_norm normalise a block's input, post_attention_norm
//     and post_ffw_norm its branch's output (pre, post, sandwich or
//     post-only norms as the file has them); a missing norm is skipped;
//   - ffn_gate_inp routes to the stacked experts ffn_{gate,up,down}_exps;
//   - without output.weight the classifier is token_embd (tied).
package tinyref

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/ondo-ai/ondo/internal/tinygguf"
	"github.com/ondo-ai/ondo/quant"
)

// Act is the gated activation of the feed-forward: act(gate)·up.
type Act int

const (
	SwiGLU Act = iota // silu(gate)·up
	GeGLU             // gelu(gate)·up, GELU's tanh approximation
)

// Rope is one layer's rotary position embedding. The zero Rope rotates
// nothing.
type Rope struct {
	Base    float64   // θ_i = pos·Base^(−2i/Dims); 0: no rotation
	NeoX    bool      // pair i is (i, i+Dims/2); else (2i, 2i+1)
	Dims    int       // rotated leading elements of each head; 0: all
	Factors []float32 // per pair: divides its angle (rope_freqs, LongRoPE)

	// Scale divides every angle (linear interpolation); with YaRN each
	// pair blends the interpolated and the original angle by its
	// wavelength against OrigCtx, and cos and sin grow by 1+0.1·ln(Scale).
	Scale   float64
	YaRN    bool
	OrigCtx float64

	AttnFactor float64 // multiplies cos and sin (LongRoPE); 0: 1
}

// Shape is one layer's attention geometry.
type Shape struct{ Heads, KVHeads, HeadDim int }

// Spec parameterises the forward pass.
type Spec struct {
	Dim, Heads, KVHeads, Layers int
	HeadDim                     int     // 0: Dim/Heads
	Eps                         float64 // of every RMS norm
	// LayerShapes, when set, gives each layer its own attention geometry
	// (Gemma 4's sliding and global layers differ); Heads, KVHeads and
	// HeadDim are then layer 0's.
	LayerShapes []Shape

	Rope   Rope   // every layer's rotation, unless Ropes is set
	Ropes  []Rope // per layer
	Window []int  // per layer: a token at p sees (p−Window, p]; 0 or missing: all of [0, p]

	// Scale multiplies q·k (0: 1/√HeadDim). Scaling the queries first, as
	// Gemma's query_pre_attn_scalar and Phi-3 do, is the same in exact
	// arithmetic.
	Scale   float64
	AttnCap float64 // scores become AttnCap·tanh(score/AttnCap); 0: none

	FFN         Act
	GELUFP16    bool // GELU as ggml's table: fp16 in and out, 0 below −10, x above 10
	ExpertsUsed int  // top-k of the router's softmax
	NormExperts bool // renormalise the chosen experts' weights to sum 1

	EmbedScale    float64 // multiplies the embeddings; 0: 1
	ResidualScale float64 // multiplies each branch before it is added; 0: 1
	LogitScale    float64 // multiplies the logits; 0: 1
	FinalCap      float64 // logits become FinalCap·tanh(logit/FinalCap); 0: none
}

// Forward runs the model over tokens at positions 0, 1, … and returns the
// logits of every position.
func Forward(m *tinygguf.Model, s Spec, tokens []int32) [][]float64 {
	if s.HeadDim == 0 {
		s.HeadDim = s.Dim / s.Heads
	}
	p := &pass{Model: m, Spec: s, keys: make([][][]float64, s.Layers), vals: make([][][]float64, s.Layers)}
	var out [][]float64
	for pos, tok := range tokens {
		x := make([]float64, s.Dim)
		for i := range x {
			x[i] = float64(m.Weights["token_embd.weight"][int(tok)*s.Dim+i])
		}
		scale(x, s.EmbedScale)
		for l := 0; l < s.Layers; l++ {
			b := fmt.Sprintf("blk.%d.", l)
			p.residual(x, p.attention(b, l, pos, p.norm(x, b+"attn_norm.weight")), b+"post_attention_norm.weight")
			p.residual(x, p.feedForward(b, p.norm(x, b+"ffn_norm.weight")), b+"post_ffw_norm.weight")
		}
		x = p.norm(x, "output_norm.weight")
		var logits []float64
		if p.has("output.weight") {
			logits = p.mat("output.weight", 0, x)
		} else {
			logits = p.mat("token_embd.weight", 0, x)
			for i, b := range m.Weights["output.bias"] {
				logits[i] += float64(b)
			}
		}
		scale(logits, s.LogitScale)
		for i := range logits {
			logits[i] = softcap(logits[i], s.FinalCap)
		}
		out = append(out, logits)
	}
	return out
}

// pass is one Forward call: the model, its spec and the cached keys and
// values of every layer and position.
type pass struct {
	*tinygguf.Model
	Spec
	keys, vals [][][]float64
}

func (p *pass) has(name string) bool { _, ok := p.Weights[name]; return ok }

// mat returns matrix e of the tensor name (a GGUF shape [cols rows] or,
// stacked, [cols rows n]) times x, plus row e of its bias if there is one.
func (p *pass) mat(name string, e int, x []float64) []float64 {
	sh, w := p.Shapes[name], p.Weights[name]
	cols := int(sh[0])
	rows := len(w) / cols
	if len(sh) == 3 {
		rows = int(sh[1])
	}
	w = w[e*rows*cols : (e+1)*rows*cols]
	out := make([]float64, rows)
	for r := range out {
		for c, v := range x {
			out[r] += float64(w[r*cols+c]) * v
		}
	}
	if b, ok := p.Weights[strings.TrimSuffix(name, ".weight")+".bias"]; ok {
		for r := range out {
			out[r] += float64(b[e*rows+r])
		}
	}
	return out
}

// norm returns the RMS norm of x with the weight name, or x itself when the
// file has no such tensor.
func (p *pass) norm(x []float64, name string) []float64 {
	w, ok := p.Weights[name]
	if !ok {
		return x
	}
	ss := 0.0
	for _, v := range x {
		ss += v * v
	}
	s := 1 / math.Sqrt(ss/float64(len(x))+p.Eps)
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v * s * float64(w[i])
	}
	return out
}

// residual adds the branch output y, normalised by post if the file has it
// and scaled by ResidualScale, to x.
func (p *pass) residual(x, y []float64, post string) {
	y = p.norm(y, post)
	scale(y, p.ResidualScale)
	for i, v := range y {
		x[i] += v
	}
}

func (p *pass) attention(b string, l, pos int, x []float64) []float64 {
	heads, kvHeads, hd := p.Heads, p.KVHeads, p.HeadDim
	if p.LayerShapes != nil {
		sh := p.LayerShapes[l]
		heads, kvHeads, hd = sh.Heads, sh.KVHeads, sh.HeadDim
	}
	qd, kd := heads*hd, kvHeads*hd
	var q, k, v []float64
	if p.has(b + "attn_qkv.weight") {
		qkv := p.mat(b+"attn_qkv.weight", 0, x)
		q, k, v = qkv[:qd], qkv[qd:qd+kd], qkv[qd+kd:]
	} else {
		q, k, v = p.mat(b+"attn_q.weight", 0, x), p.mat(b+"attn_k.weight", 0, x), p.mat(b+"attn_v.weight", 0, x)
	}
	for h := 0; h < heads; h++ {
		copy(q[h*hd:(h+1)*hd], p.norm(q[h*hd:(h+1)*hd], b+"attn_q_norm.weight"))
	}
	for h := 0; h < kvHeads; h++ {
		copy(k[h*hd:(h+1)*hd], p.norm(k[h*hd:(h+1)*hd], b+"attn_k_norm.weight"))
	}
	rope := p.Rope
	if p.Ropes != nil {
		rope = p.Ropes[l]
	}
	rope.rotate(q, hd, pos)
	rope.rotate(k, hd, pos)
	p.keys[l], p.vals[l] = append(p.keys[l], k), append(p.vals[l], v)
	first := 0
	if l < len(p.Window) && p.Window[l] > 0 {
		first = max(0, pos-p.Window[l]+1)
	}
	sc := p.Scale
	if sc == 0 {
		sc = 1 / math.Sqrt(float64(hd))
	}
	out := make([]float64, qd)
	for h := 0; h < heads; h++ {
		g := h / (heads / kvHeads) // the key/value head of query head h
		w := make([]float64, pos+1-first)
		for j := range w {
			for i, kv := range p.keys[l][first+j][g*hd : (g+1)*hd] {
				w[j] += q[h*hd+i] * kv
			}
			w[j] = softcap(sc*w[j], p.AttnCap)
		}
		softmax(w)
		for j, a := range w {
			for i, vv := range p.vals[l][first+j][g*hd : (g+1)*hd] {
				out[h*hd+i] += a * vv
			}
		}
	}
	return p.mat(b+"attn_output.weight", 0, out)
}

// rotate rotates each head of size hd in x for position pos.
func (r Rope) rotate(x []float64, hd, pos int) {
	if r.Base == 0 {
		return
	}
	dims := r.Dims
	if dims == 0 {
		dims = hd
	}
	for h := 0; h < len(x)/hd; h++ {
		v := x[h*hd : (h+1)*hd]
		for i := 0; i < dims/2; i++ {
			th, mag := r.angle(pos, i, dims)
			c, s := math.Cos(th)*mag, math.Sin(th)*mag
			a, b := 2*i, 2*i+1
			if r.NeoX {
				a, b = i, i+dims/2
			}
			v[a], v[b] = v[a]*c-v[b]*s, v[a]*s+v[b]*c
		}
	}
}

// angle returns the angle and the magnitude of cos and sin for pair i at
// pos: θ = pos·Base^(−2i/dims)/factor_i, divided by Scale, and for YaRN
// blended per pair between that and the unscaled angle by the pair's
// position between the correction dimensions of β = 32 and β = 1.
func (r Rope) angle(pos, i, dims int) (theta, mag float64) {
	mag = 1
	if r.AttnFactor != 0 {
		mag = r.AttnFactor
	}
	extrap := float64(pos) * math.Pow(r.Base, -2*float64(i)/float64(dims))
	if r.Factors != nil {
		extrap /= float64(r.Factors[i])
	}
	if r.Scale == 0 {
		return extrap, mag
	}
	interp := extrap / r.Scale
	if !r.YaRN {
		return interp, mag
	}
	corr := func(beta float64) float64 {
		return float64(dims) * math.Log(r.OrigCtx/(beta*2*math.Pi)) / (2 * math.Log(r.Base))
	}
	low := math.Max(0, math.Floor(corr(32)))
	high := math.Min(float64(dims-1), math.Ceil(corr(1)))
	ramp := (float64(i) - low) / math.Max(0.001, high-low)
	mix := 1 - math.Min(1, math.Max(0, ramp)) // 1: extrapolate, 0: interpolate
	return interp*(1-mix) + extrap*mix, mag * (1 + 0.1*math.Log(r.Scale))
}

func (p *pass) feedForward(b string, x []float64) []float64 {
	if p.has(b + "ffn_gate_inp.weight") {
		return p.experts(b, x)
	}
	var g, u []float64
	if p.has(b + "ffn_gate.weight") {
		g, u = p.mat(b+"ffn_gate.weight", 0, x), p.mat(b+"ffn_up.weight", 0, x)
	} else {
		gu := p.mat(b+"ffn_up.weight", 0, x)
		g, u = gu[:len(gu)/2], gu[len(gu)/2:]
	}
	return p.mat(b+"ffn_down.weight", 0, p.glu(g, u))
}

// experts is the mixture of experts: softmax over the router's scores,
// the ExpertsUsed most likely experts (the lower number first on a tie),
// and the sum of their outputs weighted by their probabilities,
// renormalised over the chosen ones if NormExperts.
func (p *pass) experts(b string, x []float64) []float64 {
	prob := p.mat(b+"ffn_gate_inp.weight", 0, x)
	softmax(prob)
	order := make([]int, len(prob))
	for e := range order {
		order[e] = e
	}
	sort.SliceStable(order, func(i, j int) bool { return prob[order[i]] > prob[order[j]] })
	chosen, total := order[:p.ExpertsUsed], 1.0
	if p.NormExperts {
		total = 0
		for _, e := range chosen {
			total += prob[e]
		}
	}
	out := make([]float64, p.Dim)
	for _, e := range chosen {
		g, u := p.mat(b+"ffn_gate_exps.weight", e, x), p.mat(b+"ffn_up_exps.weight", e, x)
		for i, v := range p.mat(b+"ffn_down_exps.weight", e, p.glu(g, u)) {
			out[i] += prob[e] / total * v
		}
	}
	return out
}

func (p *pass) glu(g, u []float64) []float64 {
	out := make([]float64, len(g))
	for i, x := range g {
		if p.FFN == GeGLU {
			out[i] = p.gelu(x) * u[i]
		} else {
			out[i] = x / (1 + math.Exp(-x)) * u[i]
		}
	}
	return out
}

// gelu is GELU's tanh approximation 0.5x(1+tanh(√(2/π)(x+0.044715x³))).
func (p *pass) gelu(x float64) float64 {
	f := func(x float64) float64 { return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*x*(1+0.044715*x*x))) }
	if !p.GELUFP16 {
		return f(x)
	}
	switch {
	case x <= -10:
		return 0
	case x >= 10:
		return x
	}
	return fp16(f(fp16(x)))
}

func fp16(x float64) float64 { return float64(quant.FP16ToFloat32(quant.Float32ToFP16(float32(x)))) }

// scale multiplies x by s unless s is 0.
func scale(x []float64, s float64) {
	if s == 0 {
		return
	}
	for i := range x {
		x[i] *= s
	}
}

func softcap(x, c float64) float64 {
	if c == 0 {
		return x
	}
	return c * math.Tanh(x/c)
}

// softmax replaces x by its softmax.
func softmax(x []float64) {
	mx, sum := math.Inf(-1), 0.0
	for _, v := range x {
		mx = math.Max(mx, v)
	}
	for i, v := range x {
		x[i] = math.Exp(v - mx)
		sum += x[i]
	}
	for i := range x {
		x[i] /= sum
	}
}

// Pattern returns, for layers marked in sliding, local, and for the others
// global: the per-layer Ropes or Window of a sliding-window pattern.
func Pattern[T any](sliding []bool, global, local T) []T {
	out := make([]T, len(sliding))
	for l, sl := range sliding {
		out[l] = global
		if sl {
			out[l] = local
		}
	}
	return out
}

// MaxDiff returns the largest |got − want| over rows of logits, got being
// the rows of want one after the other.
func MaxDiff(got []float32, want [][]float64) float64 {
	worst := 0.0
	for p, row := range want {
		for j, w := range row {
			worst = max(worst, math.Abs(float64(got[p*len(row)+j])-w))
		}
	}
	return worst
}
