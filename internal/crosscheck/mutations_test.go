package crosscheck

import (
	"context"
	"encoding/binary"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
)

// fileEdit rewrites a GGUF file: the metadata and tensors to write instead.
type fileEdit func(*gguf.File) ([]gguf.KV, []gguf.TensorSpec)

// mutation is a named change to a model file that ondo must notice.
type mutation struct {
	name string
	edit fileEdit
}

// familyCase returns the case of familyCases called name.
func familyCase(t *testing.T, name string) qwenPhiCase {
	t.Helper()
	for _, c := range familyCases {
		if c.name == name {
			return c
		}
	}
	t.Fatalf("no case %q", name)
	return qwenPhiCase{}
}

// editKV sets metadata key to v.
func editKV(key string, v any) fileEdit {
	return func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) { return setKV(f, key, v), copyTensors(f, nil) }
}

// editTensors passes the bytes of the tensors whose names end in suffix
// through change (given a copy).
func editTensors(suffix string, change func([]byte) []byte) fileEdit {
	return func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
		return f.KV, copyTensors(f, func(name string, data []byte) []byte {
			if !strings.HasSuffix(name, suffix) {
				return data
			}
			return change(append([]byte(nil), data...))
		})
	}
}

// zeroTensors zeroes the tensors whose names end in suffix.
func zeroTensors(suffix string) fileEdit {
	return editTensors(suffix, func(b []byte) []byte { return make([]byte, len(b)) })
}

// editF32 changes each value of the float32 tensors whose names end in
// suffix: element i becomes change(i, v).
func editF32(suffix string, change func(i int, v float32) float32) fileEdit {
	return editTensors(suffix, func(b []byte) []byte {
		for i := 0; i < len(b)/4; i++ {
			v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(change(i, v)))
		}
		return b
	})
}

// checkMutations shows a family's cross-check sees each changed part: ondo
// on a copy of the case's F32 file with one mutation lands far (10× the
// tolerance) outside llama.cpp's log-probabilities on the original.
func checkMutations(t *testing.T, caseName string, ms []mutation) {
	t.Helper()
	lc := llamaCpp(t)
	dir := t.TempDir()
	path := qwenPhiModel(t, dir, familyCase(t, caseName), "F32")
	toks := prompt(promptLen, 512)
	ref, err := lc.Eval(context.Background(), path, toks, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		wrong := rewrite(t, path, filepath.Join(dir, "wrong.gguf"), m.edit)
		diff, _ := compare(runOndo(t, wrong, toks, 1), result{logprobs: ref.LogProbs})
		t.Logf("%s: max |Δ log-prob| %.3g", m.name, diff)
		if diff < 10*qwenPhiTypes[0].tol {
			t.Errorf("%s: difference %.3g is not far outside the tolerance %.0e", m.name, diff, qwenPhiTypes[0].tol)
		}
	}
}
