package decoder

import (
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/layers"
)

// Loader reads a family's tensors by llama.cpp's names, checking each
// shape against the hyperparameters. It keeps the first error, so a family
// reads every tensor, one per line, and checks [Loader.Err] once; after an
// error, reads return zero values.
type Loader struct {
	W   *model.Weights
	F   *gguf.File
	hp  *Hyper
	err error
}

// NewLoader returns a loader of f's tensors for the model hp describes.
func NewLoader(f *gguf.File, hp *Hyper) *Loader {
	return &Loader{W: model.NewWeights(f, hp.Arch), F: f, hp: hp}
}

// Err returns the first error met.
func (l *Loader) Err() error { return l.err }

// Fail records err unless an error is already recorded.
func (l *Loader) Fail(err error) {
	if l.err == nil {
		l.err = err
	}
}

// Failf records an error prefixed with the architecture.
func (l *Loader) Failf(format string, args ...any) {
	l.Fail(fmt.Errorf(l.hp.Arch+": "+format, args...))
}

// Has reports whether the tensor is present.
func (l *Loader) Has(name string) bool { return l.W.Has(name) }

// Matrix reads the named matrix of rows × cols.
func (l *Loader) Matrix(name string, cols, rows int) *kernels.Matrix {
	if l.err != nil {
		return nil
	}
	m, err := l.W.Matrix(name, cols, rows)
	l.Fail(err)
	return m
}

// Vector reads the named vector of n elements.
func (l *Loader) Vector(name string, n int) []float32 {
	if l.err != nil {
		return nil
	}
	v, err := l.W.Vector(name, n)
	l.Fail(err)
	return v
}

// OptVector reads an optional vector: nil when absent.
func (l *Loader) OptVector(name string, n int) []float32 {
	if l.err != nil || !l.W.Has(name) {
		return nil
	}
	return l.Vector(name, n)
}

// Linear reads name.weight (in → out) and the optional name.bias.
func (l *Loader) Linear(name string, in, out int) layers.Linear {
	return layers.Linear{W: l.Matrix(name+".weight", in, out), B: l.OptVector(name+".bias", out)}
}

// Split splits a fused projection into views of consecutive rows.
func (l *Loader) Split(name string, lin layers.Linear, rows ...int) []layers.Linear {
	if l.err != nil {
		return make([]layers.Linear, len(rows))
	}
	parts, err := layers.SplitLinear(lin, rows...)
	if err != nil {
		l.Failf("tensor %q: %v", name, err)
		return make([]layers.Linear, len(rows))
	}
	return parts
}

// Norm reads the RMS norm name.weight of n elements (with the model's ε).
func (l *Loader) Norm(name string, n int) layers.Norm {
	return layers.Norm{W: l.Vector(name+".weight", n), Eps: l.hp.Eps}
}

// LayerNorm reads the layer norm name.weight of n elements and its
// optional name.bias (with the model's ε).
func (l *Loader) LayerNorm(name string, n int) layers.Norm {
	return layers.Norm{W: l.Vector(name+".weight", n), B: l.OptVector(name+".bias", n), Eps: l.hp.Eps, Mean: true}
}

// OptNorm is [Loader.Norm] for a norm that may be absent.
func (l *Loader) OptNorm(name string, n int) layers.Norm {
	return layers.Norm{W: l.OptVector(name+".weight", n), Eps: l.hp.Eps}
}

// Recipe starts the network: token_embd, output_norm, and the classifier
// output, or token_embd again when the file ties them (tied false makes
// output.weight required, tiedOnly makes it an error: families whose
// llama.cpp graph has no separate classifier).
func (l *Loader) Recipe(tie Tying) Recipe {
	hp := l.hp
	r := Recipe{Hyper: *hp}
	vocab, err := l.W.Vocab(hp.Embd)
	if err != nil {
		l.Fail(err)
		return r
	}
	r.Embd = l.Matrix("token_embd.weight", hp.Embd, vocab)
	r.OutNorm = l.Norm("output_norm", hp.Embd)
	switch {
	case l.Has("output.weight") && tie == TiedOnly:
		l.Failf("unexpected tensor %q: the architecture ties its classifier to token_embd", "output.weight")
	case l.Has("output.weight"):
		r.Output = l.Linear("output", hp.Embd, vocab)
	default: // tied; llama.cpp still adds output.bias when present (Qwen2)
		r.Output = layers.Linear{W: r.Embd, B: l.OptVector("output.bias", vocab)}
	}
	r.Blocks = make([]Block, 0, hp.Layers)
	return r
}

// ClsOut reads a reranker's classification head cls.output (weight and
// optional bias), one row per label of classifier.output_labels (one when
// absent), when the file has it.
func (l *Loader) ClsOut() layers.Linear {
	if !l.Has("cls.output.weight") {
		return layers.Linear{}
	}
	labels := 1
	if names, err := l.F.Strings(l.hp.Arch + ".classifier.output_labels"); err == nil && len(names) > 0 {
		labels = len(names)
	}
	return l.Linear("cls.output", l.hp.Embd, labels)
}

// Tying says whether a family's classifier may be token_embd.
type Tying int

const (
	MaybeTied Tying = iota // output.weight when present, token_embd otherwise
	TiedOnly               // token_embd; output.weight is an error
)

// Norms says which RMS norms a family's layers have.
type Norms int

const (
	// PreNorms: attn_norm before the attention, ffn_norm before the
	// feed-forward (Llama and most families).
	PreNorms Norms = iota
	// Sandwich: the pre-norms and post_attention_norm and post_ffw_norm
	// on the blocks' outputs (Gemma 2 and 3).
	Sandwich
	// PostNorms: only post_attention_norm and post_ffw_norm (OLMo 2,
	// EXAONE 4).
	PostNorms
	// PreNormsGPTOSS: PreNorms, but the norm before the feed-forward is
	// stored as post_attention_norm (gpt-oss).
	PreNormsGPTOSS
)

// Layers appends hp.Layers blocks to r: each the attention of its prefix
// (see [Loader.Attention]) and the norms norms names, completed by build
// with the feed-forward and whatever else the family adds.
func (l *Loader) Layers(r *Recipe, norms Norms, build func(i int, p string, b *Block)) {
	l.LayersOf(r, norms, func(_ int, p string) Block { return l.Attention(p) }, build)
}

// LayersOf is [Loader.Layers] with each layer's attention read by attn
// (DeepSeek's latent attention) instead of [Loader.Attention].
func (l *Loader) LayersOf(r *Recipe, norms Norms, attn func(i int, p string) Block, build func(i int, p string, b *Block)) {
	hp := l.hp
	for i := range hp.Layers {
		p := Prefix(i)
		b := attn(i, p)
		switch norms {
		case PreNormsGPTOSS:
			b.AttnNorm = l.Norm(p+"attn_norm", hp.Embd)
			b.FFNNorm = l.Norm(p+"post_attention_norm", hp.Embd)
		case PreNorms, Sandwich:
			b.AttnNorm = l.Norm(p+"attn_norm", hp.Embd)
			b.FFNNorm = l.Norm(p+"ffn_norm", hp.Embd)
		}
		if norms == Sandwich || norms == PostNorms {
			b.PostAttnNorm = l.Norm(p+"post_attention_norm", hp.Embd)
			b.PostFFNNorm = l.Norm(p+"post_ffw_norm", hp.Embd)
		}
		build(i, p, &b)
		r.Blocks = append(r.Blocks, b)
	}
}

// Attention reads the attention of layer prefix p (blk.N.): the query, key
// and value projections, separate (attn_q, attn_k, attn_v) or fused
// (attn_qkv), each with an optional bias, and attn_output. The block's
// attention is the model's plain one and its rotation the first.
func (l *Loader) Attention(p string) Block {
	return l.AttentionShaped(p, l.hp.Heads, l.hp.KVHeads, l.hp.HeadDim)
}

// AttentionShaped is [Loader.Attention] for a layer of its own geometry:
// heads query heads and kvHeads key/value heads of headDim (Gemma 4's
// sliding and global layers differ), scores scaled by 1/√headDim.
func (l *Loader) AttentionShaped(p string, heads, kvHeads, headDim int) Block {
	hp := l.hp
	qDim, kvDim := heads*headDim, kvHeads*headDim
	b := Block{Attn: layers.Attention{Heads: heads, KVHeads: kvHeads, HeadDim: headDim, Scale: 1 / float32(math.Sqrt(float64(headDim)))}}
	if l.Has(p + "attn_qkv.weight") {
		qkv := l.Split(p+"attn_qkv.weight", l.Linear(p+"attn_qkv", hp.Embd, qDim+2*kvDim), qDim, kvDim, kvDim)
		b.Q, b.K, b.V = qkv[0], qkv[1], qkv[2]
	} else {
		if !l.Has(p + "attn_q.weight") {
			l.Failf("missing tensor %q (nor is there a fused %q)", p+"attn_q.weight", p+"attn_qkv.weight")
		}
		b.Q = l.Linear(p+"attn_q", hp.Embd, qDim)
		b.K = l.Linear(p+"attn_k", hp.Embd, kvDim)
		b.V = l.Linear(p+"attn_v", hp.Embd, kvDim)
	}
	b.O = l.Linear(p+"attn_output", qDim, hp.Embd)
	return b
}

// QKNorm reads the per-head query and key norms attn_q_norm and attn_k_norm.
func (l *Loader) QKNorm(b *Block, p string) {
	b.QNorm = l.Norm(p+"attn_q_norm", b.Attn.HeadDim)
	b.KNorm = l.Norm(p+"attn_k_norm", b.Attn.HeadDim)
}

// SwiGLU reads the gated feed-forward ffn_gate, ffn_up, ffn_down of layer
// prefix p; without ffn_gate, ffn_up holds the gate's rows and then the up
// rows (Phi-3's gate_up_proj, GLM-4's).
func (l *Loader) SwiGLU(p string) *layers.SwiGLU {
	g, u, d := l.glu(p)
	return &layers.SwiGLU{Gate: g, Up: u, Down: d}
}

// GeGLU is [Loader.SwiGLU] with GELU gating (Gemma).
func (l *Loader) GeGLU(p string) *layers.GeGLU {
	g, u, d := l.glu(p)
	return &layers.GeGLU{Gate: g, Up: u, Down: d}
}

func (l *Loader) glu(p string) (gate, up, down layers.Linear) { return l.gluOf(p, "", l.hp.FFN) }

// SwiGLUOf is [Loader.SwiGLU] of width ffn instead of hp.FFN (the dense
// layers of a mixture-of-experts model).
func (l *Loader) SwiGLUOf(p string, ffn int) *layers.SwiGLU {
	g, u, d := l.gluOf(p, "", ffn)
	return &layers.SwiGLU{Gate: g, Up: u, Down: d}
}

// SwiGLUNamed is [Loader.SwiGLUOf] for tensors named ffn_gate<suffix>,
// ffn_up<suffix> and ffn_down<suffix> (shared experts: "_shexp").
func (l *Loader) SwiGLUNamed(p, suffix string, ffn int) *layers.SwiGLU {
	g, u, d := l.gluOf(p, suffix, ffn)
	return &layers.SwiGLU{Gate: g, Up: u, Down: d}
}

func (l *Loader) gluOf(p, suffix string, ffn int) (gate, up, down layers.Linear) {
	hp := l.hp
	if l.Has(p+"ffn_gate"+suffix+".weight") || !l.Has(p+"ffn_up"+suffix+".weight") {
		gate = l.Linear(p+"ffn_gate"+suffix, hp.Embd, ffn)
		up = l.Linear(p+"ffn_up"+suffix, hp.Embd, ffn)
	} else {
		gu := l.Split(p+"ffn_up"+suffix+".weight", l.Linear(p+"ffn_up"+suffix, hp.Embd, 2*ffn), ffn, ffn)
		gate, up = gu[0], gu[1]
	}
	return gate, up, l.Linear(p+"ffn_down"+suffix, ffn, hp.Embd)
}

// PerHead reads a 3-D tensor of one rows × cols matrix per attention head
// (DeepSeek's attn_k_b and attn_v_b), stacked as experts are.
func (l *Loader) PerHead(name string, cols, rows, heads int) []*kernels.Matrix {
	if l.err != nil {
		return nil
	}
	m, err := l.W.Experts(name, cols, rows, heads)
	l.Fail(err)
	return m
}

// MoE reads the mixture of experts of layer prefix p: the router
// ffn_gate_inp and the experts stacked in ffn_{gate,up,down}_exps, each a
// SwiGLU of hp.FFN, choosing hp.ExpertsUsed per token. Experts stored one
// tensor each (old Mixtral conversions) are refused with a clear error.
func (l *Loader) MoE(p string) *layers.MoE {
	hp := l.hp
	if !l.Has(p+"ffn_gate_exps.weight") && l.Has(p+"ffn_gate.0.weight") {
		l.Failf("tensor %q: experts stored one tensor each (an old Mixtral conversion) are not supported; convert the model again", p+"ffn_gate.0.weight")
		return nil
	}
	if !hp.usedSet {
		l.Failf("metadata key %q: missing", hp.Arch+".expert_used_count")
		return nil
	}
	if hp.ExpertsUsed <= 0 || hp.ExpertsUsed > hp.Experts {
		l.Failf("expert_used_count %d is not between 1 and expert_count %d", hp.ExpertsUsed, hp.Experts)
		return nil
	}
	f := &layers.MoE{Router: layers.Linear{W: l.Matrix(p+"ffn_gate_inp.weight", hp.Embd, hp.Experts)}, Used: hp.ExpertsUsed}
	f.Gate = l.experts(p+"ffn_gate_exps.weight", hp.Embd, hp.FFN)
	f.Up = l.experts(p+"ffn_up_exps.weight", hp.Embd, hp.FFN)
	f.Down = l.experts(p+"ffn_down_exps.weight", hp.FFN, hp.Embd)
	if l.err == nil {
		if err := f.Validate(); err != nil {
			l.Failf("%sffn: %v", p, err)
		}
	}
	return f
}

// MatrixValues reads the named matrix of rows × cols as float32 values,
// row by row (a small matrix read element by element, such as a
// convolution's weights).
func (l *Loader) MatrixValues(name string, cols, rows int) []float32 {
	m := l.Matrix(name, cols, rows)
	if m == nil {
		return nil
	}
	v, err := kernels.Vector(m)
	if err != nil {
		l.Failf("tensor %q: %v", name, err)
		return nil
	}
	return v
}

// ExpertBiases reads the stacked per-expert biases name (n × experts,
// ffn_{gate,up,down}_exps.bias), one vector of n per expert.
func (l *Loader) ExpertBiases(name string, n int) [][]float32 {
	v := l.MatrixValues(name, n, l.hp.Experts)
	if v == nil {
		return nil
	}
	out := make([][]float32, l.hp.Experts)
	for e := range out {
		out[e] = v[e*n : (e+1)*n : (e+1)*n]
	}
	return out
}

func (l *Loader) experts(name string, cols, rows int) []*kernels.Matrix {
	if l.err != nil {
		return nil
	}
	m, err := l.W.Experts(name, cols, rows, l.hp.Experts)
	l.Fail(err)
	return m
}

// Begin starts the usual family: it reads the hyperparameters of
// architecture arch, resolves the rotation (NeoX pairing or adjacent
// pairs, llama3 frequency factors from rope_freqs when present) and
// returns the loader, the recipe with that one rotation and tied or
// separate classifier, and the metadata reader for the family's own keys.
// The family may still change l.Hyper before [Loader.Finish].
func Begin(f *gguf.File, arch string, neox bool) (*Loader, *Recipe, *model.Meta, error) {
	hp, meta, err := ReadHyper(f, arch)
	if err != nil {
		return nil, nil, meta, err
	}
	rope, err := hp.Rope(neox, hp.RopeBase)
	if err != nil {
		return nil, nil, meta, err
	}
	l := NewLoader(f, &hp)
	rope.Factors = l.OptVector("rope_freqs.weight", hp.RopeDims/2)
	r := l.Recipe(MaybeTied)
	r.Ropes = []Rotation{{Rope: rope}}
	return l, &r, meta, l.Err()
}

// Hyper returns the hyperparameters the loader reads for; changes reach
// the model through [Loader.Finish].
func (l *Loader) Hyper() *Hyper { return l.hp }

// Block returns the prefix of layer i's tensors, "blk.i.".
func Prefix(i int) string { return fmt.Sprintf("blk.%d.", i) }

// Finish checks the loader's error and builds the model.
func (l *Loader) Finish(r Recipe, cfg model.Config) (*Model, error) {
	if l.err != nil {
		return nil, l.err
	}
	r.Hyper = *l.hp
	return New(r, cfg)
}
