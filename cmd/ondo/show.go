package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"

	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/ondo-ai/ondo/chat"
	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/model"
	"github.com/ondo-ai/ondo/quantize"
	"github.com/ondo-ai/ondo/tensor"
	"github.com/ondo-ai/ondo/toolcall"
)

func init() {
	var asJSON, tensors bool
	var modelsDir string
	cmd := &cobra.Command{
		Use:   "show FILE|NAME",
		Short: "Describe a GGUF model: architecture, size, quantization, tokenizer",
		Long: `Describe a GGUF model: architecture, size, quantization, tokenizer. The
argument is a GGUF file, or else the name of a model in the model store.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := openModel(args[0], modelsDir)
			if err != nil {
				return err
			}
			defer f.Close()
			if asJSON {
				return showJSON(cmd.OutOrStdout(), f)
			}
			showText(cmd.OutOrStdout(), f, tensors)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object with all metadata and the tensor table")
	cmd.Flags().BoolVar(&tensors, "tensors", false, "also list every tensor")
	addModelsDir(cmd, &modelsDir)
	register(cmd)
}

// summary holds the facts show prints, derived once from the file.
type summary struct {
	Arch      string
	Params    int64
	FileType  string
	Mix       []typeCount
	Bytes     int64
	Ctx       int64
	Embd      int64
	Layers    int64
	Heads     int64
	KVHeads   int64
	TokModel  string
	TokPre    string
	VocabSize int
	Specials  []special
	Template  bool
	Caps      []string // what the model can be asked for: completion, tools, thinking
	Name      string
	Quantized string
	Family    string // what ondo runs this architecture as, or why it cannot
}

type typeCount struct {
	Type  tensor.Type
	Count int
	Bytes int64
}

type special struct {
	Name string
	ID   int64
}

func summarize(f *gguf.File) summary {
	s := summary{}
	s.Arch, _ = f.Architecture()
	s.Name, _ = f.String("general.name")
	if s.Family = model.Description(s.Arch); s.Family == "" {
		s.Family = fmt.Sprintf("not supported by ondo (supported: %s)", strings.Join(model.Architectures(), ", "))
	}
	mix := map[tensor.Type]*typeCount{}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		s.Params += t.Elements()
		s.Bytes += t.Size
		c := mix[t.Type]
		if c == nil {
			c = &typeCount{Type: t.Type}
			mix[t.Type] = c
		}
		c.Count++
		c.Bytes += t.Size
	}
	for _, c := range mix {
		s.Mix = append(s.Mix, *c)
	}
	sort.Slice(s.Mix, func(i, j int) bool { return s.Mix[i].Bytes > s.Mix[j].Bytes })
	if ft, err := f.Int("general.file_type"); err == nil {
		s.FileType = quantize.FileType(ft).String()
	}
	a := s.Arch + "."
	s.Ctx, _ = f.Int(a + "context_length")
	s.Embd, _ = f.Int(a + "embedding_length")
	s.Layers, _ = f.Int(a + "block_count")
	s.Heads = firstInt(f, a+"attention.head_count")
	s.KVHeads = firstInt(f, a+"attention.head_count_kv")
	if vs, err := f.Ints(a + "attention.head_count_kv"); err == nil && s.KVHeads == 0 {
		for _, v := range vs { // a hybrid's recurrent layers have 0: show the attention layers'
			if v > 0 {
				s.KVHeads = v
				break
			}
		}
	}
	s.TokModel, _ = f.String("tokenizer.ggml.model")
	s.TokPre, _ = f.String("tokenizer.ggml.pre")
	if toks, err := f.Strings("tokenizer.ggml.tokens"); err == nil {
		s.VocabSize = len(toks)
	}
	for _, k := range []string{"bos", "eos", "eot", "eom", "unknown", "padding", "seperator", "mask"} {
		if id, err := f.Int("tokenizer.ggml." + k + "_token_id"); err == nil && id >= 0 && id < math.MaxUint32 {
			s.Specials = append(s.Specials, special{k, id})
		}
	}
	s.Template = f.Has("tokenizer.chat_template")
	s.Caps = []string{"completion"}
	pool, _ := f.Int(s.Arch + ".pooling_type")
	switch {
	case pool == int64(model.PoolingRank):
		s.Caps = []string{"rerank"}
		return s
	case model.EmbeddingOnly(s.Arch):
		s.Caps = []string{"embedding"}
		return s
	}
	src, _ := f.String("tokenizer.chat_template")
	if t, err := chat.ForModel(src, toksOf(f)); err == nil {
		tools, thinking := toolcall.Supports(t)
		if tools {
			s.Caps = append(s.Caps, "tools")
		}
		if thinking {
			s.Caps = append(s.Caps, "thinking")
		}
	}
	return s
}

func toksOf(f *gguf.File) []string {
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	return toks
}

func firstInt(f *gguf.File, key string) int64 {
	if v, err := f.Int(key); err == nil {
		return v
	}
	if vs, err := f.Ints(key); err == nil && len(vs) > 0 {
		return vs[0]
	}
	return 0
}

func showText(w io.Writer, f *gguf.File, tensors bool) {
	s := summarize(f)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "  %s\t%v\n", k, v) }
	fmt.Fprintln(tw, "Model")
	if s.Name != "" {
		row("name", s.Name)
	}
	row("architecture", s.Arch)
	row("family", s.Family)
	row("parameters", humanCount(s.Params))
	row("size", humanBytes(s.Bytes))
	if s.FileType != "" {
		row("file type", s.FileType)
	}
	var mix []string
	for _, c := range s.Mix {
		mix = append(mix, fmt.Sprintf("%s×%d", c.Type, c.Count))
	}
	row("tensor types", strings.Join(mix, " "))
	row("context length", s.Ctx)
	row("embedding length", s.Embd)
	row("layers", s.Layers)
	if s.Heads > 0 {
		row("attention heads", fmt.Sprintf("%d (KV %d)", s.Heads, s.KVHeads))
	}
	fmt.Fprintln(tw, "Tokenizer")
	row("model", s.TokModel)
	if s.TokPre != "" {
		row("pre-tokenizer", s.TokPre)
	}
	row("vocabulary", s.VocabSize)
	for _, sp := range s.Specials {
		row(sp.Name+" id", sp.ID)
	}
	row("chat template", map[bool]string{true: "yes", false: "no"}[s.Template])
	row("capabilities", strings.Join(s.Caps, " "))
	tw.Flush()
	if tensors {
		fmt.Fprintln(w, "Tensors")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  name\ttype\tshape\toffset\tbytes")
		for _, t := range f.Tensors {
			fmt.Fprintf(tw, "  %s\t%s\t%v\t%d\t%d\n", t.Name, t.Type, t.Shape, t.Offset, t.Size)
		}
		tw.Flush()
	}
}

// maxListed is the longest array show prints in full; longer ones (token
// lists of 100k entries) are summarised by type and length.
const maxListed = 64

func showJSON(w io.Writer, f *gguf.File) error {
	s := summarize(f)
	meta := make(map[string]any, len(f.KV))
	for _, kv := range f.KV {
		meta[kv.Key] = jsonValue(kv.Value)
	}
	type jt struct {
		Name   string  `json:"name"`
		Type   string  `json:"type"`
		Shape  []int64 `json:"shape"`
		Offset uint64  `json:"offset"`
		Size   int64   `json:"size"`
	}
	ts := make([]jt, len(f.Tensors))
	for i, t := range f.Tensors {
		ts[i] = jt{t.Name, t.Type.String(), t.Shape, t.Offset, t.Size}
	}
	mix := map[string]int{}
	for _, c := range s.Mix {
		mix[c.Type.String()] = c.Count
	}
	out := map[string]any{
		"architecture":     s.Arch,
		"parameters":       s.Params,
		"size":             s.Bytes,
		"file_type":        s.FileType,
		"tensor_types":     mix,
		"context_length":   s.Ctx,
		"embedding_length": s.Embd,
		"block_count":      s.Layers,
		"head_count":       s.Heads,
		"head_count_kv":    s.KVHeads,
		"tokenizer":        map[string]any{"model": s.TokModel, "pre": s.TokPre, "vocab_size": s.VocabSize},
		"chat_template":    s.Template,
		"capabilities":     s.Caps,
		"version":          f.Version,
		"alignment":        f.Alignment,
		"data_offset":      f.DataOffset,
		"metadata":         meta,
		"tensors":          ts,
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(out)
}

// jsonValue makes a metadata value encodable: long arrays become a summary
// and non-finite floats become strings, which JSON cannot otherwise hold.
func jsonValue(v any) any {
	switch x := v.(type) {
	case float32:
		return jsonFloat(float64(x))
	case float64:
		return jsonFloat(x)
	case gguf.Array:
		if x.Len() > maxListed {
			return map[string]any{"type": x.Type.String(), "len": x.Len()}
		}
		switch vs := x.Values.(type) {
		case []float32:
			out := make([]any, len(vs))
			for i, f := range vs {
				out[i] = jsonFloat(float64(f))
			}
			return out
		case []float64:
			out := make([]any, len(vs))
			for i, f := range vs {
				out[i] = jsonFloat(f)
			}
			return out
		case []gguf.Array:
			out := make([]any, len(vs))
			for i, a := range vs {
				out[i] = jsonValue(a)
			}
			return out
		case []uint8:
			out := make([]int, len(vs))
			for i, b := range vs {
				out[i] = int(b)
			}
			return out
		case nil:
			return []any{}
		}
		return x.Values
	}
	return v
}

func jsonFloat(f float64) any {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprint(f)
	}
	return f
}

func humanCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.2fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.2f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
