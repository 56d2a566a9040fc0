package gguf_test

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math"
	"os"
	"path/filepath"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/tensor"
)

// writeTiny writes a small model with WriteFile, as ExampleWriteFile shows.
func writeTiny(path string) error {
	kvs := []gguf.KV{
		gguf.NewKV("general.architecture", "llama"),
		gguf.NewKV("llama.block_count", uint32(1)),
		gguf.NewKV("llama.attention.layer_norm_rms_epsilon", float32(1e-5)),
		gguf.NewKV("tokenizer.ggml.tokens", []string{"<unk>", "<s>", "</s>", "▁안녕"}),
	}
	embd := make([]byte, 4*8*4) // 4 tokens of 8 float32s
	tensors := []gguf.TensorSpec{
		{Name: "token_embd.weight", Type: tensor.F32, Shape: []int64{8, 4}, Data: embd},
		{Name: "output_norm.weight", Type: tensor.F32, Shape: []int64{8}, Fill: func(w io.Writer) error {
			// Fill streams a tensor that need not be in memory at once.
			for range 8 {
				if err := binary.Write(w, binary.LittleEndian, float32(1)); err != nil {
					return err
				}
			}
			return nil
		}},
	}
	return gguf.WriteFile(path, kvs, tensors)
}

func ExampleWriteFile() {
	dir, err := os.MkdirTemp("", "gguf-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.gguf")
	// The file appears whole or not at all: it is written to a temporary
	// file that is renamed over path when complete.
	if err := writeTiny(path); err != nil {
		log.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(st.Size(), "bytes")
	// Output: 544 bytes
}

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "gguf-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "tiny.gguf")
	if err := writeTiny(path); err != nil {
		log.Fatal(err)
	}

	f, err := gguf.Open(path) // memory-mapped: costs no heap for the weights
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	arch, _ := f.Architecture()
	layers, _ := f.Int(arch + ".block_count")
	tokens, _ := f.Strings("tokenizer.ggml.tokens")
	fmt.Printf("%s, %d layer, %d tokens, last %q\n", arch, layers, len(tokens), tokens[len(tokens)-1])
	for _, t := range f.Tensors {
		fmt.Printf("%s %s %v at %d\n", t.Name, t.Type, t.Shape, f.DataOffset+int64(t.Offset))
	}
	norm, _ := f.Tensor("output_norm.weight")
	data := f.TensorData(norm) // a view into the mapping, valid until Close
	fmt.Println(math.Float32frombits(binary.LittleEndian.Uint32(data)))
	// Output:
	// llama, 1 layer, 4 tokens, last "▁안녕"
	// token_embd.weight F32 [8 4] at 384
	// output_norm.weight F32 [8] at 512
	// 1
}
