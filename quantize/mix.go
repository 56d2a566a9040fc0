// Package quantize converts GGUF models to other tensor types, choosing each
// tensor's type with the same rules as llama.cpp's quantization presets so
// that an ondo-quantized file matches one a user downloads.
package quantize

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/ondo-ai/ondo/tensor"
)

// FileType is a llama.cpp file type (general.file_type): a preset that sets
// a default tensor type and the per-tensor mix rules.
type FileType uint32

// The file types ondo can produce, numbered as llama.cpp numbers them.
const (
	AllF32 FileType = 0
	F16    FileType = 1
	Q4_0   FileType = 2
	Q4_1   FileType = 3
	Q8_0   FileType = 7
	Q5_0   FileType = 8
	Q5_1   FileType = 9
	Q2_K   FileType = 10
	Q3_K_S FileType = 11
	Q3_K_M FileType = 12
	Q3_K_L FileType = 13
	Q4_K_S FileType = 14
	Q4_K_M FileType = 15
	Q5_K_S FileType = 16
	Q5_K_M FileType = 17
	Q6_K   FileType = 18
	Q2_K_S FileType = 21
	IQ4_NL FileType = 25
	BF16   FileType = 32
	// MXFP4MoE: the experts of a mixture in MXFP4, every other weight
	// matrix in Q8_0 (gpt-oss's own layout).
	MXFP4MoE FileType = 38
	guessed  FileType = 1024
)

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
	{IQ4_NL, "IQ4_NL", tensor.IQ4_NL},
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
	names := map[FileType]string{19: "IQ2_XXS", 20: "IQ2_XS", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 36: "TQ1_0", 37: "TQ2_0", 38: "MXFP4_MOE", 1024: "guessed"}
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
	Heads      int // attention.head_count
	KVHeads    int // attention.head_count_kv
	Experts    int // expert_count (0 for dense models)
	TiedOutput bool
	AttnV      int // number of attention-value tensors (attn_v, attn_qkv, attn_kv_b)
}

func (m ModelInfo) gqa() int {
	if m.KVHeads <= 0 {
		return 1
	}
	return m.Heads / m.KVHeads
}

// Planner picks tensor types in file order. It carries llama.cpp's running
// counters (attention-value and feed-forward-down tensors seen so far), so
// tensors must be presented in the order they are written.
type Planner struct {
	// Pure gives every quantizable tensor the preset's default type
	// (llama.cpp's --pure), bypassing the mix rules but not the fallback
	// for rows the type's block does not divide.
	Pure  bool
	ft    FileType
	info  ModelInfo
	iAttV int
	iDown int
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

func categorize(name string) category {
	switch {
	case name == "output.weight":
		return catOutput
	case name == "token_embd.weight" || name == "per_layer_token_embd.weight":
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

// quantizable reports whether llama.cpp would change this tensor's type:
// only 2-D and 3-D weights, never norms, routers or embeddings of positions.
func quantizable(name string, dims int) bool {
	if dims < 2 || !strings.HasSuffix(name, "weight") {
		return false
	}
	for _, s := range []string{"_norm.weight", "ffn_gate_inp.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d", "attn_rel_b.weight", ".position_embd", "position_embd.weight", "token_types.weight", "rope_freqs", "rope_factors"} {
		if strings.Contains(name, s) {
			return false
		}
	}
	return true
}

func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// Choose returns the type for a tensor of the given name, current type and
// shape. Call it once per tensor, in file order.
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
		t = p.mix(name, def, shape)
	}
	return fallback(name, t, shape[0])
}

func (p *Planner) mix(name string, t tensor.Type, shape []int64) tensor.Type {
	ft, info := p.ft, p.info
	cat := categorize(name)
	falcon := info.Arch == "falcon"
	if ft == MXFP4MoE {
		// Stacked experts (a third dimension over 1) in MXFP4; the rest,
		// the output matrix included, in Q8_0.
		if cat != catOutput && !(info.TiedOutput && cat == catTokenEmbd) && len(shape) > 2 && shape[2] > 1 {
			return tensor.MXFP4
		}
		return tensor.Q8_0
	}
	if cat == catOutput || (info.TiedOutput && cat == catTokenEmbd) {
		switch {
		case falcon || shape[0]%int64(t.BlockSize()) != 0:
			return tensor.Q8_0
		case t != tensor.Q8_0:
			return tensor.Q6_K
		}
		return t
	}
	switch {
	case cat == catTokenEmbd:
		return t
	case cat.isAttnV():
		switch {
		case ft == Q2_K:
			t = tensor.Q3_K
			if info.gqa() >= 4 {
				t = tensor.Q4_K
			}
		case ft == Q2_K_S && info.gqa() >= 4:
			t = tensor.Q4_K
		case ft == Q3_K_M:
			t = tensor.Q4_K
			if p.iAttV < 2 {
				t = tensor.Q5_K
			}
		case ft == Q3_K_L:
			t = tensor.Q5_K
		case ft == IQ4_NL && info.gqa() >= 4:
			t = tensor.Q5_K
		case (ft == Q4_K_M || ft == Q5_K_M) && useMoreBits(p.iAttV, info.AttnV):
			t = tensor.Q6_K
		case ft == Q4_K_S && p.iAttV < 4:
			t = tensor.Q5_K
		}
		// llama.cpp's 70B rule: eight query heads share each value
		// head, so the small attn_v matrix gets more bits.
		if info.Arch == "llama" && info.Layers == 80 && (t == tensor.Q3_K || t == tensor.Q4_K) {
			t = tensor.Q5_K
		}
		if info.Experts == 8 {
			t = tensor.Q8_0
		}
		p.iAttV++
	case cat == catAttnK:
		if info.Experts == 8 {
			t = tensor.Q8_0
		}
	case cat == catFFNDown:
		i, n := p.iDown, info.Layers
		if info.Experts > 1 {
			if l, ok := layerOf(name); ok {
				i = l
			}
		}
		switch {
		case ft == Q2_K:
			t = tensor.Q3_K
		case ft == Q2_K_S:
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
		case i < n/8 && ft == IQ4_NL:
			t = tensor.Q5_K
		case ft == Q5_K_M && useMoreBits(i, n):
			t = tensor.Q6_K
		case ft == Q4_K_S && !falcon && i < n/8:
			t = tensor.Q5_K
		}
		p.iDown++
	case cat == catAttnOutput:
		if !falcon {
			if info.Experts == 8 {
				switch ft {
				case Q2_K, Q3_K_S, Q3_K_M, IQ4_NL, Q4_K_S, Q4_K_M:
					t = tensor.Q5_K
				}
			} else {
				switch ft {
				case Q2_K:
					t = tensor.Q3_K
				case Q3_K_M:
					t = tensor.Q4_K
				case Q3_K_L:
					t = tensor.Q5_K
				}
			}
		} else if ft == Q3_K_L {
			t = tensor.Q4_K
		}
	}
	return t
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
// llama.cpp does: 256-element K-quants fall back to a 32-element type, and
// rows that even those cannot split become F16.
func fallback(name string, t tensor.Type, cols int64) (tensor.Type, error) {
	if cols%int64(t.BlockSize()) == 0 {
		return t, nil
	}
	r := t
	switch t {
	case tensor.Q2_K, tensor.Q3_K:
		r = tensor.Q4_0
	case tensor.Q4_K:
		r = tensor.Q5_0
	case tensor.Q5_K:
		r = tensor.Q5_1
	case tensor.Q6_K:
		r = tensor.Q8_0
	case tensor.IQ4_XS:
		r = tensor.IQ4_NL
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
