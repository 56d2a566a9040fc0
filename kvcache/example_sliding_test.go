package kvcache_test

import (
	"fmt"

	"github.com/ondo-ai/ondo/kvcache"
)

// The fp16 cache of a model shaped like Gemma 3 1B (26 layers, one KV head
// of 256) for 4096 positions: five of every six layers attend over a window
// of 512, so with passes of up to 512 tokens they keep 512−1+512 positions
// in a ring; the global layers keep all 4096.
func ExampleNewSliding() {
	const layers, size = 26, 4096
	sliding := make([]bool, layers)
	for l := range sliding {
		sliding[l] = l%6 < 5
	}
	c, err := kvcache.NewSliding(layers, size, 1, 256, true, kvcache.Sliding{Window: 512, Batch: 512, Layers: sliding})
	if err != nil {
		panic(err)
	}
	full := int64(layers) * size * 256 * 2 * 2 // keys and values, 2 bytes each
	fmt.Printf("layer 0 holds %d positions, layer 5 %d\n", c.Slots(0), c.Slots(5))
	fmt.Printf("%.1f MiB instead of %.0f MiB\n", float64(c.Bytes())/(1<<20), float64(full)/(1<<20))
	// Output:
	// layer 0 holds 1023 positions, layer 5 4096
	// 38.0 MiB instead of 104 MiB
}
