// Package gemma3n implements the text model of Google's Gemma 3n
// (general.architecture "gemma3n"): gemma-3n-E2B and E4B, whose audio and
// vision towers are not supported. Importing the package registers it with
// package model.
//
// Gemma 3n's layers are Gemma 3's (embeddings × √dim, RMS norms before and
// after attention and feed-forward, per-head q/k norms, GeGLU, NeoX
// rotation, four sliding layers for each global one, the sliding ones
// rotating with rope.freq_base_swa) with these changes, as llama.cpp's
// gemma3n graph computes them:
//
//   - values RMS-normed per head without a weight, and scores not scaled
//     (the norms fix the size of q, k and v);
//   - AltUp: four residual streams, the layers running on the active one
//     (see altUp);
//   - LAuReL: a low-rank residual beside each layer's attention
//     (decoder.Laurel);
//   - per-layer embeddings: every token has a small embedding per layer
//     (embedding_length_per_layer_input wide), mixed with a projection of
//     its ordinary embedding, which each layer adds through a gate to the
//     streams it does not run on;
//   - activation sparsity: the layers whose activation_sparsity_scale is
//     finite (the first ten) keep only the gate values that exceed their
//     mean by that many standard deviations (layers.SparseGeGLU);
//   - the last attention.shared_kv_layers layers compute no keys or values
//     and attend to those of the last sliding or global layer before them
//     that has its own;
//   - final logits soft-capped at final_logit_softcapping (30).
//
// llama.cpp fixes some of these where the file states them: the shared
// layers from 20 on, sparsity on the first ten layers at 1.645 deviations,
// the soft cap at 30. This package reads the file's keys (with those values
// as defaults when absent), which agree with llama.cpp's for Google's E2B
// and E4B.
package gemma3n

import (
	"fmt"
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
	"github.com/ondo-ai/ondo/model/layers"
)

const arch = "gemma3n"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "Gemma 3n (text): Gemma 3 with AltUp's four residual streams, LAuReL, per-layer embeddings, activation sparsity, shared KV layers")
}

// llama.cpp's defaults for files without the keys: its gemma3n graph fixes
// the layers from 20 on as sharing keys and values, and the first ten as
// sparse with the normal distribution's 95th percentile.
const (
	defaultKVLayers = 20
	defaultSparse   = 10
	defaultStdMul   = 1.6448533535003662
)

// Load builds a Gemma 3n model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	hp, meta, err := decoder.ReadHyper(f, arch)
	if err != nil {
		return nil, err
	}
	streams := meta.IntOr("altup.num_inputs", 4)
	active := meta.IntOr("altup.active_idx", 0)
	width := meta.IntOr("embedding_length_per_layer_input", 256)
	shared := meta.IntOr("attention.shared_kv_layers", max(hp.Layers-defaultKVLayers, 0))
	baseSWA := meta.FloatOr("rope.freq_base_swa", 10000)
	softcap := meta.FloatOr("final_logit_softcapping", 30)
	if err := meta.Err(); err != nil {
		return nil, err
	}
	switch {
	case streams < 2:
		return nil, decoder.Errorf(&hp, "altup.num_inputs %d: AltUp needs at least 2 streams", streams)
	case active < 0 || active >= streams:
		return nil, decoder.Errorf(&hp, "altup.active_idx %d is not one of %d streams", active, streams)
	case width <= 0:
		return nil, decoder.Errorf(&hp, "embedding_length_per_layer_input %d is not positive", width)
	case shared < 0 || shared > hp.Layers-2:
		return nil, decoder.Errorf(&hp, "attention.shared_kv_layers %d leaves fewer than two layers of their own among %d", shared, hp.Layers)
	case hp.Window <= 0:
		return nil, decoder.Errorf(&hp, "metadata key %q: missing or 0", meta.Key("attention.sliding_window"))
	case !decoder.Finite(softcap) || softcap < 0:
		return nil, decoder.Errorf(&hp, "final_logit_softcapping %v is not a non-negative number", softcap)
	}
	sparsity, err := stdMultipliers(f, meta.Key("activation_sparsity_scale"), hp.Layers)
	if err != nil {
		return nil, decoder.Errorf(&hp, "%v", err)
	}
	sliding, err := decoder.SlidingLayers(f, meta, hp.Layers, 5)
	if err != nil {
		return nil, err
	}
	ffnWidth, err := decoder.PerLayer(f, meta, "feed_forward_length", hp.Layers, hp.FFN)
	if err != nil {
		return nil, decoder.Errorf(&hp, "%v", err)
	}
	global, local, err := hp.Ropes(baseSWA, false)
	if err != nil {
		return nil, err
	}
	rank := 0
	if ti, ok := f.Tensor("blk.0.laurel_l.weight"); ok && len(ti.Shape) == 2 {
		rank = int(ti.Shape[1])
	}
	if rank <= 0 {
		return nil, decoder.Errorf(&hp, "tensor %q: missing or not a matrix", "blk.0.laurel_l.weight")
	}

	l := decoder.NewLoader(f, &hp)
	r := l.Recipe(decoder.MaybeTied)
	r.Ropes = []decoder.Rotation{{Rope: global}, {Rope: local}}
	r.EmbedScale = float32(math.Sqrt(float64(hp.Embd)))
	r.FinalSoftcap = softcap
	r.PerLayer = &decoder.PerLayerInput{
		TokEmbd: l.Matrix("per_layer_token_embd.weight", width*hp.Layers, r.Embd.Rows),
		Proj:    l.Linear("per_layer_model_proj", hp.Embd, width*hp.Layers),
		Norm:    l.Norm("per_layer_proj_norm", width),
		Width:   width,
	}
	au := &altUp{
		streams: streams, active: active, embd: hp.Embd, width: width, layers: hp.Layers,
		proj:   linears(l.PerHead("altup_proj.weight", hp.Embd, hp.Embd, streams-1)),
		unembd: linears(l.PerHead("altup_unembd_proj.weight", hp.Embd, hp.Embd, streams-1)),
	}
	r.Streams = au

	kvFrom := hp.Layers - shared // layers from here on reuse earlier layers' keys and values
	hd := hp.HeadDim
	qDim, kvDim := hp.Heads*hd, hp.KVHeads*hd
	for i := range hp.Layers {
		p := decoder.Prefix(i)
		b := decoder.Block{
			AttnNorm:     l.Norm(p+"attn_norm", hp.Embd),
			Q:            l.Linear(p+"attn_q", hp.Embd, qDim),
			O:            l.Linear(p+"attn_output", qDim, hp.Embd),
			QNorm:        l.Norm(p+"attn_q_norm", hd),
			Attn:         layers.Attention{Heads: hp.Heads, KVHeads: hp.KVHeads, HeadDim: hd, Scale: 1},
			PostAttnNorm: l.Norm(p+"post_attention_norm", hp.Embd),
			FFNNorm:      l.Norm(p+"ffn_norm", hp.Embd),
			PostFFNNorm:  l.Norm(p+"post_ffw_norm", hp.Embd),
			Laurel: &decoder.Laurel{
				L:    l.Linear(p+"laurel_l", hp.Embd, rank),
				R:    l.Linear(p+"laurel_r", rank, hp.Embd),
				Norm: l.Norm(p+"laurel_post_norm", hp.Embd),
			},
		}
		if sliding[i] {
			b.Attn.Window, b.Rope = hp.Window, 1
		}
		if i < kvFrom {
			b.K = l.Linear(p+"attn_k", hp.Embd, kvDim)
			b.V = l.Linear(p+"attn_v", hp.Embd, kvDim)
			b.KNorm = l.Norm(p+"attn_k_norm", hd)
			b.VNorm = layers.Norm{W: ones(hd), Eps: hp.Eps}
		} else { // the last layer before kvFrom that slides as this one does
			b.ShareKV, b.KVFrom = true, -1
			for j := kvFrom - 1; j >= 0; j-- {
				if sliding[j] == sliding[i] {
					b.KVFrom = j
					break
				}
			}
		}
		ffn := layers.GeGLU{
			Gate: l.Linear(p+"ffn_gate", hp.Embd, ffnWidth[i]),
			Up:   l.Linear(p+"ffn_up", hp.Embd, ffnWidth[i]),
			Down: l.Linear(p+"ffn_down", ffnWidth[i], hp.Embd),
		}
		if m := sparsity[i]; !math.IsInf(float64(m), -1) {
			b.FFN = &layers.SparseGeGLU{GeGLU: ffn, StdMul: m}
		} else {
			b.FFN = &ffn
		}
		au.blocks = append(au.blocks, altUpBlock{
			Router:       l.Linear(p+"altup_router", hp.Embd, streams),
			RouterNorm:   l.Norm(p+"altup_router_norm", hp.Embd),
			Predict:      l.Linear(p+"altup_predict_coef", streams, streams*streams),
			Correct:      l.Linear(p+"altup_correct_coef", streams, streams),
			CorrectScale: l.Vector(p+"altup_correct_scale.weight", hp.Embd),
			Gate:         l.Linear(p+"inp_gate", hp.Embd, width),
			Proj:         l.Linear(p+"proj", width, hp.Embd),
			PostNorm:     l.Norm(p+"post_norm", hp.Embd),
		})
		r.Blocks = append(r.Blocks, b)
	}
	return l.Finish(r, cfg)
}

// stdMultipliers reads activation_sparsity_scale, one standard-deviation
// multiplier per layer: the normal distribution's quantile of the layer's
// sparsity, −∞ for a dense layer (sparsity 0). Absent, it is llama.cpp's
// fixed pattern.
func stdMultipliers(f *gguf.File, key string, n int) ([]float32, error) {
	if !f.Has(key) {
		out := make([]float32, n)
		for i := range out {
			out[i] = float32(math.Inf(-1))
			if i < defaultSparse {
				out[i] = defaultStdMul
			}
		}
		return out, nil
	}
	v, err := f.Float32s(key)
	if err != nil {
		return nil, fmt.Errorf("metadata key %q: %v", key, err)
	}
	if len(v) != n {
		return nil, fmt.Errorf("metadata key %q: %d values for %d layers", key, len(v), n)
	}
	for i, m := range v {
		if math.IsNaN(float64(m)) || math.IsInf(float64(m), 1) {
			return nil, fmt.Errorf("metadata key %q: layer %d's multiplier %v is not a number or −∞", key, i, m)
		}
	}
	return v, nil
}

// linears wraps matrices as projections without bias.
func linears(ms []*kernels.Matrix) []layers.Linear {
	out := make([]layers.Linear, len(ms))
	for i, m := range ms {
		out[i] = layers.Linear{W: m}
	}
	return out
}

// ones returns n ones: the weight of a norm that has none.
func ones(n int) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = 1
	}
	return w
}
