package model_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/gguf"
	"github.com/ondo-ai/ondo/kvcache"
	"github.com/ondo-ai/ondo/model"
)

// fake is a registered architecture that records what it was loaded with.
type fake struct{ cfg model.Config }

func (f *fake) Info() model.Info { return model.Info{Arch: "fake-test"} }
func (f *fake) NewCache(int, bool) (*kvcache.Cache, error) {
	return nil, errors.New("no cache")
}
func (f *fake) Forward(context.Context, *model.Batch, []float32) error { return nil }
func (f *fake) Close() error                                           { return nil }

func init() {
	model.Register("fake-test", func(f *gguf.File, cfg model.Config) (model.Model, error) { return &fake{cfg}, nil })
}

func open(t *testing.T, kvs ...gguf.KV) *gguf.File {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := gguf.WriteFile(path, kvs, nil); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestRegistry(t *testing.T) {
	m, err := model.Load(open(t, gguf.NewKV("general.architecture", "fake-test")), model.Config{Threads: 3})
	if err != nil {
		t.Fatal(err)
	}
	if m.(*fake).cfg.Threads != 3 {
		t.Errorf("config not passed to the loader")
	}
	if !slices.Contains(model.Architectures(), "fake-test") {
		t.Errorf("Architectures() = %v", model.Architectures())
	}

	_, err = model.Load(open(t, gguf.NewKV("general.architecture", "xyz")), model.Config{})
	if want := `unsupported architecture "xyz" (supported: ` + strings.Join(model.Architectures(), ", ") + ")"; err == nil || err.Error() != want {
		t.Errorf("unregistered architecture: error %v", err)
	}
	if !errors.Is(err, model.ErrUnsupported) {
		t.Errorf("error %v does not wrap ErrUnsupported", err)
	}

	_, err = model.Load(open(t, gguf.NewKV("general.name", "x")), model.Config{})
	if err == nil || !strings.Contains(err.Error(), `"general.architecture"`) {
		t.Errorf("no architecture: error %v", err)
	}

	defer func() {
		if recover() == nil {
			t.Error("registering an architecture twice did not panic")
		}
	}()
	model.Register("fake-test", nil)
}

func TestMeta(t *testing.T) {
	f := open(t,
		gguf.NewKV("a.n", uint32(7)),
		gguf.NewKV("a.x", float32(0.5)),
		gguf.NewKV("a.s", "yarn"),
		gguf.NewKV("a.big", uint64(1)<<40),
	)
	m := model.NewMeta(f, "a")
	if m.Int("n") != 7 || m.IntOr("absent", 3) != 3 || m.Float("x") != 0.5 || m.FloatOr("absent", 2) != 2 ||
		m.Float("n") != 7 || m.StringOr("s", "") != "yarn" || m.StringOr("absent", "d") != "d" || !m.Has("n") {
		t.Fatal("values read wrong")
	}
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	m.Int("big")
	m.Int("missing") // the first error is kept
	if err := m.Err(); err == nil || err.Error() != `a: metadata key "a.big": value 1099511627776 out of range` {
		t.Errorf("error %v", err)
	}
	m = model.NewMeta(f, "a")
	m.Float("missing")
	if err := m.Err(); err == nil || err.Error() != `a: metadata key "a.missing": missing` || !errors.Is(err, gguf.ErrMissing) {
		t.Errorf("error %v", err)
	}
}

func TestPlan(t *testing.T) {
	info := model.Info{VocabSize: 10, Layers: 1, KVHeads: 1, HeadDim: 2}
	a, _ := kvcache.New(1, 8, 1, 2, true)
	b, _ := kvcache.New(1, 8, 1, 2, true)
	a.Commit(3)
	batch := &model.Batch{
		Tokens: []int32{1, 2, 3, 4},
		Pos:    []int{1, 0, 2, 1},
		Seq:    []int{0, 1, 0, 1},
		Caches: []*kvcache.Cache{a, b},
		Logits: []bool{false, true, true, false},
	}
	if batch.Outputs() != 2 {
		t.Errorf("Outputs %d", batch.Outputs())
	}
	if _, err := model.NewPlan(batch, info, 19); err == nil {
		t.Error("short logits accepted")
	}
	if a.Len() != 3 {
		t.Fatal("a rejected batch rewound the cache")
	}
	p, err := model.NewPlan(batch, info, 20)
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 1 {
		t.Errorf("cache a not rewound to the batch's first position: %d", a.Len())
	}
	if p.NOut != 2 || !slices.Equal(p.Out, batch.Logits) || p.Cache[0] != a || p.Cache[1] != b {
		t.Errorf("plan %+v", p)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if a.Len() != 3 || b.Len() != 2 {
		t.Errorf("after commit: lengths %d, %d", a.Len(), b.Len())
	}

	bad := []struct {
		b    model.Batch
		want string
	}{
		{model.Batch{Tokens: []int32{1}, Pos: []int{3}, Seq: []int{2}, Caches: []*kvcache.Cache{a}}, "token 0 has sequence 2, batch has 1 caches"},
		{model.Batch{Tokens: []int32{1}, Pos: []int{3}, Caches: []*kvcache.Cache{nil}}, "cache 0 is nil"},
		{model.Batch{Tokens: []int32{1}, Pos: []int{3}, Seq: []int{0, 0}, Caches: []*kvcache.Cache{a}}, "1 tokens and 2 sequence ids"},
		{model.Batch{Tokens: []int32{1}, Pos: []int{3}, Logits: []bool{}, Caches: []*kvcache.Cache{a}}, "1 tokens and 0 logit flags"},
		{model.Batch{Tokens: []int32{1}, Pos: []int{-1}, Caches: []*kvcache.Cache{a}}, "starts at position -1"},
	}
	for _, tc := range bad {
		if _, err := model.NewPlan(&tc.b, info, 100); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestSeqBatch(t *testing.T) {
	b := model.SeqBatch(nil, []int32{5, 6, 7}, 10, false)
	if !slices.Equal(b.Pos, []int{10, 11, 12}) || b.Logits != nil || b.Outputs() != 1 || b.Seq != nil {
		t.Errorf("batch %+v", b)
	}
	b = model.SeqBatch(nil, []int32{5, 6, 7}, 0, true)
	if b.Outputs() != 3 {
		t.Errorf("all logits: %d outputs", b.Outputs())
	}
}
