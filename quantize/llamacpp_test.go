package quantize_test

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/peer"
	"github.com/ondo-ai/ondo/quantize"
	"github.com/ondo-ai/ondo/quantize/imatrix"
	"github.com/ondo-ai/ondo/synth"
	"github.com/ondo-ai/ondo/tensor"
)

// needPeer skips the test unless ONDO_PEER=1 on linux/amd64, where
// node-llama-cpp's prebuilt libraries run.
func needPeer(t *testing.T) {
	t.Helper()
	if os.Getenv("ONDO_PEER") != "1" {
		t.Skip("set ONDO_PEER=1 (after `npm ci` in bench/peer) to compare with llama.cpp's quantizer")
	}
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("the prebuilt llama.cpp libraries in bench/peer are for linux/amd64, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
}

// llamaJob is one quantization for llama.cpp's quantizer: the importance
// matrix file is "" for none. ok and log are its outcome.
type llamaJob struct {
	in, out, imatrix string
	ft               quantize.FileType
	ok               bool
	log              string
}

// runLlamaCpp compiles testdata/llamacpp_quantize.cpp, which runs llama.cpp's
// quantizer from node-llama-cpp's prebuilt libraries as llama-quantize
// does, and runs the jobs through it in one process.
// buildHarness compiles the harness into a temporary directory and returns
// it with the directory of llama.cpp's libraries; cleanup removes it.
func buildHarness() (bin, lib string, cleanup func(), err error) {
	dir, err := peer.Dir()
	if err != nil {
		return "", "", nil, err
	}
	lib = filepath.Join(dir, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
	if _, err := os.Stat(filepath.Join(lib, "libllama.v0.4.0.so")); err != nil {
		return "", "", nil, fmt.Errorf("llama.cpp library missing (run `npm ci` in bench/peer): %w", err)
	}
	cxx, err := exec.LookPath("g++")
	if err != nil {
		return "", "", nil, fmt.Errorf("g++ is needed to build the llama.cpp quantizer harness: %w", err)
	}
	tmp, err := os.MkdirTemp("", "llamacpp_quantize")
	if err != nil {
		return "", "", nil, err
	}
	cleanup = func() { os.RemoveAll(tmp) }
	bin = filepath.Join(tmp, "llamacpp_quantize")
	build := exec.Command(cxx, "-std=c++17", "-O1", "-o", bin, filepath.Join("testdata", "llamacpp_quantize.cpp"), "-ldl")
	if out, err := build.CombinedOutput(); err != nil {
		cleanup()
		return "", "", nil, fmt.Errorf("g++: %w\n%s", err, out)
	}
	return bin, lib, cleanup, nil
}

func runLlamaCpp(jobs []*llamaJob) error {
	bin, lib, cleanup, err := buildHarness()
	if err != nil {
		return err
	}
	defer cleanup()
	var in strings.Builder
	for _, j := range jobs {
		fmt.Fprintf(&in, "%s\t%s\t%d\t%s\n", j.in, j.out, j.ft, j.imatrix)
	}
	cmd := exec.Command(bin, lib)
	cmd.Stdin = strings.NewReader(in.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("llama.cpp quantizer: %w\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(jobs) {
		return fmt.Errorf("llama.cpp quantizer answered %d of %d jobs\n%s", len(lines), len(jobs), stderr.String())
	}
	for i, l := range lines {
		status, log, _ := strings.Cut(l, "\t")
		jobs[i].ok, jobs[i].log = status == "ok", log
	}
	return nil
}

// peerModels are the synthetic F32 models quantized: a dense llama with
// grouped-query attention and an untied output, and a tied Qwen3-MoE of 8
// experts whose down projections (64 columns) take the fallback types.
// Eight layers, so that the rules for the first eighth apply.
var peerModels = []struct {
	name string
	cfg  synth.Config
}{
	{"llama", synth.Config{Arch: "llama", Type: "F32", Dim: 256, Layers: 8, Heads: 8, KVHeads: 4, FFN: 512, Vocab: 512, Ctx: 512, Untied: true, Seed: 3}},
	{"qwen3moe", synth.Config{Arch: "qwen3moe", Type: "F32", Dim: 256, Layers: 8, Heads: 4, KVHeads: 2, FFN: 512, Vocab: 512, Ctx: 512,
		Experts: 8, ExpertsUsed: 2, ExpertFFN: 64, Seed: 4}},
}

// peerPresets: the low-bit presets, and others whose choices depend on
// having an importance matrix or that use the weighted K-quant and legacy
// quantizers under one.
var peerPresets = []string{"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M",
	"TQ1_0", "TQ2_0", "IQ4_NL", "IQ4_XS", "Q2_K_S", "Q3_K_M", "Q4_0", "Q4_K_M", "Q5_0", "MXFP4_MOE"}

// datPresets are also quantized under the legacy .dat form of the matrix
// (for the others, the test checks that both forms load to the same
// weights).
var datPresets = map[string]bool{"IQ2_XXS": true, "IQ3_XS": true, "Q4_0": true}

// peerStats makes an importance matrix for the model at path as
// llama-imatrix would record it: every weight matrix in the blocks (and
// the output matrix for the llama model, as with --process-output), with
// positive sums over two decades; stacked experts each get their own
// count, one expert none at all. The largest count is two chunks of 512,
// so both file forms hold exactly the same weights. One attention-value
// entry is left out of the MoE model's matrix: llama.cpp then quantizes
// that tensor without one.
func peerStats(t *testing.T, path string, withOutput bool) map[string]imatrix.Stats {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(7, 11))
	stats := map[string]imatrix.Stats{}
	for _, ti := range f.Tensors {
		if len(ti.Shape) < 2 || !(strings.HasPrefix(ti.Name, "blk.") || (withOutput && ti.Name == "output.weight")) ||
			strings.Contains(ti.Name, "_norm") || (!withOutput && ti.Name == "blk.1.attn_v.weight") {
			continue
		}
		nmat := int64(1)
		if len(ti.Shape) > 2 {
			nmat = ti.Shape[2]
		}
		s := imatrix.Stats{Sums: make([]float32, ti.Shape[0]*nmat), Counts: make([]int64, nmat)}
		for e := range s.Counts {
			switch {
			case e == 0 || nmat == 1:
				s.Counts[e] = 1024
			case e == 2:
				s.Counts[e] = 0
			default:
				s.Counts[e] = 1 + rng.Int64N(1024)
			}
		}
		for i := range s.Sums {
			s.Sums[i] = float32(float64(s.Counts[int64(i)/ti.Shape[0]]) * math.Exp(2.3*rng.NormFloat64()))
		}
		stats[ti.Name] = s
	}
	return stats
}

// peerRun is one model quantized to one preset under one form of the
// importance matrix (none, gguf or dat).
type peerRun struct {
	model, preset, form string
	src                 string
	ft                  quantize.FileType
	job                 *llamaJob
}

type peerTally struct{ same, diff int }

func (r *peerRun) name() string { return r.model + "-" + r.preset + "-" + r.form }

// TestMatchesLlamaCppQuantizer quantizes synthetic models with every
// preset through llama.cpp's own quantizer and through ondo, without an
// importance matrix and with one, and requires the same refusals, the same
// tensor types and bytes, the same metadata and so the same file.
func TestMatchesLlamaCppQuantizer(t *testing.T) {
	needPeer(t)
	if testing.Short() {
		t.Skip("quantizes two models to every preset: not in -short mode")
	}
	dir := t.TempDir()
	var runs []*peerRun
	var jobs []*llamaJob
	for _, m := range peerModels {
		src := filepath.Join(dir, m.name+"-f32.gguf")
		if err := synth.Write(src, m.cfg); err != nil {
			t.Fatal(err)
		}
		stats := peerStats(t, src, m.name == "llama")
		mats := map[string]string{"gguf": filepath.Join(dir, m.name+".imatrix.gguf"), "dat": filepath.Join(dir, m.name+".imatrix.dat")}
		for form, path := range mats {
			var b bytes.Buffer
			var err error
			if form == "gguf" {
				err = imatrix.WriteGGUF(&b, stats, []string{"synthetic.txt"}, 2, 512)
			} else {
				err = imatrix.WriteDat(&b, stats, "synthetic.txt", 2, 512)
			}
			if err == nil {
				err = os.WriteFile(path, b.Bytes(), 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		g, err := imatrix.Load(mats["gguf"])
		if err != nil {
			t.Fatal(err)
		}
		d, err := imatrix.Load(mats["dat"])
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g.Entries, d.Entries) || len(g.Entries) != len(stats) {
			t.Errorf("%s: the GGUF and .dat forms of the matrix load to different weights", m.name)
		}
		for _, preset := range peerPresets {
			ft, err := quantize.ParseFileType(preset)
			if err != nil {
				t.Fatal(err)
			}
			for _, form := range []string{"none", "gguf", "dat"} {
				if form == "dat" && !datPresets[preset] {
					continue
				}
				r := &peerRun{model: m.name, preset: preset, form: form, src: src, ft: ft}
				r.job = &llamaJob{in: src, out: filepath.Join(dir, "llama-"+r.name()+".gguf"), ft: ft, imatrix: mats[form]}
				runs = append(runs, r)
				jobs = append(jobs, r.job)
			}
		}
	}
	// llama.cpp quantizes while ondo does.
	start := time.Now()
	llamaDone := make(chan struct{})
	var llamaErr error
	go func() {
		defer close(llamaDone)
		llamaErr = runLlamaCpp(jobs)
		t.Logf("llama.cpp: %d quantizations in %.1fs", len(jobs), time.Since(start).Seconds())
	}()

	var mu sync.Mutex
	table := map[string]peerTally{}
	t.Run("ondo", func(t *testing.T) {
		for _, r := range runs {
			t.Run(strings.ReplaceAll(r.name(), "-", "/"), func(t *testing.T) {
				t.Parallel()
				got := filepath.Join(dir, "ondo-"+r.name()+".gguf")
				opt := quantize.Options{Threads: 2}
				if r.job.imatrix != "" {
					var err error
					if opt.Imatrix, err = imatrix.Load(r.job.imatrix); err != nil {
						t.Fatal(err)
					}
				}
				err := quantize.File(r.src, got, r.ft, opt)
				<-llamaDone
				if llamaErr != nil {
					t.Fatal(llamaErr)
				}
				if !r.job.ok || err != nil {
					if r.job.ok || err == nil {
						t.Fatalf("llama.cpp: ok %v %s\nondo: %v", r.job.ok, r.job.log, err)
					}
					// Both refuse: for the same reason.
					if !strings.Contains(r.job.log, "this quantization requires an imatrix") || !strings.Contains(err.Error(), "requires an importance matrix") {
						t.Fatalf("refusals differ:\nllama.cpp: %s\nondo: %v", r.job.log, err)
					}
					mu.Lock()
					table[r.name()] = peerTally{}
					mu.Unlock()
					return
				}
				tl := compareFiles(t, r.job.out, got)
				if tl.diff == 0 {
					a, _ := os.ReadFile(r.job.out)
					b, _ := os.ReadFile(got)
					if !bytes.Equal(a, b) {
						t.Errorf("every tensor and key matches, yet the files differ")
					}
				}
				mu.Lock()
				table[r.name()] = tl
				mu.Unlock()
			})
		}
	})
	<-llamaDone
	if llamaErr != nil {
		t.FailNow()
	}
	// Both forms of the matrix give the same tensors, in llama.cpp as in
	// ondo.
	for _, r := range runs {
		if r.form != "dat" {
			continue
		}
		for _, who := range []string{"llama", "ondo"} {
			gguf := filepath.Join(dir, who+"-"+strings.TrimSuffix(r.name(), "dat")+"gguf.gguf")
			dat := filepath.Join(dir, who+"-"+r.name()+".gguf")
			if _, err := os.Stat(dat); err != nil {
				continue
			}
			if !reflect.DeepEqual(tensorBytes(t, gguf), tensorBytes(t, dat)) {
				t.Errorf("%s %s: the GGUF and the .dat importance matrix gave different tensors", who, r.name())
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "%-28s %9s %9s\n", "model preset imatrix", "identical", "different")
	for _, r := range runs {
		tl, ok := table[r.name()]
		row := r.model + " " + r.preset + " " + r.form
		switch {
		case !ok:
			fmt.Fprintf(&b, "%-28s (failed)\n", row)
		case tl.same+tl.diff == 0:
			fmt.Fprintf(&b, "%-28s refused by both\n", row)
		default:
			fmt.Fprintf(&b, "%-28s %9d %9d\n", row, tl.same, tl.diff)
		}
	}
	t.Logf("tensors identical to llama.cpp's:\n%s", b.String())
}

// compareFiles compares the tensors (type, shape, bytes, order) and the
// metadata of two GGUF files.
func compareFiles(t *testing.T, want, got string) peerTally {
	t.Helper()
	w, err := gguf.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	g, err := gguf.Open(got)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	var tl peerTally
	if len(w.Tensors) != len(g.Tensors) {
		t.Errorf("%d tensors, llama.cpp %d", len(g.Tensors), len(w.Tensors))
	}
	for i := range w.Tensors {
		r := &w.Tensors[i]
		o, ok := g.Tensor(r.Name)
		switch {
		case !ok:
			t.Errorf("%s missing", r.Name)
		case o.Type != r.Type:
			t.Errorf("%s: type %s, llama.cpp %s", r.Name, o.Type, r.Type)
		case !bytes.Equal(g.TensorData(o), w.TensorData(r)):
			t.Errorf("%s (%s): bytes differ from llama.cpp's", r.Name, r.Type)
		default:
			if i < len(g.Tensors) && g.Tensors[i].Name != r.Name {
				t.Errorf("tensor %d is %s, llama.cpp's %s", i, g.Tensors[i].Name, r.Name)
			}
			tl.same++
			continue
		}
		tl.diff++
	}
	wk, gk := keys(w), keys(g)
	if !reflect.DeepEqual(wk, gk) {
		t.Errorf("metadata keys differ:\nondo      %v\nllama.cpp %v", gk, wk)
	}
	for _, kv := range w.KV {
		if o, ok := g.Lookup(kv.Key); ok && !reflect.DeepEqual(o, kv) {
			t.Errorf("metadata %s = %v, llama.cpp %v", kv.Key, o.Value, kv.Value)
		}
	}
	return tl
}

func keys(f *gguf.File) []string {
	var k []string
	for _, kv := range f.KV {
		k = append(k, kv.Key)
	}
	return k
}

func tensorBytes(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		out[ti.Name] = ti.Type.String() + ":" + string(f.TensorData(ti))
	}
	return out
}

// planModel describes a model for TestPlannerMatchesLlamaCpp: its
// hyperparameters as llama.cpp's mock model takes them, and its tensors.
type planModel struct {
	name                                             string
	info                                             quantize.ModelInfo
	embd, ff, layers, heads, kvHeads, experts, vocab int64
	fused, tied                                      bool // falcon's attn_qkv; no output matrix
	expertFF                                         int64
}

func (m planModel) tensors() (names []string, shapes [][]int64) {
	add := func(n string, s ...int64) {
		names = append(names, n)
		shapes = append(shapes, s)
	}
	hd := m.embd / m.heads
	add("token_embd.weight", m.embd, m.vocab)
	for l := int64(0); l < m.layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		add(p+"attn_norm.weight", m.embd)
		if m.fused {
			add(p+"attn_qkv.weight", m.embd, (m.heads+2*m.kvHeads)*hd)
		} else {
			add(p+"attn_q.weight", m.embd, m.embd)
			add(p+"attn_k.weight", m.embd, m.kvHeads*hd)
			add(p+"attn_v.weight", m.embd, m.kvHeads*hd)
		}
		add(p+"attn_output.weight", m.embd, m.embd)
		add(p+"ffn_norm.weight", m.embd)
		switch {
		case m.experts > 0:
			add(p+"ffn_gate_inp.weight", m.embd, m.experts)
			add(p+"ffn_gate_exps.weight", m.embd, m.expertFF, m.experts)
			add(p+"ffn_up_exps.weight", m.embd, m.expertFF, m.experts)
			add(p+"ffn_down_exps.weight", m.expertFF, m.embd, m.experts)
		case m.fused:
			add(p+"ffn_up.weight", m.embd, m.ff)
			add(p+"ffn_down.weight", m.ff, m.embd)
		default:
			add(p+"ffn_gate.weight", m.embd, m.ff)
			add(p+"ffn_up.weight", m.embd, m.ff)
			add(p+"ffn_down.weight", m.ff, m.embd)
		}
	}
	add("output_norm.weight", m.embd)
	if !m.tied {
		add("output.weight", m.embd, m.vocab)
	}
	return names, shapes
}

// TestPlannerMatchesLlamaCpp asks llama.cpp's own mix rules
// (llama_quant_compute_types on a mock model) for every tensor of
// real-sized models under every preset, and requires the planner's
// choices: shapes the synthetic files of TestMatchesLlamaCppQuantizer do
// not reach (Llama 2 70B and a 65B without GQA, Mixtral's 8 experts,
// Qwen3-MoE's 128, Falcon's fused attention and odd row sizes, tied
// embeddings). llama.cpp's entry point plans without an importance
// matrix, so only those plans are compared here.
func TestPlannerMatchesLlamaCpp(t *testing.T) {
	needPeer(t)
	models := []planModel{
		{name: "llama3-8b", embd: 4096, ff: 14336, layers: 32, heads: 32, kvHeads: 8, vocab: 128256},
		{name: "llama2-7b", embd: 4096, ff: 11008, layers: 32, heads: 32, kvHeads: 32, vocab: 32000},
		{name: "llama2-70b", embd: 8192, ff: 28672, layers: 80, heads: 64, kvHeads: 8, vocab: 32000},
		{name: "llama-65b", embd: 8192, ff: 22016, layers: 80, heads: 64, kvHeads: 64, vocab: 32000},
		{name: "mixtral-8x7b", embd: 4096, ff: 14336, layers: 32, heads: 32, kvHeads: 8, vocab: 32000, experts: 8, expertFF: 14336},
		{name: "qwen3moe-30b", embd: 2048, ff: 6144, layers: 48, heads: 32, kvHeads: 4, vocab: 151936, experts: 128, expertFF: 768},
		{name: "falcon-7b", embd: 4544, ff: 18176, layers: 32, heads: 71, kvHeads: 1, vocab: 65024, fused: true},
		{name: "tied-1b", embd: 2048, ff: 8192, layers: 16, heads: 32, kvHeads: 8, vocab: 128256, tied: true},
		{name: "odd", embd: 96, ff: 100, layers: 12, heads: 4, kvHeads: 2, vocab: 1000},
	}
	arch := map[string]string{"qwen3moe-30b": "qwen3moe", "falcon-7b": "falcon"}
	var presets []quantize.FileType
	for ft := quantize.FileType(0); ft < 64; ft++ {
		if ft.DefaultType() != tensor.F32 || ft == quantize.AllF32 {
			if _, err := quantize.ParseFileType(ft.String()); err == nil {
				presets = append(presets, ft)
			}
		}
	}
	var script strings.Builder
	type check struct {
		model planModel
		ft    quantize.FileType
		names []string
		types []tensor.Type
	}
	var checks []check
	for _, m := range models {
		a := arch[m.name]
		if a == "" {
			a = "llama"
		}
		m.info = quantize.ModelInfo{Arch: a, Layers: int(m.layers), Heads: int(m.heads), KVHeads: int(m.kvHeads), Experts: int(m.experts), TiedOutput: m.tied}
		names, shapes := m.tensors()
		m.info.AttnV = quantize.CountAttnV(names)
		order := quantize.Order(names)
		fmt.Fprintf(&script, "model %s %d %d %d %d %d %d\n", a, m.embd, m.ff, m.layers, m.heads, m.kvHeads, m.experts)
		var ordered []string
		for _, i := range order {
			sh := append(append([]int64{}, shapes[i]...), 1, 1)
			fmt.Fprintf(&script, "tensor %s %d %d %d\n", names[i], sh[0], sh[1], sh[2])
			ordered = append(ordered, names[i])
		}
		for _, ft := range presets {
			fmt.Fprintf(&script, "types %d\n", ft)
			p := quantize.NewPlanner(ft, m.info)
			c := check{model: m, ft: ft, names: ordered}
			for _, i := range order {
				typ, err := p.Choose(names[i], tensor.F32, shapes[i])
				if err != nil {
					t.Fatalf("%s %s: %v", m.name, ft, err)
				}
				c.types = append(c.types, typ)
			}
			checks = append(checks, c)
		}
	}
	bin, lib, cleanup, err := buildHarness()
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	cmd := exec.Command(bin, lib, "plan")
	cmd.Stdin = strings.NewReader(script.String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("llama.cpp planner: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(lines) != len(checks) {
		t.Fatalf("llama.cpp planned %d of %d models\n%s", len(lines), len(checks), stderr.String())
	}
	for k, c := range checks {
		fields := strings.Fields(lines[k])
		if len(fields) != len(c.names) {
			t.Fatalf("%s %s: llama.cpp gave %d types for %d tensors", c.model.name, c.ft, len(fields), len(c.names))
		}
		bad := 0
		for i, f := range fields {
			id, _ := strconv.Atoi(f)
			if want := tensor.Type(id); c.types[i] != want {
				if bad++; bad <= 5 {
					t.Errorf("%s %s: %s is %s, llama.cpp chose %s", c.model.name, c.ft, c.names[i], c.types[i], want)
				}
			}
		}
		if bad > 5 {
			t.Errorf("%s %s: %d tensors differ in all", c.model.name, c.ft, bad)
		}
	}
	t.Logf("%d models × %d presets planned as llama.cpp plans them", len(models), len(presets))
}

// TestSynthLowBitMatchesLlamaCpp: ondo dev synth makes the presets that
// need an importance matrix with a flat one (every weight 1 for the
// matrices in the blocks); its file holds the tensors llama.cpp makes from
// the same F32 weights under that matrix.
func TestSynthLowBitMatchesLlamaCpp(t *testing.T) {
	needPeer(t)
	if testing.Short() {
		t.Skip("not in -short mode")
	}
	dir := t.TempDir()
	cfg, err := synth.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Seed = 5
	src := filepath.Join(dir, "f32.gguf")
	if err := synth.Write(src, cfg); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	stats := map[string]imatrix.Stats{}
	for _, ti := range f.Tensors {
		if len(ti.Shape) >= 2 && strings.HasPrefix(ti.Name, "blk.") {
			stats[ti.Name] = imatrix.Stats{Sums: slices.Repeat([]float32{1}, int(ti.Shape[0])), Counts: []int64{1}}
		}
	}
	f.Close()
	var b bytes.Buffer
	if err := imatrix.WriteGGUF(&b, stats, nil, 1, 512); err != nil {
		t.Fatal(err)
	}
	flat := filepath.Join(dir, "flat.imatrix.gguf")
	if err := os.WriteFile(flat, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var jobs []*llamaJob
	presets := []string{"IQ2_XXS", "IQ3_XS", "Q2_K_S"}
	for _, p := range presets {
		ft, _ := quantize.ParseFileType(p)
		jobs = append(jobs, &llamaJob{in: src, out: filepath.Join(dir, "llama-"+p+".gguf"), ft: ft, imatrix: flat})
	}
	if err := runLlamaCpp(jobs); err != nil {
		t.Fatal(err)
	}
	for i, p := range presets {
		if !jobs[i].ok {
			t.Fatalf("%s: llama.cpp failed: %s", p, jobs[i].log)
		}
		c := cfg
		c.Type = p
		out := filepath.Join(dir, "synth-"+p+".gguf")
		if err := synth.Write(out, c); err != nil {
			t.Fatalf("synth --type %s: %v", p, err)
		}
		want, got := tensorBytes(t, jobs[i].out), tensorBytes(t, out)
		if len(want) != len(got) {
			t.Fatalf("%s: %d tensors, llama.cpp %d", p, len(got), len(want))
		}
		for name, w := range want {
			if got[name] != w {
				t.Errorf("%s: %s differs from llama.cpp's (%s / %s)", p, name, strings.SplitN(got[name], ":", 2)[0], strings.SplitN(w, ":", 2)[0])
			}
		}
	}
}
