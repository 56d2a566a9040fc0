package decoder

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/tinygguf"
	"github.com/ondo-ai/ondo/internal/tinyref"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
)

// shapesModel is a three-layer model whose layers have different attention
// geometry, as Gemma 4's sliding and global layers do: 4 heads of 8 over 2
// key/value heads, 2 heads of 16 over 1, then 8 heads of 4 over 8.
var shapesModel = []tinyref.Shape{
	{Heads: 4, KVHeads: 2, HeadDim: 8},
	{Heads: 2, KVHeads: 1, HeadDim: 16},
	{Heads: 8, KVHeads: 8, HeadDim: 4},
}

func newShapesModel(seed uint64) *tinygguf.Model {
	const dim, ffn, vocab = 16, 24, 40
	m := tinygguf.New()
	m.Set("general.architecture", "shapes-test")
	m.Set("shapes-test.context_length", uint32(64))
	m.Set("shapes-test.embedding_length", uint32(dim))
	m.Set("shapes-test.feed_forward_length", uint32(ffn))
	m.Set("shapes-test.block_count", uint32(len(shapesModel)))
	m.Set("shapes-test.attention.head_count", uint32(4))
	m.Set("shapes-test.attention.head_count_kv", uint32(2))
	m.Set("shapes-test.attention.key_length", uint32(8))
	m.Set("shapes-test.attention.layer_norm_rms_epsilon", float32(1e-6))
	r := rand.New(rand.NewPCG(seed, 2))
	add := func(name string, center, spread float64, shape ...int64) {
		n := int64(1)
		for _, d := range shape {
			n *= d
		}
		w := make([]float32, n)
		for i := range w {
			w[i] = float32(center + r.NormFloat64()*spread)
		}
		m.AddTensor(name, w, shape...)
	}
	add("token_embd.weight", 0, 1, dim, vocab)
	add("output_norm.weight", 1, 0.1, dim)
	for l, sh := range shapesModel {
		p := fmt.Sprintf("blk.%d.", l)
		q, kv := int64(sh.Heads*sh.HeadDim), int64(sh.KVHeads*sh.HeadDim)
		add(p+"attn_norm.weight", 1, 0.1, dim)
		add(p+"attn_q.weight", 0, 0.4, dim, q)
		add(p+"attn_k.weight", 0, 0.4, dim, kv)
		add(p+"attn_v.weight", 0, 0.4, dim, kv)
		add(p+"attn_output.weight", 0, 0.3, q, dim)
		add(p+"attn_q_norm.weight", 1, 0.1, int64(sh.HeadDim))
		add(p+"attn_k_norm.weight", 1, 0.1, int64(sh.HeadDim))
		add(p+"ffn_norm.weight", 1, 0.1, dim)
		add(p+"ffn_gate.weight", 0, 0.3, dim, ffn)
		add(p+"ffn_up.weight", 0, 0.3, dim, ffn)
		add(p+"ffn_down.weight", 0, 0.3, ffn, dim)
	}
	return m
}

// loadShapes builds the model with the decoder's parts, each layer with its
// own geometry.
func loadShapes(t *testing.T, tm *tinygguf.Model, cfg model.Config) *Model {
	t.Helper()
	f, err := gguf.Open(tm.Write(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	hp, _, err := ReadHyper(f, "shapes-test")
	if err != nil {
		t.Fatal(err)
	}
	l := NewLoader(f, &hp)
	r := l.Recipe(MaybeTied)
	for i, sh := range shapesModel {
		p := Prefix(i)
		rope, err := (&Hyper{Arch: hp.Arch, RopeDims: sh.HeadDim, Context: hp.Context, RopeScaling: hp.RopeScaling}).Rope(true, 10000)
		if err != nil {
			t.Fatal(err)
		}
		r.Ropes = append(r.Ropes, Rotation{Rope: rope})
		b := l.AttentionShaped(p, sh.Heads, sh.KVHeads, sh.HeadDim)
		b.Rope = i
		b.AttnNorm = l.Norm(p+"attn_norm", hp.Embd)
		l.QKNorm(&b, p)
		b.FFNNorm = l.Norm(p+"ffn_norm", hp.Embd)
		b.FFN = l.SwiGLU(p)
		r.Blocks = append(r.Blocks, b)
	}
	m, err := l.Finish(r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestLayerShapes checks a model whose layers differ in heads and head
// size against the float64 reference, over a float32 and an fp16 cache
// shaped layer by layer, evaluated as one batch and token by token; and
// that a cache of uniform shape is refused.
func TestLayerShapes(t *testing.T) {
	tm := newShapesModel(5)
	spec := tinyref.Spec{Dim: 16, Heads: 4, KVHeads: 2, HeadDim: 8, Layers: len(shapesModel), Eps: 1e-6,
		LayerShapes: shapesModel, Rope: tinyref.Rope{Base: 10000, NeoX: true}}
	tokens := []int32{1, 7, 3, 22, 9, 31, 5, 14, 2, 39}
	want := tinyref.Forward(tm, spec, tokens)
	for _, batch := range []int{0, 1, 3} {
		m := loadShapes(t, tm, model.Config{Threads: 2, BatchSize: batch})
		if m.Info().KVShapes == nil {
			t.Fatal("Info().KVShapes is nil for layers of different geometry")
		}
		for _, f16 := range []bool{false, true} {
			c, err := m.NewCache(32, f16)
			if err != nil {
				t.Fatal(err)
			}
			for l, sh := range shapesModel {
				if got := c.Shape(l); got != (kvcache.Shape{KVHeads: sh.KVHeads, HeadDim: sh.HeadDim}) {
					t.Fatalf("cache layer %d shape %v", l, got)
				}
			}
			logits := make([]float32, len(tokens)*40)
			if err := m.Forward(context.Background(), model.SeqBatch(c, tokens, 0, true), logits); err != nil {
				t.Fatal(err)
			}
			tol := map[bool]float64{false: 1e-4, true: 2e-2}[f16]
			if d := tinyref.MaxDiff(logits, want); d > tol {
				t.Errorf("batch %d, f16 %v: max |logit diff| %.3g > %.0e", batch, f16, d, tol)
			}
		}
	}
	m := loadShapes(t, tm, model.Config{Threads: 1})
	uniform, _ := kvcache.New(len(shapesModel), 32, 2, 8, true)
	if err := m.Forward(context.Background(), model.SeqBatch(uniform, tokens[:1], 0, false), make([]float32, 40)); err == nil {
		t.Error("a cache of one shape for every layer was accepted")
	}
}
