package gemma4

import (
	"math"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model/decoder"
	"github.com/ondo-ai/ondo/model/layers"
)

// moeFFN is the feed-forward of gemma-4-26B-A4B's layers: a dense GeGLU
// and a mixture of GeGLU experts side by side on the attention's output x,
// as llama.cpp's gemma4 graph computes them:
//
//	mlp = PostNorm1(GeGLU(Norm(x)))
//	moe = PostNorm2(experts(PreNorm2(x)), routed on Router·(rms(x)/√dim ⊙ RouterScale))
//	out = mlp + moe
//
// The block's own ffn_norm is Norm here, so the recipe leaves FFNNorm
// unset; post_ffw_norm follows as usual.
type moeFFN struct {
	norm, post1, pre2, post2 layers.Norm
	mlp                      layers.GeGLU
	experts                  *layers.MoE
	routerScale              []float32
	bufs                     *moeBufs // shared by the model's layers
}

// moeBufs are the activations of moeFFN, one set for all layers.
type moeBufs struct{ mlpIn, mlp, moeIn, router, logits []float32 }

func grow(b *[]float32, n int) []float32 {
	if len(*b) < n {
		*b = make([]float32, n)
	}
	return (*b)[:n]
}

// Forward implements layers.FeedForward.
func (f *moeFFN) Forward(p *kernels.Pool, dst, x []float32, n int, s *layers.Scratch) {
	dim := len(f.norm.W)
	b := f.bufs
	mlpIn, mlp := grow(&b.mlpIn, n*dim), grow(&b.mlp, n*dim)
	f.norm.Forward(mlpIn, x, n)
	f.mlp.Forward(p, mlp, mlpIn, n, s)
	f.post1.Forward(mlp, mlp, n)

	moeIn, router := grow(&b.moeIn, n*dim), grow(&b.router, n*dim)
	f.pre2.Forward(moeIn, x, n)
	for i := range n { // the router's input: x RMS-normed without weight, …
		kernels.RMSNorm(router[i*dim:(i+1)*dim], x[i*dim:(i+1)*dim], nil, f.norm.Eps)
	}
	kernels.Scale(router, 1/float32(math.Sqrt(float64(dim)))) // … scaled by 1/√dim, then by RouterScale
	for i := range n {
		kernels.Mul(router[i*dim:(i+1)*dim], f.routerScale)
	}
	logits := grow(&b.logits, n*f.experts.Router.W.Rows)
	f.experts.Router.Forward(p, logits, router, n)
	out := dst[:n*dim]
	f.experts.ForwardLogits(p, out, moeIn, logits, n, s)
	f.post2.Forward(out, out, n)
	for i := range out { // mlp + moe, in ggml_add's order
		out[i] = mlp[i] + out[i]
	}
}

// loadMoE reads layer prefix p's feed-forward of a mixture-of-experts
// Gemma 4: the dense GeGLU of ffn width, the experts of hp.FFN, the norms,
// the router with its input scale and the experts' output scales.
func loadMoE(l *decoder.Loader, hp *decoder.Hyper, p string, ffn int, bufs *moeBufs) *moeFFN {
	f := &moeFFN{
		norm:  l.Norm(p+"ffn_norm", hp.Embd),
		post1: l.Norm(p+"post_ffw_norm_1", hp.Embd),
		pre2:  l.Norm(p+"pre_ffw_norm_2", hp.Embd),
		post2: l.Norm(p+"post_ffw_norm_2", hp.Embd),
		mlp: layers.GeGLU{
			Gate: l.Linear(p+"ffn_gate", hp.Embd, ffn),
			Up:   l.Linear(p+"ffn_up", hp.Embd, ffn),
			Down: l.Linear(p+"ffn_down", ffn, hp.Embd),
		},
		routerScale: l.Vector(p+"ffn_gate_inp.scale", hp.Embd),
		bufs:        bufs,
	}
	for _, name := range []string{"ffn_gate_up_exps.weight", "ffn_gate_exps.scale", "ffn_up_exps.scale"} {
		if l.Has(p + name) {
			l.Failf("tensor %q: fused or scaled gate/up experts are not supported yet", p+name)
			return f
		}
	}
	f.experts = l.MoE(p)
	if f.experts != nil {
		f.experts.Norm, f.experts.GELU = true, true
		f.experts.DownScale = l.OptVector(p+"ffn_down_exps.scale", hp.Experts)
	}
	return f
}
