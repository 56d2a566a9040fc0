package layers

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/kvcache"
)

// BenchmarkAttentionDecode measures one decoding step's attention in one
// layer of a Llama-3.2-1B shape (32 query heads, 8 key/value heads of 64)
// over an fp16 cache holding depth positions.
func BenchmarkAttentionDecode(b *testing.B) {
	a := Attention{Heads: 32, KVHeads: 8, HeadDim: 64, Scale: 0.125}
	r := rand.New(rand.NewPCG(1, 1))
	kv := make([]float32, a.KVHeads*a.HeadDim)
	for _, depth := range []int{512, 2048, 4096} {
		c, err := kvcache.New(1, depth+1, a.KVHeads, a.HeadDim, true)
		if err != nil {
			b.Fatal(err)
		}
		for p := range depth {
			for i := range kv {
				kv[i] = float32(r.NormFloat64())
			}
			if err := a.Store([]*kvcache.Cache{c}, []int{p}, 0, kv, kv); err != nil {
				b.Fatal(err)
			}
		}
		q := make([]float32, a.Heads*a.HeadDim)
		for i := range q {
			q[i] = float32(r.NormFloat64())
		}
		out := make([]float32, len(q))
		for _, threads := range []int{1, 2} {
			p := kernels.NewPool(threads)
			b.Run(fmt.Sprintf("depth=%d/threads=%d", depth, threads), func(b *testing.B) {
				for b.Loop() {
					if err := a.Store([]*kvcache.Cache{c}, []int{depth}, 0, kv, kv); err != nil {
						b.Fatal(err)
					}
					a.Forward(p, out, q, []*kvcache.Cache{c}, []int{depth}, 0)
				}
			})
		}
	}
}
