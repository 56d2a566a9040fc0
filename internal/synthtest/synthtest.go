// Package synthtest loads synthetic models (package synth) in the families'
// tests, optionally after rewriting the file's metadata or tensors.
package synthtest

import (
	"path/filepath"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/synth"
)

// Edit rewrites a file: the metadata and tensors to write instead of f's.
type Edit func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec)

// Open writes the model c describes, rewrites it with edit when not nil,
// and loads it with 2 threads and passes of 5 tokens. The model and file
// are closed when the test ends.
func Open(t *testing.T, c synth.Config, edit Edit) (model.Model, error) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "m.gguf")
	if err := synth.Write(path, c); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		f, err := gguf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		kvs, specs := edit(f)
		f.Close()
		path = filepath.Join(dir, "edited.gguf")
		if err := gguf.WriteFile(path, kvs, specs); err != nil {
			t.Fatal(err)
		}
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	m, err := model.Load(f, model.Config{Threads: 2, BatchSize: 5})
	if err == nil {
		t.Cleanup(func() { m.Close() })
	}
	return m, err
}

// Set is the edit that sets metadata key to v (added when absent, removed
// when v is nil) and drops the tensor named drop (none when empty).
func Set(key string, v any, drop string) Edit {
	return func(f *gguf.File) ([]gguf.KV, []gguf.TensorSpec) {
		var kvs []gguf.KV
		found := false
		for _, kv := range f.KV {
			if kv.Key == key {
				found = true
				if v == nil {
					continue
				}
				kv = gguf.NewKV(key, v)
			}
			kvs = append(kvs, kv)
		}
		if !found && v != nil && key != "" {
			kvs = append(kvs, gguf.NewKV(key, v))
		}
		var specs []gguf.TensorSpec
		for i := range f.Tensors {
			ti := &f.Tensors[i]
			if ti.Name == drop {
				continue
			}
			specs = append(specs, gguf.TensorSpec{Name: ti.Name, Type: ti.Type, Shape: ti.Shape, Data: append([]byte(nil), f.TensorData(ti)...)})
		}
		return kvs, specs
	}
}
