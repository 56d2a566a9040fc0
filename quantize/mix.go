// Package quantize converts GGUF models to other tensor types, choosing each
// tensor's type with the same rules as llama.cpp's quantization presets so
// that an ondo-quantized file matches one a user downloads.
package quantize

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ondo-ai/ondo/tensor"
)

// FileType is a llama.cpp file type (general.file_type): a preset that sets
// a default tensor type and the per-tensor mix rules.
type FileType uint32

// The file types ondo can produce, numbered as llama.cpp numbers them.
const (
	AllF32  FileType = 0
	F16     FileType = 1
	Q4_0    FileType = 2
	Q4_1    FileType = 3
	Q8_0    FileType = 7
	Q5_0    FileType = 8
	Q5_1    FileType = 9
	Q2_K    FileType = 10
	Q3_K_S  FileType = 11
	Q3_K_M  FileType = 12
	Q3_K_L  FileType = 13
	Q4_K_S  FileType = 14
	Q4_K_M  FileType = 15
	Q5_K_S  FileType = 16
	Q5_K_M  FileType = 17
	Q6_K    FileType = 18
	IQ2_XXS FileType = 19
	IQ2_XS  FileType = 20
	Q2_K_S  FileType = 21
	IQ3_XS  FileType = 22
	IQ3_XXS FileType = 23
	IQ1_S   FileType = 24
	IQ4_NL  FileType = 25
	IQ3_S   FileType = 26
	IQ3_M   FileType = 27
	IQ2_S   FileType = 28
	IQ2_M   FileType = 29
	IQ4_XS  FileType = 30
	IQ1_M   FileType = 31
	BF16    FileType = 32
	TQ1_0   FileType = 36
	TQ2_0   FileType = 37
	// MXFP4MoE: the experts of a mixture in MXFP4, every other weight
	// matrix in Q8_0 (gpt-oss's own layout).
	MXFP4MoE FileType = 38
	guessed  FileType = 1024
)

// fileTypes lists the presets with their default tensor type (llama.cpp's
// llama_ftype_get_default_type). Several presets share a default type and
// differ only in their mix rules: IQ2_S's is IQ2_XS, IQ2_M's IQ2_S, and
// IQ3_XS's and IQ3_M's IQ3_S.
var fileTypes = []struct {
	ft   FileType
	name string
	def  tensor.Type
}{
	{AllF32, "F32", tensor.F32},
	{F16, "F16", tensor.F16},
	{BF16, "BF16", tensor.BF16},
	{Q8_0, "Q8_0", tensor.Q8_0},
	{Q4_0, "Q4_0", tensor.Q4_0},
	{Q4_1, "Q4_1", tensor.Q4_1},
	{Q5_0, "Q5_0", tensor.Q5_0},
	{Q5_1, "Q5_1", tensor.Q5_1},
	{Q2_K, "Q2_K", tensor.Q2_K},
	{Q2_K_S, "Q2_K_S", tensor.Q2_K},
	{Q3_K_S, "Q3_K_S", tensor.Q3_K},
	{Q3_K_M, "Q3_K_M", tensor.Q3_K},
	{Q3_K_L, "Q3_K_L", tensor.Q3_K},
	{Q4_K_S, "Q4_K_S", tensor.Q4_K},
	{Q4_K_M, "Q4_K_M", tensor.Q4_K},
	{Q5_K_S, "Q5_K_S", tensor.Q5_K},
	{Q5_K_M, "Q5_K_M", tensor.Q5_K},
	{Q6_K, "Q6_K", tensor.Q6_K},
	{IQ1_S, "IQ1_S", tensor.IQ1_S},
	{IQ1_M, "IQ1_M", tensor.IQ1_M},
	{IQ2_XXS, "IQ2_XXS", tensor.IQ2_XXS},
	{IQ2_XS, "IQ2_XS", tensor.IQ2_XS},
	{IQ2_S, "IQ2_S", tensor.IQ2_XS},
	{IQ2_M, "IQ2_M", tensor.IQ2_S},
	{IQ3_XXS, "IQ3_XXS", tensor.IQ3_XXS},
	{IQ3_XS, "IQ3_XS", tensor.IQ3_S},
	{IQ3_S, "IQ3_S", tensor.IQ3_S},
	{IQ3_M, "IQ3_M", tensor.IQ3_S},
	{IQ4_NL, "IQ4_NL", tensor.IQ4_NL},
	{IQ4_XS, "IQ4_XS", tensor.IQ4_XS},
	{TQ1_0, "TQ1_0", tensor.TQ1_0},
	{TQ2_0, "TQ2_0", tensor.TQ2_0},
	{MXFP4MoE, "MXFP4_MOE", tensor.MXFP4},
}

// ParseFileType parses a preset name such as "Q4_K_M" (case-insensitive).
// The bare K-quant names Q3_K, Q4_K and Q5_K mean their _M mixes, as in
// llama.cpp.
func ParseFileType(s string) (FileType, error) {
	u := strings.ToUpper(s)
	switch u {
	case "Q3_K", "Q4_K", "Q5_K":
		u += "_M"
	}
	for _, f := range fileTypes {
		if f.name == u {
			return f.ft, nil
		}
	}
	names := make([]string, len(fileTypes))
	for i, f := range fileTypes {
		names[i] = f.name
	}
	return 0, fmt.Errorf("unknown quantization type %q (known: %s)", s, strings.Join(names, ", "))
}

func (f FileType) String() string {
	for _, x := range fileTypes {
		if x.ft == f {
			return x.name
		}
	}
	return describeUnknown(f)
}

func describeUnknown(f FileType) string {
	names := map[FileType]string{39: "NVFP4", 40: "Q1_0", 41: "Q2_0", 1024: "guessed"}
	if n, ok := names[f]; ok {
		return n
	}
	return "file_type(" + strconv.Itoa(int(f)) + ")"
}

// DefaultType is the tensor type most weights of a file of this type get.
func (f FileType) DefaultType() tensor.Type {
	for _, x := range fileTypes {
		if x.ft == f {
			return x.def
		}
	}
	return tensor.F32
}

// ModelInfo is what the mix rules need to know about the whole model.
type ModelInfo struct {
	Arch       string
	Layers     int // block_count
	Heads      int // attention.head_count (of the first layer)
	KVHeads    int // attention.head_count_kv (of the first layer)
	Experts    int // expert_count (0 for dense models)
	TiedOutput bool
	AttnV      int // number of attention-value tensors (attn_v, attn_qkv, attn_kv_b)
}

// gqa is llama.cpp's n_gqa(): query heads per key/value head, 0 when the
// model declares no key/value heads.
func (m ModelInfo) gqa() int {
	if m.KVHeads <= 0 {
		return 0
	}
	return m.Heads / m.KVHeads
}

// is70B reports whether llama.cpp classes the model as a 70B (LLM_TYPE_70B),
// which gives its attention-value matrices more bits: an 80-layer Llama 2/3
// with grouped-query attention, Qwen2, Deci or OLMo, or a 68-layer Jais 2.
func (m ModelInfo) is70B() bool {
	switch m.Arch {
	case "llama":
		return m.Experts != 8 && m.Layers == 80 && m.Heads != m.KVHeads
	case "qwen2", "deci", "olmo":
		return m.Layers == 80
	case "jais2":
		return m.Layers == 68
	}
	return false
}

// Planner picks tensor types. It carries llama.cpp's running counters
// (attention-value, feed-forward down, gate and up tensors seen so far), so
// tensors must be presented in llama.cpp's order: see Order.
type Planner struct {
	// Pure gives every quantizable tensor the preset's default type
	// (llama.cpp's --pure), bypassing the mix rules but not the fallback
	// for rows the type's block does not divide.
	Pure bool
	// Imatrix says an importance matrix will be used: some presets choose
	// differently with one (IQ3_XXS, IQ4_NL, IQ4_XS, Q4_0, Q5_0).
	Imatrix bool
	ft      FileType
	info    ModelInfo
	iAttV   int
	iDown   int
	iGate   int
	iUp     int
}

// NewPlanner starts a plan for a file of type ft.
func NewPlanner(ft FileType, info ModelInfo) *Planner {
	return &Planner{ft: ft, info: info}
}

type category int

const (
	catOther category = iota
	catOutput
	catTokenEmbd
	catAttnQKV
	catAttnKVB
	catAttnV
	catAttnK
	catAttnQ
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
)

func isTokenEmbd(name string) bool {
	return name == "token_embd.weight" || name == "per_layer_token_embd.weight"
}

func categorize(name string) category {
	switch {
	case name == "output.weight":
		return catOutput
	case isTokenEmbd(name):
		return catTokenEmbd
	case strings.Contains(name, "attn_qkv.weight"):
		return catAttnQKV
	case strings.Contains(name, "attn_kv_b.weight"):
		return catAttnKVB
	case strings.Contains(name, "attn_v.weight"):
		return catAttnV
	case strings.Contains(name, "attn_k.weight"):
		return catAttnK
	case strings.Contains(name, "attn_q.weight"):
		return catAttnQ
	case strings.Contains(name, "attn_output.weight"):
		return catAttnOutput
	case strings.Contains(name, "ffn_up"):
		return catFFNUp
	case strings.Contains(name, "ffn_gate"):
		return catFFNGate
	case strings.Contains(name, "ffn_down"):
		return catFFNDown
	}
	return catOther
}

func (c category) isAttnV() bool { return c == catAttnV || c == catAttnQKV || c == catAttnKVB }

// CountAttnV counts the tensors the attention-value rules apply to.
func CountAttnV(names []string) int {
	n := 0
	for _, name := range names {
		if categorize(name).isAttnV() {
			n++
		}
	}
	return n
}

// Order returns the order in which llama.cpp visits (and writes) the named
// tensors: those outside the blocks first, then block by block, by name
// within each. The mix rules' counters depend on it.
func Order(names []string) []int {
	idx := make([]int, len(names))
	layer := make([]int, len(names))
	for i, n := range names {
		idx[i] = i
		layer[i] = orderLayer(n)
	}
	slices.SortStableFunc(idx, func(a, b int) int {
		if layer[a] != layer[b] {
			return cmp.Compare(layer[a], layer[b])
		}
		return strings.Compare(names[a], names[b])
	})
	return idx
}

// orderLayer is the block number llama.cpp's tensor map sorts by: what
// sscanf(name, "blk.%d.") reads, or -1.
func orderLayer(name string) int {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	rest = strings.TrimLeft(rest, " \t\n\v\f\r")
	neg := false
	if rest != "" && (rest[0] == '+' || rest[0] == '-') {
		neg = rest[0] == '-'
		rest = rest[1:]
	}
	n, digits := 0, 0
	for digits < len(rest) && rest[digits] >= '0' && rest[digits] <= '9' {
		if n < 1<<31 {
			n = n*10 + int(rest[digits]-'0')
		}
		digits++
	}
	if digits == 0 {
		return -1
	}
	if neg {
		n = -n
	}
	return n
}

// quantizable reports whether llama.cpp would change this tensor's type:
// only 2-D and 3-D weights, never norms, routers or embeddings of positions.
func quantizable(name string, dims int) bool {
	if dims < 2 || !strings.HasSuffix(name, "weight") {
		return false
	}
	for _, s := range []string{"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
		"ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight", "attn_rel_b.weight",
		".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
		"time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight", "time_mix_v1.weight",
		"time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
		"time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight"} {
		if strings.Contains(name, s) {
			return false
		}
	}
	return name != "position_embd.weight" && name != "token_types.weight" && !strings.Contains(name, "rope_freqs") && !strings.Contains(name, "rope_factors")
}

func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// Choose returns the type for a tensor of the given name, current type and
// shape. Call it once per tensor, in llama.cpp's order (Order).
func (p *Planner) Choose(name string, cur tensor.Type, shape []int64) (tensor.Type, error) {
	if !quantizable(name, len(shape)) {
		return cur, nil
	}
	def := p.ft.DefaultType()
	if def.BlockSize() == 1 {
		// Float presets convert every weight matrix to the one type.
		return def, nil
	}
	t := def
	if !p.Pure {
		var err error
		if t, err = p.mix(name, def, shape); err != nil {
			return 0, err
		}
	}
	return fallback(name, t, shape[0])
}

// lowBit are the presets llama.cpp gives their own rules for everything
// but the output and token embeddings: the 1- and 2-bit IQ mixes.
func (f FileType) lowBit() bool {
	switch f {
	case IQ2_XXS, IQ2_XS, IQ1_S, IQ2_S, IQ2_M, IQ1_M:
		return true
	}
	return false
}

// layerInfo is llama.cpp's layer_info: the position of a feed-forward
// tensor among n. Dense models count the tensors as they come; for a
// mixture of experts the block number is read from the name.
func (p *Planner) layerInfo(counter int, name string) (int, int, error) {
	n := p.info.Layers
	if p.info.Experts > 1 {
		l, ok := layerOf(name)
		if !ok {
			return 0, 0, fmt.Errorf("tensor %q: failed to determine its layer", name)
		}
		if l < 0 || l >= n {
			return 0, 0, fmt.Errorf("tensor %q: bad layer %d, must be in [0, %d)", name, l, n)
		}
		return l, n, nil
	}
	return counter, n, nil
}

// mix is llama.cpp's llama_tensor_get_type_impl: the preset's per-tensor
// rules, before the fallback for row sizes.
func (p *Planner) mix(name string, t tensor.Type, shape []int64) (tensor.Type, error) {
	ft, info := p.ft, p.info
	cat := categorize(name)
	falcon := info.Arch == "falcon"
	gqa := info.gqa()
	if cat == catOutput || (info.TiedOutput && cat == catTokenEmbd) {
		switch {
		case ft == MXFP4MoE || falcon || shape[0]%int64(t.BlockSize()) != 0:
			return tensor.Q8_0, nil
		case ft.lowBit() || ft == IQ3_XXS:
			return tensor.Q5_K, nil
		case t != tensor.Q8_0:
			return tensor.Q6_K, nil
		}
		return t, nil
	}
	if ft == MXFP4MoE {
		// Stacked experts (a third dimension over 1) in MXFP4; the rest
		// in Q8_0. (BailingMoE3's 3-D attention projections stay Q8_0.)
		expert := cat == catFFNUp || cat == catFFNGate || cat == catFFNDown
		if len(shape) > 2 && shape[2] > 1 && (info.Arch != "bailingmoe3" || expert) {
			return tensor.MXFP4, nil
		}
		return tensor.Q8_0, nil
	}
	if cat == catTokenEmbd {
		switch ft {
		case IQ2_XXS, IQ2_XS, IQ1_S, IQ1_M:
			return tensor.Q2_K, nil
		case IQ2_S, IQ2_M, IQ3_XXS:
			return tensor.IQ3_S, nil
		case TQ1_0, TQ2_0:
			return tensor.Q4_K, nil
		}
		return t, nil
	}
	if ft.lowBit() {
		// 2 bits or fewer: a little more for the attention values, the
		// first eighth of the feed-forward down projections and the
		// attention output.
		more := tensor.Q2_K
		if ft == IQ2_S || ft == IQ2_M {
			more = tensor.IQ3_S
		}
		switch {
		case cat.isAttnV():
			if gqa >= 4 || info.Experts >= 4 {
				t = tensor.Q4_K
			} else {
				t = more
			}
			p.iAttV++
		case info.Experts == 8 && cat == catAttnK:
			t = tensor.Q4_K
		case cat == catFFNDown:
			if p.iDown < info.Layers/8 {
				t = more
			}
			p.iDown++
		case cat == catAttnOutput:
			switch {
			case info.Experts == 8:
				t = tensor.Q5_K
			case ft == IQ1_S || ft == IQ1_M:
				t = tensor.IQ2_XXS
			case ft == IQ2_S || ft == IQ2_M:
				t = tensor.IQ3_S
			}
		}
		return t, nil
	}
	switch {
	case cat.isAttnV():
		switch {
		case ft == Q2_K:
			t = tensor.Q3_K
			if gqa >= 4 {
				t = tensor.Q4_K
			}
		case ft == Q2_K_S && gqa >= 4:
			t = tensor.Q4_K
		case ft == IQ3_XXS:
			switch {
			case gqa >= 4:
				t = tensor.Q4_K
			case !p.Imatrix:
				t = tensor.IQ3_S
			default:
				t = tensor.IQ3_XXS
			}
		case (ft == IQ3_XS || ft == IQ3_S) && gqa >= 4:
			t = tensor.Q4_K
		case ft == IQ3_M:
			t = tensor.Q4_K
		case ft == Q3_K_M:
			t = tensor.Q4_K
			if p.iAttV < 2 {
				t = tensor.Q5_K
			}
		case ft == Q3_K_L:
			t = tensor.Q5_K
		case (ft == IQ4_NL || ft == IQ4_XS) && gqa >= 4:
			t = tensor.Q5_K
		case (ft == Q4_K_M || ft == Q5_K_M) && useMoreBits(p.iAttV, info.AttnV):
			t = tensor.Q6_K
		case ft == Q4_K_S && p.iAttV < 4:
			t = tensor.Q5_K
		}
		// llama.cpp's 70B rule: eight query heads share each value
		// head, so the small attn_v matrix gets more bits.
		if info.is70B() && (t == tensor.Q3_K || t == tensor.Q4_K) {
			t = tensor.Q5_K
		}
		if info.Experts == 8 {
			t = tensor.Q8_0
		}
		p.iAttV++
	case cat == catAttnK:
		switch {
		case info.Experts == 8:
			t = tensor.Q8_0
		case ft == IQ3_XS:
			t = tensor.IQ3_XXS
		case ft == IQ3_XXS:
			t = tensor.IQ2_S
		}
	case cat == catAttnQ:
		switch ft {
		case IQ3_XS:
			t = tensor.IQ3_XXS
		case IQ3_XXS:
			t = tensor.IQ2_S
		}
	case cat == catFFNDown:
		i, n, err := p.layerInfo(p.iDown, name)
		if err != nil {
			return 0, err
		}
		switch {
		case ft == Q2_K:
			t = tensor.Q3_K
		case ft == Q2_K_S:
			if i < n/8 {
				t = tensor.Q4_K
			}
		case ft == IQ3_XXS && !p.Imatrix:
			t = tensor.Q3_K
			if i < n/8 {
				t = tensor.Q4_K
			}
		case ft == Q3_K_M:
			switch {
			case i < n/16:
				t = tensor.Q5_K
			case !falcon || useMoreBits(i, n):
				t = tensor.Q4_K
			default:
				t = tensor.Q3_K
			}
		case ft == IQ3_M && (i < n/8 || (info.Experts == 8 && useMoreBits(i, n))):
			t = tensor.Q4_K
		case ft == Q3_K_L:
			t = tensor.Q5_K
			if falcon {
				t = tensor.Q4_K
			}
		case ft == Q4_K_M:
			if falcon {
				switch {
				case i < n/16:
					t = tensor.Q6_K
				case useMoreBits(i, n):
					t = tensor.Q5_K
				default:
					t = tensor.Q4_K
				}
			} else if useMoreBits(i, n) {
				t = tensor.Q6_K
			}
		case i < n/8 && (ft == IQ4_NL || ft == IQ4_XS) && !p.Imatrix:
			t = tensor.Q5_K
		case ft == Q5_K_M && useMoreBits(i, n):
			t = tensor.Q6_K
		case ft == Q4_K_S && !falcon && i < n/8:
			t = tensor.Q5_K
		case (ft == Q4_0 || ft == Q5_0) && p.Imatrix && i < n/8:
			// llama.cpp guards the first feed-forward down layers of
			// Q4_0/Q5_0, but only with an importance matrix, so that a
			// file made without one stays what it always was.
			t = tensor.Q4_1
			if ft == Q5_0 {
				t = tensor.Q5_1
			}
		}
		p.iDown++
	case cat == catAttnOutput:
		if !falcon {
			if info.Experts == 8 {
				switch ft {
				case Q2_K, IQ3_XS, IQ3_XXS, Q3_K_S, Q3_K_M, IQ4_NL, Q4_K_S, Q4_K_M, IQ3_S, IQ3_M, IQ4_XS:
					t = tensor.Q5_K
				}
			} else {
				switch ft {
				case Q2_K:
					t = tensor.Q3_K
				case IQ3_XXS:
					t = tensor.IQ3_S
				case Q3_K_M, IQ3_M:
					t = tensor.Q4_K
				case Q3_K_L:
					t = tensor.Q5_K
				}
			}
		} else if ft == Q3_K_L {
			t = tensor.Q4_K
		}
	case cat == catFFNGate || cat == catFFNUp:
		counter := &p.iGate
		if cat == catFFNUp {
			counter = &p.iUp
		}
		i, n, err := p.layerInfo(*counter, name)
		if err != nil {
			return 0, err
		}
		if ft == IQ3_XS && i >= n/8 && i < 7*n/8 {
			t = tensor.IQ3_XXS
		}
		*counter++
	}
	return t, nil
}

// layerOf parses the block number of a "blk.N.…" tensor name.
func layerOf(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ".")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(num)
	return n, err == nil
}

// fallback replaces a type whose block does not divide the row length, as
// llama.cpp does: 256-element IQ types fall back to IQ4_NL, the other
// 256-element types to a 32-element type, and rows that even those cannot
// split become F16.
func fallback(name string, t tensor.Type, cols int64) (tensor.Type, error) {
	if cols%int64(t.BlockSize()) == 0 {
		return t, nil
	}
	r := t
	switch t {
	case tensor.IQ1_S, tensor.IQ1_M, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ4_XS:
		r = tensor.IQ4_NL
	case tensor.Q2_K, tensor.Q3_K, tensor.TQ1_0, tensor.TQ2_0:
		r = tensor.Q4_0
	case tensor.Q4_K:
		r = tensor.Q5_0
	case tensor.Q5_K:
		r = tensor.Q5_1
	case tensor.Q6_K:
		r = tensor.Q8_0
	default:
		if t.BlockSize() > 32 {
			return 0, fmt.Errorf("tensor %q: no fallback type for %s with %d columns", name, t, cols)
		}
	}
	if cols%int64(r.BlockSize()) != 0 {
		r = tensor.F16
	}
	return r, nil
}

// RequiresImatrix reports whether llama.cpp refuses to quantize the named
// tensor to type t in a file of type ft without an importance matrix: the
// IQ1, IQ2 and IQ3_XXS types, and Q2_K in a Q2_K_S file, except for the
// token embeddings and the output matrix.
func RequiresImatrix(name string, t tensor.Type, ft FileType) bool {
	if isTokenEmbd(name) || name == "output.weight" {
		return false
	}
	switch t {
	case tensor.IQ3_XXS, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ1_M, tensor.IQ1_S:
		return true
	case tensor.Q2_K:
		return ft == Q2_K_S
	}
	return false
}
