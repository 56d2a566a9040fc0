package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/membw"
	"github.com/ondo-ai/ondo/model"
	_ "github.com/ondo-ai/ondo/model/all" // register every architecture
	"github.com/ondo-ai/ondo/quantize"
)

// benchOptions are the flags of `ondo bench`.
type benchOptions struct {
	model    string
	pp, tg   int
	threads  int
	reps     int
	warmupPP int
	asJSON   bool
	membw    bool
	membwMiB int
	cpuProf  string
	depth    int
}

func init() {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench --model FILE [--pp 512] [--tg 128] [--threads N] [--reps 5] [--json]",
		Short: "Measure prompt processing and generation speed, or memory bandwidth",
		Long: `Measure a model's speed the way llama.cpp's llama-bench does.

pp (prompt processing) is tokens/s evaluating one batch of --pp tokens from an
empty cache; tg (text generation) is tokens/s evaluating --tg tokens one at a
time from an empty cache, or with --depth N after N prompt tokens (llama-bench's
-d: generation speed at that context length). Only the forward pass is timed: the tokens are fixed
pseudo-random ids, nothing is sampled. A warm-up (one batch of --warmup-pp
tokens, by default --pp, and one tg step) runs before the timed repetitions;
--warmup-pp 0 skips it. The figures are the median of --reps.
The KV cache is fp16. peak_rss_bytes is the process's peak resident set
(VmHWM on Linux, ru_maxrss on other Unix systems, 0 where unavailable); the
model file is memory-mapped, so it counts the weight pages read.

With --membw, bench instead measures streaming-read memory bandwidth: it
reads a --membw-mib buffer --reps times with 1, 2, … --threads goroutines
(default: GOMAXPROCS) and reports the best pass in GB/s (10⁹ bytes/s). Token
generation reads every weight once per token, so bandwidth divided by the
weight bytes bounds tg.`,
		Example: `  ondo bench --model model.gguf --threads 2
  ondo bench --model model.gguf --pp 512 --tg 128 --reps 1 --json
  ondo bench --membw --threads 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.membw {
				return runMembw(cmd, o)
			}
			if !cmd.Flags().Changed("warmup-pp") {
				o.warmupPP = o.pp
			}
			return runBench(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.model, "model", "", "GGUF model file")
	f.IntVar(&o.pp, "pp", 512, "prompt tokens evaluated in one batch")
	f.IntVar(&o.tg, "tg", 128, "tokens generated one at a time")
	f.IntVar(&o.threads, "threads", 0, "threads (default: GOMAXPROCS)")
	f.IntVar(&o.reps, "reps", 5, "timed repetitions (median reported); with --membw, passes over the buffer")
	f.IntVar(&o.warmupPP, "warmup-pp", 0, "tokens in the warm-up batch; 0 skips the warm-up (default: --pp)")
	f.BoolVar(&o.asJSON, "json", false, "print one JSON object")
	f.BoolVar(&o.membw, "membw", false, "measure memory bandwidth instead of a model")
	f.IntVar(&o.membwMiB, "membw-mib", 1024, "with --membw: buffer size in MiB")
	f.IntVar(&o.depth, "depth", 0, "tokens already in the cache when tg starts (llama-bench's -d): generation at that context length")
	f.StringVar(&o.cpuProf, "cpuprofile", "", "write a CPU profile of the timed runs to this file (go tool pprof)")
	register(cmd)
}

// benchResult is what `ondo bench --json` prints for a model.
type benchResult struct {
	Model      string `json:"model"`
	FileBytes  int64  `json:"file_bytes"`
	Arch       string `json:"arch"`
	Name       string `json:"name,omitempty"`
	FileType   string `json:"type"`
	Parameters int64  `json:"parameters"`
	// WeightBytes is the size of all tensors; ReadBytesPerToken leaves out
	// the token embeddings when the model has a separate output matrix
	// (generation reads one row of them per token, not all of them).
	WeightBytes       int64 `json:"weight_bytes"`
	ReadBytesPerToken int64 `json:"read_bytes_per_token"`

	Threads    int    `json:"threads"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	GoVersion  string `json:"go_version"`
	PP         int    `json:"pp"`
	TG         int    `json:"tg"`
	Depth      int    `json:"depth"`
	Reps       int    `json:"reps"`
	WarmupPP   int    `json:"warmup_pp"`

	PPTps      float64   `json:"pp_tps"`
	TGTps      float64   `json:"tg_tps"`
	PPTpsReps  []float64 `json:"pp_tps_reps"`
	TGTpsReps  []float64 `json:"tg_tps_reps"`
	LoadSecs   float64   `json:"load_seconds"`
	WarmupSecs float64   `json:"warmup_seconds"`

	PeakRSSBytes int64 `json:"peak_rss_bytes"`
	// CPUSeconds is the process's user+system CPU time, all threads, for
	// the whole run (load and warm-up included); 0 where unavailable.
	CPUSeconds float64 `json:"cpu_seconds"`
}

func (o benchOptions) check() error {
	switch {
	case o.model == "":
		return errors.New("bench: --model FILE is required (or --membw for memory bandwidth)")
	case o.pp < 1:
		return fmt.Errorf("bench: --pp must be at least 1, got %d", o.pp)
	case o.tg < 1:
		return fmt.Errorf("bench: --tg must be at least 1, got %d", o.tg)
	case o.threads < 0:
		return fmt.Errorf("bench: --threads must not be negative (0 means GOMAXPROCS), got %d", o.threads)
	case o.reps < 1:
		return fmt.Errorf("bench: --reps must be at least 1, got %d", o.reps)
	case o.warmupPP < 0:
		return fmt.Errorf("bench: --warmup-pp must not be negative, got %d", o.warmupPP)
	case o.depth < 0:
		return fmt.Errorf("bench: --depth must not be negative, got %d", o.depth)
	}
	return nil
}

// benchToken is the id fed at step i: fixed, pseudo-random ids that avoid
// id 0, the same for every engine that bench/peer/bench.mjs compares.
func benchToken(i, vocab int) int32 {
	return int32(1 + (i*7919)%(vocab-1))
}

func runBench(cmd *cobra.Command, o benchOptions) error {
	if err := o.check(); err != nil {
		return err
	}
	if st, err := os.Stat(o.model); err != nil {
		return fmt.Errorf("bench: %w", err)
	} else if st.IsDir() {
		return fmt.Errorf("bench: model %s is a directory", o.model)
	}
	r := benchResult{Model: o.model, PP: o.pp, TG: o.tg, Depth: o.depth, Reps: o.reps, WarmupPP: o.warmupPP,
		GOMAXPROCS: runtime.GOMAXPROCS(0), GoVersion: runtime.Version()}
	start := time.Now()
	f, err := gguf.Open(o.model)
	if err != nil {
		return err
	}
	defer f.Close()
	describeModel(&r, f)
	m, err := model.Load(f, model.Config{Threads: o.threads})
	if err != nil {
		return err
	}
	defer m.Close()
	r.Threads = o.threads
	if r.Threads == 0 {
		r.Threads = r.GOMAXPROCS
	}
	info := m.Info()
	if info.VocabSize < 2 {
		return fmt.Errorf("bench: vocabulary of %d tokens", info.VocabSize)
	}
	c, err := m.NewCache(max(o.pp, o.warmupPP, o.depth+o.tg)+8, true)
	if err != nil {
		return err
	}
	logits := make([]float32, info.VocabSize)
	prompt := make([]int32, max(o.pp, o.warmupPP, o.depth))
	for i := range prompt {
		prompt[i] = benchToken(i, info.VocabSize)
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	// pp evaluates the prompt from an empty cache (position 0 rewinds it).
	pp := func(n int) (time.Duration, error) {
		t := time.Now()
		err := m.Forward(ctx, model.SeqBatch(c, prompt[:n], 0, false), logits)
		return time.Since(t), err
	}
	// tg evaluates n tokens one at a time after --depth prompt tokens (not
	// timed; none by default: from an empty cache), reusing one batch so
	// that the loop costs nothing but Forward.
	step := model.SeqBatch(c, []int32{0}, 0, false)
	tg := func(n int) (time.Duration, error) {
		if o.depth > 0 {
			if err := m.Forward(ctx, model.SeqBatch(c, prompt[:o.depth], 0, false), logits); err != nil {
				return 0, err
			}
		}
		t := time.Now()
		for i := range n {
			step.Tokens[0] = benchToken(i, info.VocabSize)
			step.Pos[0] = o.depth + i
			if err := m.Forward(ctx, step, logits); err != nil {
				return 0, err
			}
		}
		return time.Since(t), nil
	}
	r.LoadSecs = time.Since(start).Seconds()

	if o.warmupPP > 0 {
		t := time.Now()
		if _, err := pp(o.warmupPP); err != nil {
			return err
		}
		if _, err := tg(1); err != nil {
			return err
		}
		r.WarmupSecs = time.Since(t).Seconds()
	}

	if o.cpuProf != "" {
		pf, err := os.Create(o.cpuProf)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return fmt.Errorf("bench: cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	for range o.reps {
		d, err := pp(o.pp)
		if err != nil {
			return err
		}
		r.PPTpsReps = append(r.PPTpsReps, float64(o.pp)/d.Seconds())
		if d, err = tg(o.tg); err != nil {
			return err
		}
		r.TGTpsReps = append(r.TGTpsReps, float64(o.tg)/d.Seconds())
	}
	r.PPTps, r.TGTps = medianOf(r.PPTpsReps), medianOf(r.TGTpsReps)
	r.PeakRSSBytes = membw.PeakRSS()
	r.CPUSeconds = membw.CPUSeconds()

	w := cmd.OutOrStdout()
	if o.asJSON {
		return writeJSON(w, r)
	}
	printBench(w, r)
	return nil
}

// describeModel fills in the facts read from the file's metadata.
func describeModel(r *benchResult, f *gguf.File) {
	r.FileBytes = f.Size()
	r.Arch, _ = f.Architecture()
	r.Name, _ = f.String("general.name")
	if ft, err := f.Int("general.file_type"); err == nil {
		r.FileType = quantize.FileType(ft).String()
	}
	_, untied := f.Tensor("output.weight")
	for i := range f.Tensors {
		t := &f.Tensors[i]
		r.Parameters += t.Elements()
		r.WeightBytes += t.Size
		if !(untied && t.Name == "token_embd.weight") {
			r.ReadBytesPerToken += t.Size
		}
	}
}

func printBench(w io.Writer, r benchResult) {
	fmt.Fprintf(w, "model     %s (%s, %s, %s params, %s)\n", r.Model, r.Arch, r.FileType,
		humanCount(r.Parameters), humanBytes(r.FileBytes))
	fmt.Fprintf(w, "threads   %d\n", r.Threads)
	fmt.Fprintf(w, "pp%-6d  %8.2f tok/s  (median of %d: %s)\n", r.PP, r.PPTps, r.Reps, formatReps(r.PPTpsReps))
	tg := fmt.Sprintf("tg%d", r.TG)
	if r.Depth > 0 {
		tg += fmt.Sprintf(" @ depth %d", r.Depth)
	}
	fmt.Fprintf(w, "%-8s  %8.2f tok/s  (median of %d: %s)\n", tg, r.TGTps, r.Reps, formatReps(r.TGTpsReps))
	if r.PeakRSSBytes > 0 {
		fmt.Fprintf(w, "peak RSS  %s\n", humanBytes(r.PeakRSSBytes))
	} else {
		fmt.Fprintln(w, "peak RSS  unavailable")
	}
}

func formatReps(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.2f", x)
	}
	return strings.Join(s, " ")
}

func medianOf(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	switch {
	case n == 0:
		return 0
	case n%2 == 1:
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// membwResult is what `ondo bench --membw --json` prints.
type membwResult struct {
	BufferBytes  int64          `json:"buffer_bytes"`
	Passes       int            `json:"passes"`
	Results      []membw.Result `json:"results"`
	PeakRSSBytes int64          `json:"peak_rss_bytes"`
}

func runMembw(cmd *cobra.Command, o benchOptions) error {
	fl := cmd.Flags()
	switch {
	case o.model != "":
		return errors.New("bench: --membw measures memory bandwidth only; drop --model")
	case fl.Changed("pp") || fl.Changed("tg"):
		return errors.New("bench: --pp and --tg do not apply to --membw")
	case o.threads < 0:
		return fmt.Errorf("bench: --threads must not be negative (0 means GOMAXPROCS), got %d", o.threads)
	case o.reps < 1:
		return fmt.Errorf("bench: --reps must be at least 1, got %d", o.reps)
	case o.membwMiB < 1:
		return fmt.Errorf("bench: --membw-mib must be at least 1, got %d", o.membwMiB)
	}
	maxG := o.threads
	if maxG == 0 {
		maxG = runtime.GOMAXPROCS(0)
	}
	buf, err := membw.NewBuffer(int64(o.membwMiB) << 20)
	if err != nil {
		return err
	}
	res := membwResult{BufferBytes: buf.Bytes(), Passes: o.reps}
	for g := 1; g <= maxG; g++ {
		r, err := buf.Read(g, o.reps)
		if err != nil {
			return err
		}
		res.Results = append(res.Results, r)
	}
	res.PeakRSSBytes = membw.PeakRSS()
	w := cmd.OutOrStdout()
	if o.asJSON {
		return writeJSON(w, res)
	}
	fmt.Fprintf(w, "streaming read of %s, best of %d passes\n", humanBytes(res.BufferBytes), res.Passes)
	for _, r := range res.Results {
		fmt.Fprintf(w, "%2d goroutine(s)  %6.2f GB/s  (median %.2f)\n", r.Goroutines, r.GBps, r.MedianGBps)
	}
	return nil
}
