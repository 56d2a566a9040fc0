// Package synth makes deterministic random-weight models of any shape and
// tensor type, for tests and benchmarks. The weights are random but scaled
// so activations stay in the range real models have, and the vocabulary is a
// small valid SentencePiece-style one, so every part of the runtime can run
// on them.
package synth

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"math/rand/v2"
	"runtime"
	"sort"
	"strings"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/quantize"
	"github.com/ondo-ai/ondo/tensor"
)

// Config describes a synthetic model.
type Config struct {
	Arch string // general.architecture; "llama"
	// Type is a quantization preset (F32, F16, Q8_0, Q4_K_M, IQ2_XXS, …).
	// Synth has no activations to compute an importance matrix from, so
	// the presets llama.cpp refuses without one (IQ1_S, IQ1_M, IQ2_XXS,
	// IQ2_XS, IQ2_S, IQ2_M, IQ3_XXS, IQ3_XS, Q2_K_S) are made with a flat
	// matrix: every column weight 1, for every weight matrix in the blocks
	// (those llama-imatrix records by default).
	Type     string
	Pure     bool // every weight matrix in Type's base type, no mix rules
	Dim      int
	Layers   int
	Heads    int
	KVHeads  int
	FFN      int
	Vocab    int
	Ctx      int
	Seed     uint64
	Untied   bool    // separate output matrix instead of tied embeddings
	RopeBase float32 // rope.freq_base; 0 means 10000
	// WeightScale multiplies the spread of every weight matrix; 0 means 1,
	// where each projection keeps its input's scale.
	WeightScale float32
	// AttnScale further multiplies the query and key projections; 0 means
	// 1. Larger values make attention sharper, so positions matter more.
	AttnScale float32

	// Architecture-specific settings, read by the arch_*.go files; zero
	// means the architecture's default.
	Experts       int // mixture-of-experts: experts per layer
	ExpertsUsed   int // experts chosen per token
	ExpertFFN     int // feed-forward size of one expert
	SlidingWindow int // attention window of local layers
	HeadDim       int // when not Dim/Heads
	// Gemma 4 E2B/E4B: per-layer token embeddings of PerLayer elements,
	// and SharedKV trailing layers reusing earlier layers' keys and values.
	PerLayer, SharedKV int
	// QLoraRank, for deepseek2, gives the queries a low-rank projection of
	// that rank and the DeepSeek-V3 router (sigmoid gating with a
	// selection bias, 1 of 4 expert groups, weights renormalised and
	// scaled); 0 makes the
	// V2-Lite shape (one query projection, softmax gating).
	QLoraRank int
	// Pooling, when set, is written as pooling_type: "mean", "cls",
	// "last", or "rank", which makes a reranker (bert, modern-bert and
	// qwen3): BERT's head cls + cls.output with one output, ModernBERT's
	// cls, cls.norm and cls.output, Qwen3-Reranker's cls.output with the
	// labels "yes" and "no".
	Pooling string
}

// Presets are named shapes.
var Presets = map[string]Config{
	"tiny":         {Arch: "llama", Type: "F32", Dim: 256, Layers: 2, Heads: 4, KVHeads: 2, FFN: 512, Vocab: 512, Ctx: 512},
	"llama-3.2-1b": {Arch: "llama", Type: "Q4_0", Dim: 2048, Layers: 16, Heads: 32, KVHeads: 8, FFN: 8192, Vocab: 32000, Ctx: 8192, RopeBase: 500000},
}

// Preset returns a copy of the named preset.
func Preset(name string) (Config, error) {
	c, ok := Presets[name]
	if !ok {
		names := make([]string, 0, len(Presets))
		for n := range Presets {
			names = append(names, n)
		}
		sort.Strings(names)
		return Config{}, fmt.Errorf("synth: unknown preset %q (known: %s)", name, strings.Join(names, ", "))
	}
	return c, nil
}

func (c *Config) validate() error {
	if c.Arch == "" {
		c.Arch = "llama"
	}
	a, ok := archs[c.Arch]
	if !ok {
		return fmt.Errorf("synth: architecture %q not supported (known: %s)", c.Arch, strings.Join(Architectures(), ", "))
	}
	if c.Type == "" {
		c.Type = "F32"
	}
	if _, ok := poolingTypes[c.Pooling]; c.Pooling != "" && !ok {
		return fmt.Errorf("synth: pooling %q is not none, mean, cls, last or rank", c.Pooling)
	}
	if c.Pooling == "rank" && c.Arch != "bert" && c.Arch != "qwen3" && c.Arch != "modern-bert" {
		return fmt.Errorf("synth: only bert, modern-bert and qwen3 make rerankers, not %s", c.Arch)
	}
	if c.KVHeads == 0 {
		c.KVHeads = c.Heads
	}
	if c.RopeBase == 0 {
		c.RopeBase = 10000
	}
	for _, v := range []struct {
		name string
		v    int
	}{{"dim", c.Dim}, {"layers", c.Layers}, {"heads", c.Heads}, {"kv-heads", c.KVHeads}, {"ffn", c.FFN}, {"vocab", c.Vocab}, {"ctx", c.Ctx}} {
		if v.v <= 0 {
			return fmt.Errorf("synth: %s must be positive, got %d", v.name, v.v)
		}
	}
	if c.Dim%c.Heads != 0 {
		return fmt.Errorf("synth: heads %d does not divide dim %d", c.Heads, c.Dim)
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("synth: kv-heads %d does not divide heads %d", c.KVHeads, c.Heads)
	}
	if (c.Dim/c.Heads)%2 != 0 {
		return fmt.Errorf("synth: head dimension %d must be even for RoPE", c.Dim/c.Heads)
	}
	if c.Vocab < 3+256+1 {
		return fmt.Errorf("synth: vocab %d too small: needs unk, BOS, EOS, 256 byte tokens and at least one piece", c.Vocab)
	}
	if a.validate != nil {
		return a.validate(c)
	}
	return nil
}

// weight describes one tensor and how to fill it.
type weight struct {
	name  string
	shape []int64
	// values are uniform in center ± spread.
	center, spread float32
}

// arch builds one architecture's synthetic model: its tensors and its
// metadata keys (the general.* and tokenizer keys are common). Each
// architecture registers itself from a file of its own (arch_*.go).
type arch struct {
	validate func(c *Config) error
	weights  func(c *Config, s scales) []weight
	metadata func(c *Config) []gguf.KV
	// tokenizer, when set, replaces the SentencePiece-style vocabulary
	// keys (tokenizer.ggml.*), e.g. with a WordPiece one for BERT.
	tokenizer func(c *Config) []gguf.KV
	// fixed, when set, gives tensors of fixed content by name instead of
	// random values (Gemma 4's proportional rope_freqs).
	fixed func(c *Config) map[string][]float32
}

var archs = map[string]arch{}

func registerArch(name string, a arch) { archs[name] = a }

// Architectures lists the architectures synth can make.
func Architectures() []string {
	names := make([]string, 0, len(archs))
	for n := range archs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// scales turn a fan-in into the spread of a uniform weight distribution.
type scales struct{ weight, attn float32 }

func (c *Config) scales() scales {
	s := scales{weight: c.WeightScale, attn: c.AttnScale}
	if s.weight == 0 {
		s.weight = 1
	}
	if s.attn == 0 {
		s.attn = 1
	}
	return s
}

// proj is the spread for a projection with the given fan-in: uniform with
// spread sqrt(3)·sigma has standard deviation sigma, and sigma =
// 1/sqrt(fan_in) keeps the input's scale.
func (s scales) proj(fanIn int64) float32 {
	return s.weight * float32(math.Sqrt(3/float64(fanIn)))
}

// qk is the spread of the query and key projections.
func (s scales) qk(fanIn int64) float32 { return s.proj(fanIn) * s.attn }

// embd is the spread of token embeddings (and of a tied output matrix).
func (s scales) embd(dim int64) float32 { return s.proj(dim) * 4 }

// norm is a norm weight: around 1.
func norm(name string, n int64) weight { return weight{name, []int64{n}, 1, 0.1} }

// Write makes the model described by c and writes it to path atomically.
func Write(path string, c Config) error {
	if err := c.validate(); err != nil {
		return err
	}
	ft, err := quantize.ParseFileType(c.Type)
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	ws := append(archs[c.Arch].weights(&c, c.scales()), rerankHead(&c)...)
	names := make([]string, len(ws))
	for i, w := range ws {
		names[i] = w.name
	}
	info := quantize.ModelInfo{
		Arch: c.Arch, Layers: c.Layers, Heads: c.Heads, KVHeads: c.KVHeads, Experts: c.Experts,
		TiedOutput: !c.Untied, AttnV: quantize.CountAttnV(names),
	}
	plan := func(imatrix bool) ([]tensor.Type, error) {
		planner := quantize.NewPlanner(ft, info)
		planner.Pure, planner.Imatrix = c.Pure, imatrix
		types := make([]tensor.Type, len(ws))
		for _, i := range quantize.Order(names) {
			typ, err := planner.Choose(ws[i].name, tensor.F32, ws[i].shape)
			if err != nil {
				return nil, fmt.Errorf("synth: %w", err)
			}
			types[i] = typ
		}
		return types, nil
	}
	types, err := plan(false)
	if err != nil {
		return err
	}
	// Presets llama.cpp refuses without an importance matrix get a flat
	// one: all column weights 1 for every weight matrix in the blocks (the
	// ones llama-imatrix records by default).
	flat := false
	for i, w := range ws {
		flat = flat || quantize.RequiresImatrix(w.name, types[i], ft)
	}
	if flat {
		if types, err = plan(true); err != nil {
			return err
		}
	}
	var fixed map[string][]float32
	if f := archs[c.Arch].fixed; f != nil {
		fixed = f(&c)
	}
	specs := make([]gguf.TensorSpec, len(ws))
	for i, w := range ws {
		typ := types[i]
		var weights []float32
		if flat && typ != tensor.F32 && strings.HasPrefix(w.name, "blk.") {
			weights = make([]float32, w.shape[0])
			for j := range weights {
				weights[j] = 1
			}
		}
		seed := tensorSeed(c.Seed, w.name)
		specs[i] = gguf.TensorSpec{Name: w.name, Type: typ, Shape: w.shape, Fill: func(out io.Writer) error {
			return fill(out, w, typ, seed, fixed[w.name], weights)
		}}
	}
	if ft.DefaultType().BlockSize() > 1 {
		// A quantized preset is what llama-quantize writes: its tensors
		// in llama.cpp's order (a float file keeps the converter's).
		ordered := make([]gguf.TensorSpec, 0, len(specs))
		for _, i := range quantize.Order(names) {
			ordered = append(ordered, specs[i])
		}
		specs = ordered
	}
	return gguf.WriteFile(path, c.metadata(ft), specs)
}

func tensorSeed(seed uint64, name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64() ^ seed*0x9e3779b97f4a7c15
}

// fill generates a tensor's F32 values row by row and converts them.
// weights, when set, is an importance matrix (one weight per column) for
// every row.
func fill(out io.Writer, w weight, typ tensor.Type, seed uint64, fixed, weights []float32) error {
	cols := w.shape[0]
	rows := int64(1)
	for _, d := range w.shape[1:] {
		rows *= d
	}
	rng := rand.New(rand.NewPCG(seed, seed>>1|1))
	// Generate in chunks of rows so a 1B-parameter model streams in
	// bounded memory; Convert quantizes each chunk in parallel.
	chunkRows := max(1, (1<<20)/cols)
	buf := make([]byte, chunkRows*cols*4)
	for start := int64(0); start < rows; start += chunkRows {
		n := min(chunkRows, rows-start)
		b := buf[:n*cols*4]
		for i := int64(0); i < n*cols; i++ {
			v := w.center + w.spread*(2*rng.Float32()-1)
			if fixed != nil {
				v = fixed[start*cols+i]
			}
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		if typ == tensor.F32 {
			if _, err := out.Write(b); err != nil {
				return err
			}
			continue
		}
		if err := quantize.ConvertWeighted(out, tensor.F32, typ, b, cols, n, weights, runtime.NumCPU()); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) metadata(ft quantize.FileType) []gguf.KV {
	kvs := []gguf.KV{
		gguf.NewKV("general.architecture", c.Arch),
		gguf.NewKV("general.name", fmt.Sprintf("synthetic-%s-%dd-%dl-seed%d", c.Arch, c.Dim, c.Layers, c.Seed)),
		gguf.NewKV("general.file_type", uint32(ft)),
		gguf.NewKV("general.quantization_version", uint32(2)),
	}
	a := archs[c.Arch]
	kvs = append(kvs, a.metadata(c)...)
	kvs = append(kvs, poolingKeys(c)...)
	if a.tokenizer != nil {
		return append(kvs, a.tokenizer(c)...)
	}
	return append(kvs, spmTokenizer(c)...)
}

// spmTokenizer is the default vocabulary: SentencePiece-style, see Vocab.
func spmTokenizer(c *Config) []gguf.KV {
	tokens, scores, types := Vocab(c.Vocab)
	return []gguf.KV{
		gguf.NewKV("tokenizer.ggml.model", "llama"),
		gguf.NewKV("tokenizer.ggml.pre", "default"),
		gguf.NewKV("tokenizer.ggml.tokens", tokens),
		gguf.NewKV("tokenizer.ggml.scores", scores),
		gguf.NewKV("tokenizer.ggml.token_type", types),
		gguf.NewKV("tokenizer.ggml.bos_token_id", uint32(1)),
		gguf.NewKV("tokenizer.ggml.eos_token_id", uint32(2)),
		gguf.NewKV("tokenizer.ggml.unknown_token_id", uint32(0)),
		gguf.NewKV("tokenizer.ggml.add_bos_token", true),
		gguf.NewKV("tokenizer.ggml.add_eos_token", false),
	}
}

// Token types as GGUF stores them.
const (
	typeNormal  = 1
	typeUnknown = 2
	typeControl = 3
	typeByte    = 6
)

// Vocab returns a SentencePiece-style vocabulary of n pieces: <unk>, <s>,
// </s>, the 256 byte-fallback tokens, then ordinary pieces — single
// characters first, then longer pieces each reachable by merging two shorter
// ones, so the BPE tokenizer can produce every entry. Scores decrease with
// rank, as in SentencePiece models.
func Vocab(n int) (tokens []string, scores []float32, types []int32) {
	tokens = append(tokens, "<unk>", "<s>", "</s>")
	types = append(types, typeUnknown, typeControl, typeControl)
	for b := 0; b < 256; b++ {
		tokens = append(tokens, fmt.Sprintf("<0x%02X>", b))
		types = append(types, typeByte)
	}
	seen := make(map[string]bool)
	add := func(s string) bool {
		if len(tokens) >= n {
			return false
		}
		if !seen[s] {
			seen[s] = true
			tokens = append(tokens, s)
			types = append(types, typeNormal)
		}
		return true
	}
	const sp = "▁"
	letters := "etaoinshrdlcumwfgypbvkjxqz"
	singles := sp + letters + strings.ToUpper(letters) + "0123456789.,!?'\"-:;()"
	for _, r := range singles {
		add(string(r))
	}
	// Grow by appending a letter to an existing piece, shortest first.
	level := []string{}
	for _, r := range sp + letters {
		level = append(level, string(r))
	}
	for len(tokens) < n && len(level) > 0 {
		var next []string
		for _, p := range level {
			for _, r := range letters {
				s := p + string(r)
				if !add(s) {
					break
				}
				next = append(next, s)
			}
		}
		level = next
	}
	scores = make([]float32, len(tokens))
	for i := range scores {
		if types[i] == typeNormal {
			scores[i] = -float32(i)
		}
	}
	return tokens, scores, types
}

// shapeKeys are the {arch}.* keys of a decoder's shape that every
// architecture writes alike.
func shapeKeys(c *Config) []gguf.KV {
	a := c.Arch + "."
	return []gguf.KV{
		gguf.NewKV(a+"context_length", uint32(c.Ctx)),
		gguf.NewKV(a+"embedding_length", uint32(c.Dim)),
		gguf.NewKV(a+"block_count", uint32(c.Layers)),
		gguf.NewKV(a+"feed_forward_length", uint32(c.FFN)),
		gguf.NewKV(a+"attention.head_count", uint32(c.Heads)),
		gguf.NewKV(a+"attention.head_count_kv", uint32(c.KVHeads)),
	}
}

// poolingTypes are llama.cpp's pooling_type values.
var poolingTypes = map[string]uint32{"none": 0, "mean": 1, "cls": 2, "last": 3, "rank": 4}

// poolingKeys writes c.Pooling, and for a reranker its labels.
func poolingKeys(c *Config) []gguf.KV {
	if c.Pooling == "" {
		return nil
	}
	kvs := []gguf.KV{gguf.NewKV(c.Arch+".pooling_type", poolingTypes[c.Pooling])}
	if c.Pooling == "rank" && c.Arch == "qwen3" {
		kvs = append(kvs, gguf.NewKV(c.Arch+".classifier.output_labels", []string{"yes", "no"}))
	}
	return kvs
}

// rerankHead is a reranker's classification head: BERT's dense cls layer
// and a one-output cls.output, or Qwen3's two-row cls.output. Its spread
// leaves WeightScale out, so that scores differ clearly between pairs.
func rerankHead(c *Config) []weight {
	if c.Pooling != "rank" {
		return nil
	}
	d := int64(c.Dim)
	s := float32(math.Sqrt(3 / float64(d)))
	if c.Arch == "qwen3" {
		return []weight{{"cls.output.weight", []int64{d, 2}, 0, 4 * s}}
	}
	if c.Arch == "modern-bert" { // cls without bias, its layer norm, one output
		return []weight{
			{"cls.weight", []int64{d, d}, 0, 2 * s},
			norm("cls.norm.weight", d),
			{"cls.output.weight", []int64{d, 1}, 0, 2 * s},
			{"cls.output.bias", []int64{1}, 0, 0.1},
		}
	}
	return []weight{
		{"cls.weight", []int64{d, d}, 0, 2 * s},
		{"cls.bias", []int64{d}, 0, 0.1},
		{"cls.output.weight", []int64{d, 1}, 0, 2 * s},
		{"cls.output.bias", []int64{1}, 0, 0.1},
	}
}
