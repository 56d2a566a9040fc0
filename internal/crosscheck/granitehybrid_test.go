package crosscheck

import "testing"

// TestGraniteHybridCrossCheckCanFail shows the Granite 4.0 hybrid
// cross-check sees the parts of the Mamba-2 layers.
func TestGraniteHybridCrossCheckCanFail(t *testing.T) {
	zero := func(int, float32) float32 { return 0 }
	checkMutations(t, "granitehybrid mamba2-8-layers", []mutation{
		{"no decay (ssm_a zeroed)", editF32("ssm_a", zero)},
		{"skip connection D zeroed", editF32("ssm_d", zero)},
		{"convolution bias zeroed", editF32("ssm_conv1d.bias", zero)},
		{"step bias raised by 6", editF32("ssm_dt.bias", func(_ int, v float32) float32 { return v + 6 })},
		{"convolution's oldest tap zeroed", editF32("ssm_conv1d.weight", func(i int, v float32) float32 {
			if i%4 == 0 {
				return 0
			}
			return v
		})},
		{"group norm halved", editF32("ssm_norm.weight", func(_ int, v float32) float32 { return v / 2 })},
	})
}
