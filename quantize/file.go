package quantize

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/quant"
	"github.com/ondo-ai/ondo/quantize/imatrix"
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
	// Imatrix, when set, weights each tensor's quantization by its entry in
	// this importance matrix, as llama-quantize --imatrix does (one run of
	// weights per expert for stacked experts). Presets whose types
	// llama.cpp refuses to make without one need it.
	Imatrix *imatrix.Matrix
	// Progress, when set, is called after each tensor is written.
	Progress func(done, total int, name string, from, to tensor.Type)
	// Warn, when set, receives notes that do not stop the conversion, such
	// as a tensor the importance matrix has no entry for.
	Warn func(msg string)
}

// Info gathers what the mix rules need from a file's metadata.
func Info(f *gguf.File) (ModelInfo, error) {
	arch, err := f.Architecture()
	if err != nil {
		return ModelInfo{}, err
	}
	info := ModelInfo{Arch: arch}
	first := func(key string) (int, bool) {
		if v, err := f.Int(key); err == nil {
			return int(v), true
		}
		// Some families store per-layer head counts as arrays.
		if vs, err := f.Ints(key); err == nil && len(vs) > 0 {
			return int(vs[0]), true
		}
		return 0, false
	}
	info.Layers, _ = first(arch + ".block_count")
	info.Heads, _ = first(arch + ".attention.head_count")
	var ok bool
	if info.KVHeads, ok = first(arch + ".attention.head_count_kv"); !ok {
		info.KVHeads = info.Heads
	}
	info.Experts, _ = first(arch + ".expert_count")
	_, hasOutput := f.Tensor("output.weight")
	info.TiedOutput = !hasOutput
	info.AttnV = CountAttnV(tensorNames(f))
	return info, nil
}

func tensorNames(f *gguf.File) []string {
	names := make([]string, len(f.Tensors))
	for i, t := range f.Tensors {
		names[i] = t.Name
	}
	return names
}

// Plan returns the type each tensor of f gets in a file of type ft made
// without an importance matrix, in f's tensor order.
func Plan(f *gguf.File, ft FileType, pure bool) ([]tensor.Type, error) {
	return PlanWith(f, ft, Options{Pure: pure})
}

// PlanWith is Plan under opt: its Pure and whether it has an importance
// matrix (which changes some presets' choices).
func PlanWith(f *gguf.File, ft FileType, opt Options) ([]tensor.Type, error) {
	info, err := Info(f)
	if err != nil {
		return nil, err
	}
	p := NewPlanner(ft, info)
	p.Pure = opt.Pure
	p.Imatrix = opt.Imatrix != nil && len(opt.Imatrix.Entries) > 0
	types := make([]tensor.Type, len(f.Tensors))
	for _, i := range Order(tensorNames(f)) {
		t := &f.Tensors[i]
		if types[i], err = p.Choose(t.Name, t.Type, t.Shape); err != nil {
			return nil, err
		}
	}
	return types, nil
}

// experts is the number of matrices a weight stacks (its third dimension).
func experts(shape []int64) int64 {
	if len(shape) > 2 {
		return shape[2]
	}
	return 1
}

// weights finds each converted tensor's importance matrix and applies
// llama.cpp's checks: without a matrix, a preset that makes a type
// llama.cpp refuses to make without one is refused; with one, a tensor of
// such a type must have an entry, and every entry must fit its tensor
// (the token embeddings excepted, whose mismatched entry is ignored).
func weights(f *gguf.File, ft FileType, types []tensor.Type, opt Options) ([][]float32, error) {
	out := make([][]float32, len(f.Tensors))
	m := opt.Imatrix
	if m != nil && len(m.Entries) == 0 {
		m = nil
	}
	for _, i := range Order(tensorNames(f)) {
		t := &f.Tensors[i]
		if !quantizable(t.Name, len(t.Shape)) {
			continue
		}
		needs := RequiresImatrix(t.Name, types[i], ft)
		if m == nil {
			if needs {
				return nil, fmt.Errorf("quantize: %s requires an importance matrix: llama.cpp refuses to make tensor %s %s without one "+
					"(\"this quantization requires an imatrix!\"); compute one with llama-imatrix and pass it (ondo quantize --imatrix FILE)",
					ft, t.Name, types[i])
			}
			continue
		}
		if types[i] == t.Type {
			continue
		}
		w, found, err := m.Lookup(t.Name, t.Shape[0], experts(t.Shape))
		switch {
		case err != nil && isTokenEmbd(t.Name):
			if opt.Warn != nil {
				opt.Warn(fmt.Sprintf("%v; quantizing it without one", err))
			}
		case err != nil:
			return nil, fmt.Errorf("quantize: %w", err)
		case !found && !needs && opt.Warn != nil:
			opt.Warn(fmt.Sprintf("the importance matrix has no entry for %s; quantizing it without one", t.Name))
		}
		if w == nil && needs {
			return nil, fmt.Errorf("quantize: missing importance matrix for tensor %s in a very low-bit quantization (%s): llama.cpp refuses, as the result would be garbage", t.Name, types[i])
		}
		out[i] = w
	}
	return out, nil
}

// imatrixKVs are the metadata llama-quantize records about the importance
// matrix it used (strings cut to 127 bytes, as llama.cpp's overrides are).
func imatrixKVs(m *imatrix.Matrix) []gguf.KV {
	if m == nil || len(m.Entries) == 0 {
		return nil
	}
	cut := func(s string) string {
		if len(s) > 127 {
			return s[:127]
		}
		return s
	}
	kvs := []gguf.KV{gguf.NewKV("quantize.imatrix.file", cut(m.Path))}
	if len(m.Datasets) > 0 {
		kvs = append(kvs, gguf.NewKV("quantize.imatrix.dataset", cut(m.Datasets[0])))
	}
	kvs = append(kvs, gguf.NewKV("quantize.imatrix.entries_count", uint32(len(m.Entries))))
	if m.Chunks > 0 {
		kvs = append(kvs, gguf.NewKV("quantize.imatrix.chunks_count", uint32(m.Chunks)))
	}
	return kvs
}

// File converts the GGUF at in to type ft and writes it atomically to out:
// metadata and tensors in the order llama.cpp's quantizer writes them, so
// that the file is the one llama.cpp would write.
func File(in, out string, ft FileType, opt Options) error {
	if err := notSameFile(in, out); err != nil {
		return err
	}
	f, err := gguf.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	types, err := PlanWith(f, ft, opt)
	if err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	ws, err := weights(f, ft, types, opt)
	if err != nil {
		return err
	}
	// llama.cpp sets these keys last, replacing any the input had.
	set := append([]gguf.KV{gguf.NewKV("general.quantization_version", uint32(2)), gguf.NewKV("general.file_type", uint32(ft))}, imatrixKVs(opt.Imatrix)...)
	kvs := make([]gguf.KV, 0, len(f.KV)+len(set))
	for _, kv := range f.KV {
		if !slices.ContainsFunc(set, func(s gguf.KV) bool { return s.Key == kv.Key }) {
			kvs = append(kvs, kv)
		}
	}
	kvs = append(kvs, set...)
	threads := opt.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	order := Order(tensorNames(f))
	specs := make([]gguf.TensorSpec, len(order))
	for k, i := range order {
		src := &f.Tensors[i]
		to := types[i]
		if to != src.Type && src.Type.BlockSize() > 1 && !opt.AllowRequantize {
			return fmt.Errorf("quantize: tensor %q is already %s; requantizing loses quality (allow it explicitly)", src.Name, src.Type)
		}
		if to != src.Type && !quant.DequantizeSupported(src.Type) {
			return fmt.Errorf("quantize: tensor %q: cannot convert from %s", src.Name, src.Type)
		}
		if to != src.Type && !quant.QuantizeSupported(to) && ws[i] == nil {
			return fmt.Errorf("quantize: tensor %q: cannot quantize to %s", src.Name, to)
		}
		specs[k] = gguf.TensorSpec{Name: src.Name, Type: to, Shape: src.Shape, Fill: func(w io.Writer) error {
			data := f.TensorData(src)
			if to == src.Type {
				if _, err := w.Write(data); err != nil {
					return err
				}
			} else if err := ConvertWeighted(w, src.Type, to, data, src.Shape[0], src.Rows(), ws[i], threads); err != nil {
				return fmt.Errorf("tensor %s: %w", src.Name, err)
			}
			if opt.Progress != nil {
				opt.Progress(k+1, len(specs), src.Name, src.Type, to)
			}
			return nil
		}}
	}
	return gguf.WriteFile(out, kvs, specs)
}

// Convert re-encodes rows of cols elements from type `from` to type `to`,
// spreading chunks of rows over threads and writing them in order.
func Convert(w io.Writer, from, to tensor.Type, data []byte, cols, rows int64, threads int) error {
	return ConvertWeighted(w, from, to, data, cols, rows, nil, threads)
}

// ignoresImatrix are the target types whose llama.cpp quantizer takes an
// importance matrix and does not use it (besides those package quant
// already treats so).
func ignoresImatrix(t tensor.Type) bool {
	return t == tensor.F32 || t == tensor.F16 || t == tensor.BF16 || t == tensor.Q8_0
}

// ConvertWeighted is Convert under an importance matrix: imatrix holds
// cols weights per stacked matrix (expert), and the rows are split evenly
// among the matrices, each quantized under its own weights; nil means none.
func ConvertWeighted(w io.Writer, from, to tensor.Type, data []byte, cols, rows int64, imatrix []float32, threads int) error {
	inRow, err := from.RowSize(cols)
	if err != nil {
		return err
	}
	outRow, err := to.RowSize(cols)
	if err != nil {
		return err
	}
	if ignoresImatrix(to) {
		imatrix = nil
	}
	perMatrix := rows
	if imatrix != nil {
		var n int64
		if cols > 0 {
			n = int64(len(imatrix)) / cols
		}
		if n == 0 || int64(len(imatrix))%cols != 0 || rows%n != 0 {
			return fmt.Errorf("quantize: an importance matrix of %d weights does not fit %d rows of %d columns", len(imatrix), rows, cols)
		}
		perMatrix = rows / n
	}
	if threads <= 0 {
		threads = 1
	}
	// Chunks of about 1 MiB of floats keep memory flat for huge tensors;
	// no chunk crosses from one matrix's rows to the next.
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
					if imatrix == nil {
						j.err = quant.Quantize(to, x, j.out)
					} else {
						m := j.start / perMatrix
						j.err = quant.QuantizeWeighted(to, x, imatrix[m*cols:(m+1)*cols], j.out)
					}
				}
				close(j.done)
			}
		}()
	}
	go func() {
		for start := int64(0); start < rows; {
			n := min(chunk, rows-start, perMatrix-start%perMatrix)
			j := &job{start: start, n: n, out: make([]byte, n*outRow), done: make(chan struct{})}
			results <- j
			jobs <- j
			start += n
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
