// Package qwen35 implements Qwen3.5 (general.architecture "qwen35"), the
// dense hybrid of Gated DeltaNet linear attention and gated full
// attention. Importing the package registers it with package model.
//
// Three of every four layers (all but each full_attention_interval-th, or
// those attention.recurrent_layers marks) are linear attention
// (layers.GatedDeltaNet) over a per-sequence recurrent state the cache
// keeps; the others are full attention whose query projection also yields a
// gate per query element, with per-head q/k norms and a rotation of the
// first rope.dimension_count elements of each head (NeoX pairing; the
// multi-section rotation, given text positions, turns every section by the
// same angles). Each layer normalises before its mixer and, under the name
// post_attention_norm, before its SwiGLU.
package qwen35

import (
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
	"github.com/ondo-ai/ondo/model/layers"
)

const (
	arch35   = "qwen35"
	archMoE  = "qwen35moe"
	archNext = "qwen3next"
)

func init() {
	model.Register(arch35, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch35, "Qwen3.5: Gated DeltaNet linear attention (recurrent state) in three of four layers, gated attention in the fourth")
	model.Register(archMoE, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(archMoE, "Qwen3.5 mixture of experts: Qwen3.5's hybrid layers, softmax experts beside a gated shared expert")
	model.Register(archNext, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(archNext, "Qwen3-Next: the hybrid Qwen3.5 grew from, value heads grouped by key head, experts beside a gated shared expert")
}

// Load builds a Qwen3.5 model (qwen35, or qwen35moe whose feed-forwards
// are mixtures of experts, or the earlier qwen3next, whose DeltaNet value
// heads are grouped by key head with a joint β/α projection, and whose
// rotation has no sections) from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	arch, _ := f.Architecture()
	l, r, meta, err := decoder.Begin(f, arch, true)
	if err != nil {
		return nil, err
	}
	hp := l.Hyper()
	convK := meta.Int("ssm.conv_kernel")
	inner := meta.Int("ssm.inner_size")
	state := meta.Int("ssm.state_size")
	vHeads := meta.Int("ssm.time_step_rank")
	kHeads := meta.Int("ssm.group_count")
	interval := meta.IntOr("full_attention_interval", 4)
	sharedFFN := meta.IntOr("expert_shared_feed_forward_length", 0)
	weightsScale := meta.FloatOr("expert_weights_scale", 0)
	if err := meta.Err(); err != nil {
		return nil, err
	}
	switch {
	case convK < 1 || state <= 0 || vHeads <= 0 || kHeads <= 0 || vHeads%kHeads != 0:
		return nil, decoder.Errorf(hp, "ssm.conv_kernel %d, ssm.state_size %d, ssm.time_step_rank %d and ssm.group_count %d must be positive, the groups dividing the heads",
			convK, state, vHeads, kHeads)
	case inner != vHeads*state:
		return nil, decoder.Errorf(hp, "ssm.inner_size %d is not ssm.time_step_rank %d × ssm.state_size %d", inner, vHeads, state)
	case interval < 1:
		return nil, decoder.Errorf(hp, "full_attention_interval %d is not positive", interval)
	case arch != arch35 && hp.Experts == 0:
		return nil, decoder.Errorf(hp, "metadata key %q: missing (%s is a mixture of experts)", meta.Key("expert_count"), arch)
	}
	if arch != archNext {
		if err := checkSections(f, meta, hp); err != nil {
			return nil, err
		}
	}
	recurrent, err := recurrentLayers(f, meta, hp, interval)
	if err != nil {
		return nil, err
	}
	keyDim, valueDim := kHeads*state, vHeads*state
	channels := 2*keyDim + valueDim
	l.LayersOf(r, decoder.PreNormsGPTOSS, func(i int, p string) decoder.Block {
		if !recurrent[i] {
			hd := hp.HeadDim
			b := decoder.Block{QGate: true, Attn: layers.Attention{Heads: hp.Heads, KVHeads: hp.KVHeads, HeadDim: hd}}
			b.Attn.Scale = float32(1 / math.Sqrt(float64(hd)))
			b.Q = l.Linear(p+"attn_q", hp.Embd, 2*hp.Heads*hd)
			b.K = l.Linear(p+"attn_k", hp.Embd, hp.KVHeads*hd)
			b.V = l.Linear(p+"attn_v", hp.Embd, hp.KVHeads*hd)
			b.O = l.Linear(p+"attn_output", hp.Heads*hd, hp.Embd)
			l.QKNorm(&b, p)
			return b
		}
		d := &layers.GatedDeltaNet{
			QKV:    l.Linear(p+"attn_qkv", hp.Embd, channels),
			Z:      l.Linear(p+"attn_gate", hp.Embd, valueDim),
			Out:    l.Linear(p+"ssm_out", valueDim, hp.Embd),
			Norm:   l.Norm(p+"ssm_norm", state),
			KHeads: kHeads, VHeads: vHeads, KeyDim: state, ValueDim: state, ConvK: convK, Eps: hp.Eps,
		}
		d.Conv = l.MatrixValues(p+"ssm_conv1d.weight", convK, channels)
		if arch == archNext {
			d.Grouped = true
			d.BetaAlpha = l.Linear(p+"ssm_ba", hp.Embd, 2*vHeads)
		} else {
			d.Beta = l.Linear(p+"ssm_beta", hp.Embd, vHeads)
			d.Alpha = l.Linear(p+"ssm_alpha", hp.Embd, vHeads)
		}
		d.DtBias = l.Vector(p+"ssm_dt.bias", vHeads)
		d.A = l.Vector(p+"ssm_a", vHeads)
		return decoder.Block{Rope: decoder.NoRope, Recurrent: d}
	}, func(_ int, p string, b *decoder.Block) {
		if arch == arch35 {
			b.FFN = l.SwiGLU(p)
			return
		}
		moe := l.MoE(p)
		if moe == nil {
			return
		}
		moe.Norm, moe.Scale = true, weightsScale
		if sharedFFN > 0 {
			gate := layers.Linear{W: l.Matrix(p+"ffn_gate_inp_shexp.weight", hp.Embd, 1)} // {embd} or {embd, 1}
			moe.Shared = &layers.GatedShared{FFN: l.SwiGLUNamed(p, "_shexp", sharedFFN), Gate: gate}
		}
		b.FFN = moe
	})
	return l.Finish(*r, cfg)
}

// recurrentLayers marks the linear-attention layers: the file's
// attention.recurrent_layers when present, else all but every interval-th.
func recurrentLayers(f *gguf.File, meta *model.Meta, hp *decoder.Hyper, interval int) ([]bool, error) {
	n := hp.Layers
	key := meta.Key("attention.recurrent_layers")
	if kv, ok := f.Lookup(key); ok {
		a, isArray := kv.Value.(gguf.Array)
		flags, isBools := a.Values.([]bool)
		if !isArray || !isBools || len(flags) < n {
			return nil, decoder.Errorf(hp, "metadata key %q: want %d bools, one per layer", key, n)
		}
		return flags[:n], nil
	}
	r := make([]bool, n)
	for i := range r {
		r[i] = (i+1)%interval != 0
	}
	return r, nil
}

// checkSections refuses rope.dimension_sections that leave rotated pairs to
// the fourth position (always 0 for text in llama.cpp): with them the
// rotation would not be the plain one this package applies.
func checkSections(f *gguf.File, meta *model.Meta, hp *decoder.Hyper) error {
	key := meta.Key("rope.dimension_sections")
	kv, ok := f.Lookup(key)
	if !ok {
		return decoder.Errorf(hp, "metadata key %q: missing", key)
	}
	a, _ := kv.Value.(gguf.Array)
	var s [4]int
	switch v := a.Values.(type) {
	case []int32:
		for i := 0; i < len(v) && i < 4; i++ {
			s[i] = int(v[i])
		}
	case []uint32:
		for i := 0; i < len(v) && i < 4; i++ {
			s[i] = int(v[i])
		}
	default:
		return decoder.Errorf(hp, "metadata key %q is not an array of integers", key)
	}
	total := s[0] + s[1] + s[2] + s[3]
	if total <= 0 || 2*total > hp.RopeDims*2 {
		return decoder.Errorf(hp, "rope.dimension_sections %v do not fit rope.dimension_count %d", s, hp.RopeDims)
	}
	for pair := 0; pair < hp.RopeDims/2; pair++ {
		sec := pair % total
		if !(sec%3 == 0 && sec < 3*s[0] || sec%3 == 1 && sec < 3*s[1] || sec%3 == 2 && sec < 3*s[2]) {
			return decoder.Errorf(hp, "rope.dimension_sections %v leave rotated pair %d to the fourth position, which text does not use", s, pair)
		}
	}
	return nil
}
