package decoder

import (
	"math"
	"testing"

	"github.com/ondo-ai/ondo/kernels"
	"github.com/ondo-ai/ondo/kvcache"
)

// TestTemperature checks the query multiplier of attention temperature
// tuning against llama.cpp's formula, ln(⌊(p+offset)/floor⌋ + 1)·scale + 1:
// 1 within the first floor positions, then growing in steps.
func TestTemperature(t *testing.T) {
	tp := Temperature{Scale: 0.1, Floor: 16}
	for _, p := range []int{0, 15, 16, 31, 32, 1000, 8191} {
		want := math.Log(math.Floor(float64(p)/16)+1)*0.1 + 1
		if got := tp.factor(p); math.Abs(float64(got)-want) > 1e-6 {
			t.Errorf("position %d: factor %v, want %v", p, got, want)
		}
	}
	if tp.factor(15) != 1 || tp.factor(16) == 1 {
		t.Errorf("factors %v at 15 and %v at 16: the first step is at the floor", tp.factor(15), tp.factor(16))
	}
	off := Temperature{Scale: 0.1, Floor: 16, Offset: 1}
	if off.factor(15) == 1 {
		t.Error("an offset of 1 does not move position 15 to the next step")
	}
}

// TestRotationPick checks LongRoPE's choice: the long rotation only for
// caches larger than LongAfter positions.
func TestRotationPick(t *testing.T) {
	long := kernels.Rope{Dims: 4, Base: 10000, Factors: []float32{2, 3}}
	r := Rotation{Rope: kernels.Rope{Dims: 4, Base: 10000}, Long: &long, LongAfter: 32}
	small, _ := kvcache.New(1, 32, 1, 4, false)
	big, _ := kvcache.New(1, 33, 1, 4, false)
	if r.pick(small) != &r.Rope || r.pick(big) != &long {
		t.Error("a cache of 32 positions must rotate short, one of 33 long")
	}
	plain := Rotation{Rope: r.Rope}
	if plain.pick(big) != &plain.Rope {
		t.Error("a rotation without Long must always pick Rope")
	}
}
