package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/internal/testdata"
)

func TestShowJSON(t *testing.T) {
	path := testdata.Path(t, "gguf", "stories260K.gguf")
	r := mustRun(t, "show", path, "--json")
	s := show(t, path)
	if s.Architecture != "llama" || s.Version != 3 || s.Alignment != 32 || s.DataOffset != 14176 || s.Parameters != 292800 {
		t.Errorf("architecture %q version %d alignment %d data offset %d parameters %d", s.Architecture, s.Version, s.Alignment, s.DataOffset, s.Parameters)
	}
	if len(s.Tensors) != 48 || !reflect.DeepEqual(s.TensorTypes, map[string]int{"F32": 48}) {
		t.Errorf("%d tensors, types %v; want 48 F32", len(s.Tensors), s.TensorTypes)
	}
	if len(s.Metadata) != 19 {
		t.Errorf("%d metadata keys, want 19", len(s.Metadata))
	}
	want := map[string]any{
		"general.architecture":                   "llama",
		"llama.block_count":                      5.0,
		"llama.embedding_length":                 64.0,
		"llama.feed_forward_length":              172.0,
		"llama.attention.head_count":             8.0,
		"llama.attention.head_count_kv":          4.0,
		"llama.context_length":                   2048.0,
		"llama.attention.layer_norm_rms_epsilon": float64(float32(1e-5)),
		"tokenizer.ggml.model":                   "llama",
		"tokenizer.ggml.bos_token_id":            1.0,
		"tokenizer.ggml.eos_token_id":            2.0,
		"tokenizer.ggml.unknown_token_id":        0.0,
		// Long arrays are summarised, not printed.
		"tokenizer.ggml.tokens":     map[string]any{"type": "string", "len": 512.0},
		"tokenizer.ggml.scores":     map[string]any{"type": "float32", "len": 512.0},
		"tokenizer.ggml.token_type": map[string]any{"type": "int32", "len": 512.0},
	}
	for k, w := range want {
		if got := s.Metadata[k]; !reflect.DeepEqual(got, w) {
			t.Errorf("metadata %s = %#v, want %#v", k, got, w)
		}
	}
	first := s.Tensors[0]
	if first.Name != "token_embd.weight" || first.Type != "F32" || !reflect.DeepEqual(first.Shape, []int64{64, 512}) || first.Offset != 0 || first.Size != 131072 {
		t.Errorf("first tensor %+v", first)
	}
	down := s.Tensors[9]
	if down.Name != "blk.0.ffn_down.weight" || !reflect.DeepEqual(down.Shape, []int64{172, 64}) || down.Offset != 355840 {
		t.Errorf("tensor 9 %+v", down)
	}
	// Every tensor entry carries exactly these fields.
	var rawOut struct {
		Tensors []map[string]any `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rawOut); err != nil {
		t.Fatal(err)
	}
	for _, tn := range rawOut.Tensors {
		for _, k := range []string{"name", "type", "shape", "offset", "size"} {
			if _, ok := tn[k]; !ok {
				t.Fatalf("tensor entry %v lacks %q", tn, k)
			}
		}
	}
	if r.stderr != "" {
		t.Errorf("stderr: %q", r.stderr)
	}
}

// TestShowJSONValues covers the value kinds show must make encodable: short
// arrays in full, nested arrays, byte arrays as numbers, non-finite floats.
func TestShowJSONValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "v.gguf")
	nan := float32(0)
	nan = nan / nan
	err := gguf.WriteFile(path, []gguf.KV{
		gguf.NewKV("general.architecture", "test"),
		gguf.NewKV("short", []int32{1, -2, 3}),
		gguf.NewKV("bytes", []uint8{0, 255}),
		gguf.NewKV("floats", []float32{0.5, nan}),
		gguf.NewKV("inf", float64(1)/zero()),
		gguf.NewKV("nested", gguf.Array{Type: gguf.ArrayType, Values: []gguf.Array{{Type: gguf.String, Values: []string{"a"}}, {Type: gguf.Bool, Values: []bool{}}}}),
		gguf.NewKV("long", make([]uint16, 65)),
		gguf.NewKV("korean", "안녕하세요"),
		gguf.NewKV("html", "<s> & </s>"),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "show", path, "--json")
	var s shown
	if err := json.Unmarshal([]byte(r.stdout), &s); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"short":  []any{1.0, -2.0, 3.0},
		"bytes":  []any{0.0, 255.0},
		"floats": []any{0.5, "NaN"},
		"inf":    "+Inf",
		"nested": []any{[]any{"a"}, []any{}},
		"long":   map[string]any{"type": "uint16", "len": 65.0},
		"korean": "안녕하세요",
		"html":   "<s> & </s>",
	}
	for k, w := range want {
		if got := s.Metadata[k]; !reflect.DeepEqual(got, w) {
			t.Errorf("metadata %s = %#v, want %#v", k, got, w)
		}
	}
	if !strings.Contains(r.stdout, `"html": "<s> & </s>"`) {
		t.Errorf("HTML characters escaped in the output")
	}
}

func zero() float64 { return 0 }

func TestShowText(t *testing.T) {
	r := mustRun(t, "show", testdata.Path(t, "gguf", "stories260K.gguf"), "--tensors")
	for _, w := range []string{"architecture", "llama", "layers", "F32×48", "vocabulary", "512", "blk.4.ffn_norm.weight", "[172 64]"} {
		if !strings.Contains(r.stdout, w) {
			t.Errorf("show output lacks %q:\n%s", w, r.stdout)
		}
	}
}

// TestShowBroken runs show on truncated and corrupted copies of
// stories260K. Each must fail with one line on stderr and exit status 1, or
// (for corruptions the format cannot detect) succeed; never crash.
func TestShowBroken(t *testing.T) {
	orig, err := os.ReadFile(testdata.Path(t, "gguf", "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(orig)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	write := func(b []byte) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("broken%d.gguf", n))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Truncations: every cut point fails, since the last tensor ends at
	// the end of the file.
	for _, cut := range []int{0, 3, 4, 7, 8, 20, 24, 100, 1000, 5000, 14000, int(f.DataOffset) - 1, int(f.DataOffset), int(f.DataOffset) + 1, 600000, len(orig) - 1} {
		r := runOndo(t, "show", write(orig[:cut]), "--json")
		msg := checkFailure(t, r, fmt.Sprintf("cut at %d", cut))
		if !strings.Contains(msg, "truncated") && !strings.Contains(msg, "larger than the rest") && !strings.Contains(msg, "outside the file") {
			t.Errorf("cut at %d: %q does not say the file is short", cut, msg)
		}
		if r.stdout != "" {
			t.Errorf("cut at %d: output on stdout", cut)
		}
	}

	// Targeted corruptions of the fields a reader trusts. Each must be
	// refused, with a message naming the problem.
	at := func(s string) int {
		i := bytes.Index(orig[:f.DataOffset], []byte(s))
		if i < 8 {
			t.Fatalf("%q not in the header", s)
		}
		return i
	}
	model := at("tokenizer.ggml.model") + len("tokenizer.ggml.model") + 4 // its value's length
	tokens := at("tokenizer.ggml.tokens") + len("tokenizer.ggml.tokens") + 8
	q := at("blk.0.attn_q.weight") + len("blk.0.attn_q.weight") // n_dims, 2 dims, type, offset
	set8 := func(pos int, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[pos:], v) }
	}
	set4 := func(pos int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[pos:], v) }
	}
	qOffset := binary.LittleEndian.Uint64(orig[q+4+16+4:])
	targeted := []struct {
		name   string
		change func([]byte)
		want   string
	}{
		{"magic", func(b []byte) { b[0] ^= 0xff }, "bad magic"},
		{"version", set4(4, 7), "unknown GGUF version 7"},
		{"big-endian version", set4(4, 0x03000000), "big-endian"},
		{"tensor count", func(b []byte) { b[15] = 0x40 }, "tensor count 4611686018427387952"},
		{"metadata count", func(b []byte) { b[23] = 0x01 }, "metadata count 72057594037927955"},
		{"key length", func(b []byte) { b[31] = 0x01 }, "metadata key 0 length"},
		{"string length", set8(model, 1<<40), `value of "tokenizer.ggml.model" length 1099511627776`},
		{"array count", set8(tokens, 1<<40), `"tokenizer.ggml.tokens" array count 1099511627776`},
		{"element type", set4(tokens-4, 99), "unknown array element type 99"},
		{"dimension count", set4(q, 5), `tensor "blk.0.attn_q.weight" has 5 dimensions`},
		{"dimension", set8(q+4, 1<<40), `tensor "blk.0.attn_q.weight"`},
		{"dimension overflow", func(b []byte) { set8(q+4, 1<<62)(b); set8(q+12, 1<<62)(b) }, "overflows"},
		{"tensor type", set4(q+4+16, 0xff), `tensor "blk.0.attn_q.weight" has unknown type 255`},
		{"offset misaligned", set8(q+4+16+4, qOffset+1), "not a multiple of the alignment 32"},
		{"offset outside", set8(q+4+16+4, 1<<40), "outside the file"},
		{"offset overlap", set8(q+4+16+4, 0), "overlaps"},
	}
	for _, c := range targeted {
		b := bytes.Clone(orig)
		c.change(b)
		msg := checkFailure(t, runOndo(t, "show", write(b), "--json"), c.name)
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q does not contain %q", c.name, msg, c.want)
		}
	}

	// Random corruptions anywhere in the header: no crash, whatever the
	// outcome.
	rng := rand.New(rand.NewPCG(1, 2))
	refused := 0
	for i := range 30 {
		b := bytes.Clone(orig)
		pos := rng.IntN(int(f.DataOffset))
		if i%2 == 0 {
			pos = rng.IntN(64) // the counts and first keys
		}
		b[pos] ^= byte(1 + rng.IntN(255))
		r := runOndo(t, "show", write(b), "--json")
		checkStderr(t, r, fmt.Sprintf("corruption at %d", pos))
		if r.code == 1 {
			refused++
		}
	}
	t.Logf("random corruptions: %d of 30 refused", refused)
}

func TestShowMissingFile(t *testing.T) {
	msg := checkFailure(t, runOndo(t, "show", filepath.Join(t.TempDir(), "nope.gguf")), "missing file")
	if !strings.Contains(msg, "nope.gguf") {
		t.Errorf("error %q does not name the file", msg)
	}
	msg = checkFailure(t, runOndo(t, "show", t.TempDir()), "directory")
	if !strings.Contains(msg, "directory") {
		t.Errorf("error %q", msg)
	}
}
