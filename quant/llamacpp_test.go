package quant_test

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// llamaFiles are the files llama.cpp quantized from synth-llama-f32.gguf.
var llamaFiles = []string{"F16", "BF16", "Q8_0", "Q4_0", "Q2_K", "Q4_K_M", "Q5_K_M", "Q6_K"}

// loadF32 returns every tensor of the F32 source model as float32s.
func loadF32(t *testing.T, path string) map[string][]float32 {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := make(map[string][]float32, len(f.Tensors))
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if ti.Type != tensor.F32 {
			t.Fatalf("%s: tensor %s is %v, want F32", path, ti.Name, ti.Type)
		}
		v := make([]float32, ti.Elements())
		if err := quant.Dequantize(tensor.F32, f.TensorData(ti), v); err != nil {
			t.Fatal(err)
		}
		out[ti.Name] = v
	}
	return out
}

// TestMatchesLlamaCpp quantizes the F32 source model tensor by tensor to
// whatever type llama.cpp chose for it and requires the very bytes
// llama.cpp wrote; it then requires identical dequantized values.
func TestMatchesLlamaCpp(t *testing.T) {
	dir := filepath.Join(testdata.Dir(t), "llamacpp-quant")
	src := loadF32(t, filepath.Join(dir, "synth-llama-f32.gguf"))

	type tally struct{ match, total int }
	summary := map[string]map[tensor.Type]*tally{}
	for _, name := range llamaFiles {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, "synth-llama-"+name+".gguf")
			f, err := gguf.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			perType := map[tensor.Type]*tally{}
			summary[name] = perType
			for i := range f.Tensors {
				ti := &f.Tensors[i]
				x, ok := src[ti.Name]
				if !ok {
					t.Errorf("%s: tensor %s not in the F32 model", name, ti.Name)
					continue
				}
				if int64(len(x)) != ti.Elements() {
					t.Errorf("%s: %s has %d elements, F32 source %d", name, ti.Name, ti.Elements(), len(x))
					continue
				}
				want := f.TensorData(ti)
				tl := perType[ti.Type]
				if tl == nil {
					tl = &tally{}
					perType[ti.Type] = tl
				}
				tl.total++

				got := make([]byte, len(want))
				if err := quant.Quantize(ti.Type, x, got); err != nil {
					t.Errorf("%s: %s: %v", name, ti.Name, err)
					continue
				}
				if !bytes.Equal(got, want) {
					t.Errorf("%s: %s (%v, shape %v): quantized bytes differ from llama.cpp's: %s",
						name, ti.Name, ti.Type, ti.Shape, describeDiff(ti.Type, got, want))
				} else {
					tl.match++
				}

				// Dequantize both and compare exactly (bit patterns, so
				// that NaN or -0 differences would show too).
				dWant := make([]float32, len(x))
				dGot := make([]float32, len(x))
				if err := quant.Dequantize(ti.Type, want, dWant); err != nil {
					t.Errorf("%s: %s: %v", name, ti.Name, err)
					continue
				}
				if err := quant.Dequantize(ti.Type, got, dGot); err != nil {
					t.Errorf("%s: %s: %v", name, ti.Name, err)
					continue
				}
				for j := range dWant {
					if math.Float32bits(dWant[j]) != math.Float32bits(dGot[j]) {
						t.Errorf("%s: %s: dequantized element %d: ours %g, llama.cpp's %g", name, ti.Name, j, dGot[j], dWant[j])
						break
					}
				}
			}
		})
	}

	// Report which types matched byte-exactly, per file.
	for _, name := range llamaFiles {
		perType := summary[name]
		var types []tensor.Type
		for ty := range perType {
			types = append(types, ty)
		}
		sort.Slice(types, func(i, j int) bool { return types[i] < types[j] })
		var parts []string
		for _, ty := range types {
			parts = append(parts, fmt.Sprintf("%v %d/%d", ty, perType[ty].match, perType[ty].total))
		}
		t.Logf("%-7s byte-exact tensors: %s", name, strings.Join(parts, ", "))
	}
}

// describeDiff summarises where two encodings differ, by block.
func describeDiff(ty tensor.Type, got, want []byte) string {
	bs := ty.TypeSize()
	first, n := -1, 0
	for i := 0; i < len(got); i += bs {
		if !bytes.Equal(got[i:i+bs], want[i:i+bs]) {
			if first < 0 {
				first = i / bs
			}
			n++
		}
	}
	if first < 0 {
		return "no block differs"
	}
	return fmt.Sprintf("%d of %d blocks differ, first block %d: ours % x, llama.cpp's % x",
		n, len(got)/bs, first, got[first*bs:(first+1)*bs], want[first*bs:(first+1)*bs])
}
