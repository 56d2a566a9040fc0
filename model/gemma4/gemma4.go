// Package gemma4 implements the text model of Google's Gemma 4
// (general.architecture "gemma4"): gemma-4-31B, 26B-A4B, E2B and E4B. Importing
// the package registers it with package model.
//
// Gemma 4 keeps Gemma 3's shape (embeddings × √dim, RMS norms before and
// after attention and feed-forward, per-head q/k norms, GeGLU, NeoX
// rotation, sliding and global layers) and changes, as llama.cpp computes
// them: the sliding and global layers have heads of different sizes
// (attention.key_length_swa, attention.key_length) and key/value head
// counts (attention.head_count_kv per layer); the values are RMS-normed
// per head without a weight, and a layer without attn_v takes its values
// from the key projection; scores are not scaled (scale 1, the norms fix
// the size of q and k); global layers rotate with rope.freq_base and the
// rope_freqs factors ("proportional" RoPE: a factor of 1e30 leaves a pair
// unrotated), sliding layers with rope.freq_base_swa over
// rope.dimension_count_swa elements; each layer's output may be scaled
// (layer_output_scale); the final logits may be soft-capped.
//
// gemma-4-E2B and E4B add two things, also as llama.cpp computes them: the
// last attention.shared_kv_layers layers compute no keys or values and
// attend to those of the last sliding or global layer that has its own;
// and every layer adds its share of per-layer token embeddings
// (embedding_length_per_layer_input wide) after the feed-forward.
//
// gemma-4-26B-A4B's layers run a dense GeGLU and a mixture of GeGLU
// experts side by side (see moeFFN).
package gemma4

import (
	"math"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/model/decoder"
	"github.com/ondo-ai/ondo/model/layers"
)

const arch = "gemma4"

func init() {
	model.Register(arch, func(f *gguf.File, cfg model.Config) (model.Model, error) { return Load(f, cfg) })
	model.Describe(arch, "Gemma 4 dense (text): Gemma 3 with heads of different sizes on sliding and global layers, normed values, proportional RoPE")
}

// Load builds a Gemma 4 model from f, checking every hyperparameter and
// tensor shape. The model's weights are views of f's mapping.
func Load(f *gguf.File, cfg model.Config) (*decoder.Model, error) {
	hp, meta, err := decoder.ReadHyper(f, arch)
	if err != nil {
		return nil, err
	}
	hdSWA := meta.IntOr("attention.key_length_swa", hp.HeadDim)
	vdSWA := meta.IntOr("attention.value_length_swa", hdSWA)
	rotSWA := meta.IntOr("rope.dimension_count_swa", hp.RopeDims)
	baseSWA := meta.FloatOr("rope.freq_base_swa", 10000)
	shared := meta.IntOr("attention.shared_kv_layers", 0)
	perLayer := meta.IntOr("embedding_length_per_layer_input", 0)
	softcap := meta.FloatOr("final_logit_softcapping", 0)
	if err := meta.Err(); err != nil {
		return nil, err
	}
	switch {
	case shared < 0 || shared > hp.Layers-2:
		return nil, decoder.Errorf(&hp, "attention.shared_kv_layers %d leaves fewer than two layers of their own among %d", shared, hp.Layers)
	case perLayer < 0:
		return nil, decoder.Errorf(&hp, "embedding_length_per_layer_input %d is negative", perLayer)
	case hp.Window <= 0:
		return nil, decoder.Errorf(&hp, "metadata key %q: missing or 0", meta.Key("attention.sliding_window"))
	case hdSWA <= 0 || vdSWA != hdSWA || rotSWA <= 0 || rotSWA > hdSWA || rotSWA%2 != 0:
		return nil, decoder.Errorf(&hp, "sliding layers' key_length %d, value_length %d and rope.dimension_count %d do not fit", hdSWA, vdSWA, rotSWA)
	case !decoder.Finite(softcap) || softcap < 0:
		return nil, decoder.Errorf(&hp, "final_logit_softcapping %v is not a non-negative number", softcap)
	}
	sliding, err := decoder.SlidingLayers(f, meta, hp.Layers, 1) // absent: no layer slides
	if err != nil {
		return nil, err
	}
	heads, err := decoder.PerLayer(f, meta, "attention.head_count", hp.Layers, hp.Heads)
	if err != nil {
		return nil, decoder.Errorf(&hp, "%v", err)
	}
	kvHeads, err := decoder.PerLayer(f, meta, "attention.head_count_kv", hp.Layers, hp.Heads)
	if err != nil {
		return nil, decoder.Errorf(&hp, "%v", err)
	}
	ffn, err := decoder.PerLayer(f, meta, "feed_forward_length", hp.Layers, hp.FFN)
	if err != nil {
		return nil, decoder.Errorf(&hp, "%v", err)
	}
	global, err := hp.Rope(true, hp.RopeBase)
	if err != nil {
		return nil, err
	}
	local := global
	local.Dims, local.Base, local.FreqScale, local.ExtFactor, local.AttnFactor = rotSWA, baseSWA, 1, 0, 1

	l := decoder.NewLoader(f, &hp)
	global.Factors = l.OptVector("rope_freqs.weight", global.Dims/2)
	r := l.Recipe(decoder.MaybeTied)
	r.Ropes = []decoder.Rotation{{Rope: global}, {Rope: local}}
	r.EmbedScale = float32(math.Sqrt(float64(hp.Embd)))
	r.FinalSoftcap = softcap
	if perLayer > 0 { // E2B/E4B: a small embedding per token and layer
		r.PerLayer = &decoder.PerLayerInput{
			TokEmbd: l.Matrix("per_layer_token_embd.weight", perLayer*hp.Layers, r.Embd.Rows),
			Proj:    l.Linear("per_layer_model_proj", hp.Embd, perLayer*hp.Layers),
			Norm:    l.Norm("per_layer_proj_norm", perLayer),
			Width:   perLayer,
		}
	}
	kvFrom := hp.Layers - shared // layers from here on reuse the last layers' keys and values
	bufs := &moeBufs{}
	for i := range hp.Layers {
		p, hd := decoder.Prefix(i), hp.HeadDim
		if sliding[i] {
			hd = hdSWA
		}
		if heads[i] <= 0 || kvHeads[i] <= 0 || heads[i]%kvHeads[i] != 0 {
			l.Failf("layer %d: %d heads over %d key/value heads", i, heads[i], kvHeads[i])
			break
		}
		qDim, kvDim := heads[i]*hd, kvHeads[i]*hd
		var k layers.Linear
		if i < kvFrom {
			k = l.Linear(p+"attn_k", hp.Embd, kvDim)
		}
		b := decoder.Block{
			K:        k,
			AttnNorm: l.Norm(p+"attn_norm", hp.Embd),
			Q:        l.Linear(p+"attn_q", hp.Embd, qDim),
			O:        l.Linear(p+"attn_output", qDim, hp.Embd),
			Attn:     layers.Attention{Heads: heads[i], KVHeads: kvHeads[i], HeadDim: hd, Scale: 1},
			VNorm:    layers.Norm{W: ones(hd), Eps: hp.Eps},
			FFNNorm:  l.Norm(p+"ffn_norm", hp.Embd),
			FFN: &layers.GeGLU{
				Gate: l.Linear(p+"ffn_gate", hp.Embd, ffn[i]),
				Up:   l.Linear(p+"ffn_up", hp.Embd, ffn[i]),
				Down: l.Linear(p+"ffn_down", ffn[i], hp.Embd),
			},
			PostAttnNorm: l.Norm(p+"post_attention_norm", hp.Embd),
			PostFFNNorm:  l.Norm(p+"post_ffw_norm", hp.Embd),
		}
		switch {
		case i >= kvFrom: // llama.cpp's reuse: the last sliding or global layer with its own
			b.ShareKV, b.KVFrom, b.K = true, kvFrom-1, layers.Linear{}
			if sliding[i] {
				b.KVFrom = kvFrom - 2
			}
		case l.Has(p + "attn_v.weight"):
			b.V = l.Linear(p+"attn_v", hp.Embd, kvDim)
		default:
			b.VFromK = true
		}
		b.QNorm = l.Norm(p+"attn_q_norm", hd)
		if !b.ShareKV {
			b.KNorm = l.Norm(p+"attn_k_norm", hd)
		}
		if perLayer > 0 {
			b.PerLayer = &decoder.PerLayerBlock{
				Gate: l.Linear(p+"inp_gate", hp.Embd, perLayer),
				Proj: l.Linear(p+"proj", perLayer, hp.Embd),
				Norm: l.Norm(p+"post_norm", hp.Embd),
			}
		}
		if sliding[i] {
			b.Attn.Window, b.Rope = hp.Window, 1
		}
		if l.Has(p + "ffn_gate_inp.weight") { // 26B-A4B: a dense GeGLU and experts side by side
			b.FFNNorm, b.FFN = layers.Norm{}, loadMoE(l, &hp, p, ffn[i], bufs)
		}
		if l.Has(p + "layer_output_scale.weight") {
			if v := l.Vector(p+"layer_output_scale.weight", 1); v != nil {
				b.OutScale = v[0]
			}
		}
		r.Blocks = append(r.Blocks, b)
	}
	return l.Finish(r, cfg)
}

// ones returns n ones: the weight of a norm that has none.
func ones(n int) []float32 {
	w := make([]float32, n)
	for i := range w {
		w[i] = 1
	}
	return w
}
