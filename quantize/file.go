package quantize

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/tensor"
)

// Options tune a conversion.
type Options struct {
	// Threads quantizing rows in parallel; 0 means all CPUs.
	Threads int
	// AllowRequantize lets already-quantized tensors be dequantized and
	// quantized again, which loses quality; llama.cpp refuses by default too.
	AllowRequantize bool
	// Pure skips the preset's mix rules (llama.cpp's --pure).
	Pure bool
	// Progress, when set, is called after each tensor is written.
	Progress func(done, total int, name string, from, to tensor.Type)
}

// Info gathers what the mix rules need from a file's metadata.
func Info(f *gguf.File) (ModelInfo, error) {
	arch, err := f.Architecture()
	if err != nil {
		return ModelInfo{}, err
	}
	info := ModelInfo{Arch: arch}
	first := func(key string) int {
		if v, err := f.Int(key); err == nil {
			return int(v)
		}
		// Some families store per-layer head counts as arrays.
		if vs, err := f.Ints(key); err == nil && len(vs) > 0 {
			return int(vs[0])
		}
		return 0
	}
	info.Layers = first(arch + ".block_count")
	info.Heads = first(arch + ".attention.head_count")
	info.KVHeads = first(arch + ".attention.head_count_kv")
	if info.KVHeads == 0 {
		info.KVHeads = info.Heads
	}
	info.Experts = first(arch + ".expert_count")
	_, hasOutput := f.Tensor("output.weight")
	info.TiedOutput = !hasOutput
	names := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		names[i] = t.Name
	}
	info.AttnV = CountAttnV(names)
	return info, nil
}

// Plan returns the type each tensor of f gets in a file of type ft.
func Plan(f *gguf.File, ft FileType, pure bool) ([]tensor.Type, error) {
	info, err := Info(f)
	if err != nil {
		return nil, err
	}
	p := NewPlanner(ft, info)
	p.Pure = pure
	types := make([]tensor.Type, len(f.Tensors))
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if types[i], err = p.Choose(t.Name, t.Type, t.Shape); err != nil {
			return nil, err
		}
	}
	return types, nil
}

// File converts the GGUF at in to type ft and writes it atomically to out.
func File(in, out string, ft FileType, opt Options) error {
	if err := notSameFile(in, out); err != nil {
		return err
	}
	f, err := gguf.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	types, err := Plan(f, ft, opt.Pure)
	if err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	kvs := make([]gguf.KV, 0, len(f.KV)+2)
	for _, kv := range f.KV {
		if kv.Key != "general.file_type" && kv.Key != "general.quantization_version" {
			kvs = append(kvs, kv)
		}
	}
	kvs = append(kvs, gguf.NewKV("general.quantization_version", uint32(2)), gguf.NewKV("general.file_type", uint32(ft)))
	threads := opt.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	specs := make([]gguf.TensorSpec, len(f.Tensors))
	for i := range f.Tensors {
		src := &f.Tensors[i]
		to := types[i]
		if to != src.Type && src.Type.BlockSize() > 1 && !opt.AllowRequantize {
			return fmt.Errorf("quantize: tensor %q is already %s; requantizing loses quality (allow it explicitly)", src.Name, src.Type)
		}
		if to != src.Type && !quant.DequantizeSupported(src.Type) {
			return fmt.Errorf("quantize: tensor %q: cannot convert from %s", src.Name, src.Type)
		}
		if to != src.Type && !quant.QuantizeSupported(to) {
			return fmt.Errorf("quantize: tensor %q: cannot quantize to %s", src.Name, to)
		}
		specs[i] = gguf.TensorSpec{Name: src.Name, Type: to, Shape: src.Shape, Fill: func(w io.Writer) error {
			data := f.TensorData(src)
			if to == src.Type {
				if _, err := w.Write(data); err != nil {
					return err
				}
			} else if err := Convert(w, src.Type, to, data, src.Shape[0], src.Rows(), threads); err != nil {
				return err
			}
			if opt.Progress != nil {
				opt.Progress(i+1, len(specs), src.Name, src.Type, to)
			}
			return nil
		}}
	}
	return gguf.WriteFile(out, kvs, specs)
}

// Convert re-encodes rows of cols elements from type `from` to type `to`,
// spreading chunks of rows over threads and writing them in order.
func Convert(w io.Writer, from, to tensor.Type, data []byte, cols, rows int64, threads int) error {
	inRow, err := from.RowSize(cols)
	if err != nil {
		return err
	}
	outRow, err := to.RowSize(cols)
	if err != nil {
		return err
	}
	// Chunks of about 1 MiB of floats keep memory flat for huge tensors.
	chunk := max(1, (1<<18)/cols)
	type job struct {
		start, n int64
		out      []byte
		err      error
		done     chan struct{}
	}
	jobs := make(chan *job, threads)
	results := make(chan *job, threads*2)
	var wg sync.WaitGroup
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]float32, chunk*cols)
			for j := range jobs {
				x := buf[:j.n*cols]
				j.err = quant.Dequantize(from, data[j.start*inRow:(j.start+j.n)*inRow], x)
				if j.err == nil {
					j.err = quant.Quantize(to, x, j.out)
				}
				close(j.done)
			}
		}()
	}
	go func() {
		for start := int64(0); start < rows; start += chunk {
			n := min(chunk, rows-start)
			j := &job{start: start, n: n, out: make([]byte, n*outRow), done: make(chan struct{})}
			results <- j
			jobs <- j
		}
		close(jobs)
		close(results)
	}()
	var firstErr error
	for j := range results {
		<-j.done
		if firstErr == nil {
			if j.err != nil {
				firstErr = j.err
			} else if _, err := w.Write(j.out); err != nil {
				firstErr = err
			}
		}
	}
	wg.Wait()
	return firstErr
}

func notSameFile(in, out string) error {
	a, err := filepath.Abs(in)
	if err != nil {
		return err
	}
	b, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if a == b {
		return fmt.Errorf("quantize: output %s is the input file; refusing to overwrite it", out)
	}
	si, err1 := os.Stat(in)
	so, err2 := os.Stat(out)
	if err1 == nil && err2 == nil && os.SameFile(si, so) {
		return fmt.Errorf("quantize: output %s is the input file; refusing to overwrite it", out)
	}
	return nil
}
