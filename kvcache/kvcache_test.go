package kvcache

import (
	"slices"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/quant"
)

func TestNewErrors(t *testing.T) {
	for _, g := range [][4]int{{0, 8, 2, 4}, {2, 0, 2, 4}, {2, 8, 0, 4}, {2, 8, 2, -1}, {1 << 20, 1 << 20, 64, 128}} {
		if _, err := New(g[0], g[1], g[2], g[3], true); err == nil {
			t.Errorf("New%v: no error", g)
		}
	}
}

func TestPutAndRead(t *testing.T) {
	for _, f16 := range []bool{false, true} {
		c, err := New(3, 5, 2, 4, f16)
		if err != nil {
			t.Fatal(err)
		}
		if c.Len() != 0 || c.Size() != 5 || c.Layers() != 3 || c.KVHeads() != 2 || c.HeadDim() != 4 || c.F16() != f16 {
			t.Fatalf("accessors of %+v", c)
		}
		per := int64(4)
		if f16 {
			per = 2
		}
		if got, want := c.Bytes(), 2*per*3*5*8; got != want {
			t.Errorf("Bytes %d, want %d", got, want)
		}
		k := []float32{1, 2, 3, 4, 5, 6, 7, 8.001}
		v := []float32{-1, -2, -3, -4, -5, -6, -7, 0.1}
		if err := c.Put(1, 3, k, v); err != nil {
			t.Fatal(err)
		}
		at := func(i int) (float32, float32) {
			off := 3*8 + i
			if f16 {
				k16, v16 := c.LayerF16(1)
				return quant.FP16ToFloat32(k16[off]), quant.FP16ToFloat32(v16[off])
			}
			k32, v32 := c.LayerF32(1)
			return k32[off], v32[off]
		}
		for i := range k {
			gk, gv := at(i)
			wk, wv := k[i], v[i]
			if f16 {
				wk, wv = quant.FP16ToFloat32(quant.Float32ToFP16(wk)), quant.FP16ToFloat32(quant.Float32ToFP16(wv))
			}
			if gk != wk || gv != wv {
				t.Errorf("f16=%v element %d: got %v,%v want %v,%v", f16, i, gk, gv, wk, wv)
			}
		}
		if k16, _ := c.LayerF16(0); (k16 != nil) != f16 {
			t.Errorf("LayerF16 on f16=%v cache", f16)
		}
		if k32, _ := c.LayerF32(0); (k32 != nil) == f16 {
			t.Errorf("LayerF32 on f16=%v cache", f16)
		}
		if err := c.Put(3, 0, k, v); err == nil {
			t.Error("Put to layer 3 of 3 accepted")
		}
		if err := c.Put(0, 0, k[:7], v); err == nil {
			t.Error("short key row accepted")
		}
	}
}

func TestCapacity(t *testing.T) {
	c, err := New(1, 2048, 1, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	row := []float32{1, 2}
	if err := c.Put(0, 2047, row, row); err != nil {
		t.Fatal(err)
	}
	err = c.Put(0, 2048, row, row)
	if err == nil || err.Error() != "kvcache: position 2048 beyond context size 2048" {
		t.Fatalf("error %v", err)
	}
	if err := c.Check(2040, 8); err != nil {
		t.Errorf("Check(2040, 8): %v", err)
	}
	err = c.Check(2040, 9)
	if err == nil || err.Error() != "kvcache: position 2048 beyond context size 2048" {
		t.Errorf("Check(2040, 9): %v", err)
	}
	if err := c.Check(-1, 1); err == nil {
		t.Error("negative position accepted")
	}
}

func TestCommitTruncate(t *testing.T) {
	c, err := New(1, 8, 1, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		op   string
		n    int
		want int
		err  string
	}{
		{"commit", 5, 5, ""},
		{"commit", 4, 5, "commit to 4 with 5 filled"},
		{"commit", 9, 5, "context size 8"},
		{"truncate", 6, 5, "truncate to 6, only 5 positions filled"},
		{"truncate", 2, 2, ""},
		{"truncate", -1, 2, "truncate to -1"},
		{"commit", 8, 8, ""},
		{"truncate", 0, 0, ""},
	}
	for _, s := range steps {
		var err error
		if s.op == "commit" {
			err = c.Commit(s.n)
		} else {
			err = c.Truncate(s.n)
		}
		if (err == nil) != (s.err == "") || err != nil && !strings.Contains(err.Error(), s.err) {
			t.Errorf("%s(%d): error %v, want %q", s.op, s.n, err, s.err)
		}
		if c.Len() != s.want {
			t.Errorf("%s(%d): Len %d, want %d", s.op, s.n, c.Len(), s.want)
		}
	}
	c.Commit(3)
	c.Reset()
	if c.Len() != 0 {
		t.Errorf("Len after Reset: %d", c.Len())
	}
}

// TestShaped checks a cache whose layers differ in geometry: each layer
// stores and returns rows of its own width, and Bytes counts them.
func TestShaped(t *testing.T) {
	shapes := []Shape{{KVHeads: 2, HeadDim: 4}, {KVHeads: 1, HeadDim: 16}}
	c, err := NewShaped(5, false, shapes, Sliding{})
	if err != nil {
		t.Fatal(err)
	}
	for l, sh := range shapes {
		w := sh.KVHeads * sh.HeadDim
		k, v := make([]float32, w), make([]float32, w)
		for i := range k {
			k[i], v[i] = float32(l*100+i), float32(-l*100-i)
		}
		if err := c.Put(l, 3, k, v); err != nil {
			t.Fatal(err)
		}
		if err := c.Put(l, 3, k[:w-1], v); err == nil {
			t.Errorf("layer %d: a row of %d accepted for width %d", l, w-1, w)
		}
		ks, vs := c.LayerF32(l)
		if len(ks) != 5*w || ks[3*w+w-1] != k[w-1] || vs[3*w] != v[0] || c.Shape(l) != sh {
			t.Errorf("layer %d: %d values, row 3 ends %v, shape %v", l, len(ks), ks[3*w+w-1], c.Shape(l))
		}
	}
	if want := int64(2 * 4 * 5 * (8 + 16)); c.Bytes() != want {
		t.Errorf("Bytes %d, want %d", c.Bytes(), want)
	}
	if _, err := NewShaped(5, false, []Shape{{KVHeads: 1, HeadDim: 0}}, Sliding{}); err == nil {
		t.Error("a layer of head size 0 accepted")
	}
}

// TestValuesAreKeys checks a layer whose values are its keys (latent
// attention): stored once, read back as both, counted once in Bytes, and
// beside an ordinary layer whose values stay its own.
func TestValuesAreKeys(t *testing.T) {
	for _, f16 := range []bool{false, true} {
		c, err := NewShaped(4, f16, []Shape{{KVHeads: 1, HeadDim: 8, VIsK: true}, {KVHeads: 2, HeadDim: 4}}, Sliding{})
		if err != nil {
			t.Fatal(err)
		}
		per := int64(4)
		if f16 {
			per = 2
		}
		if got, want := c.Bytes(), per*(4*8+2*4*8); got != want {
			t.Errorf("f16 %v: Bytes %d, want %d (the shared layer once)", f16, got, want)
		}
		k := []float32{1, 2, 3, 4, 5, 6, 7, 8}
		v := []float32{-1, -2, -3, -4, -5, -6, -7, -8}
		for l := range 2 {
			if err := c.Put(l, 2, k, v); err != nil {
				t.Fatal(err)
			}
		}
		read := func(l int) (kr, vr []float32) {
			if f16 {
				k16, v16 := c.LayerF16(l)
				kr, vr = make([]float32, 8), make([]float32, 8)
				for i := range 8 {
					kr[i], vr[i] = quant.FP16ToFloat32(k16[2*8+i]), quant.FP16ToFloat32(v16[2*8+i])
				}
				return kr, vr
			}
			k32, v32 := c.LayerF32(l)
			return k32[2*8 : 3*8], v32[2*8 : 3*8]
		}
		kr, vr := read(0)
		if !slices.Equal(kr, k) || !slices.Equal(vr, k) {
			t.Errorf("f16 %v: shared layer keys %v values %v, want the keys twice", f16, kr, vr)
		}
		kr, vr = read(1)
		if !slices.Equal(kr, k) || !slices.Equal(vr, v) {
			t.Errorf("f16 %v: ordinary layer keys %v values %v", f16, kr, vr)
		}
	}
}
