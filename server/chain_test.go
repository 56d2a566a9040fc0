package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestChain(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	for _, f := range []string{filepath.Join(a, "one.gguf"), filepath.Join(a, "both.gguf"), filepath.Join(b, "two.gguf"), filepath.Join(b, "both.gguf")} {
		if err := os.WriteFile(f, []byte("GGUF"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := Chain{DirResolver{Dir: a}, DirResolver{Dir: b}}
	for name, want := range map[string]string{"one": a, "two": b, "both": a} {
		if p, err := c.Resolve(name); err != nil || filepath.Dir(p) != want {
			t.Errorf("Resolve(%s) = %s, %v; want in %s", name, p, err, want)
		}
	}
	_, err := c.Resolve("three")
	if !errors.Is(err, ErrModelNotFound) || !strings.Contains(err.Error(), a) {
		t.Errorf("Resolve(three): %v, want the first resolver's not found", err)
	}
	es, err := c.List()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range es {
		got = append(got, e.Name+"@"+filepath.Dir(e.Path))
	}
	if want := "both@" + a + ",one@" + a + ",two@" + b; strings.Join(got, ",") != want {
		t.Errorf("List = %s, want %s", strings.Join(got, ","), want)
	}
	if err := c.Delete("both"); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Resolve("both"); err != nil || filepath.Dir(p) != b {
		t.Errorf("after Delete, Resolve(both) = %s, %v", p, err)
	}
	if err := c.Delete("three"); !errors.Is(err, ErrModelNotFound) {
		t.Errorf("Delete(three): %v", err)
	}
	if _, err := (Chain{}).Resolve("x"); !errors.Is(err, ErrModelNotFound) {
		t.Errorf("empty chain: %v", err)
	}
}
