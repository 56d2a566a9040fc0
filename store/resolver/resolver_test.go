package resolver

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/internal/testdata"
	"github.com/ondo-ai/ondo/server"
	"github.com/ondo-ai/ondo/store"
)

func TestResolver(t *testing.T) {
	s, err := store.Open(filepath.Join(t.TempDir(), "models"))
	if err != nil {
		t.Fatal(err)
	}
	src := testdata.Path(t, "gguf", "stories260K.gguf")
	m, err := s.Create("tiny", src)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Copy("tiny", "owner/repo:Q8_0"); err != nil {
		t.Fatal(err)
	}
	var r server.Resolver = New(s)
	blob, _ := s.BlobPath(m.Digest)
	for _, name := range []string{"tiny", "tiny:latest", "hf.co/owner/repo:Q8_0", "owner/repo:q8_0"} {
		if p, err := r.Resolve(name); err != nil || p != blob {
			t.Errorf("Resolve(%q) = %q, %v", name, p, err)
		}
	}
	if p, err := r.Resolve(src); err != nil || p != src {
		t.Errorf("Resolve(path) = %q, %v", p, err)
	}
	for _, name := range []string{"nope", "../../etc/passwd", "", "/no/such.gguf"} {
		if _, err := r.Resolve(name); !errors.Is(err, server.ErrModelNotFound) {
			t.Errorf("Resolve(%q): %v, want server.ErrModelNotFound", name, err)
		}
	}
	if _, err := r.Resolve("nope"); !strings.Contains(err.Error(), `model "nope" not found in`) {
		t.Errorf("Resolve message: %v", err)
	}
	es, err := r.List()
	if err != nil || len(es) != 2 {
		t.Fatalf("List = %v, %v", es, err)
	}
	if e := es[1]; e.Name != "tiny:latest" || e.Path != blob || e.Size != m.Size || e.Digest != m.Hex() || e.ModifiedAt.IsZero() {
		t.Errorf("entry %+v", e)
	}
	if err := r.Delete(src); !errors.Is(err, server.ErrModelNotFound) {
		t.Errorf("Delete(path): %v", err)
	}
	if err := r.Delete("tiny"); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete("tiny"); !errors.Is(err, server.ErrModelNotFound) {
		t.Errorf("second Delete: %v", err)
	}
	if es, _ := r.List(); len(es) != 1 || es[0].Name != "hf.co/owner/repo:Q8_0" {
		t.Errorf("List after Delete: %v", es)
	}
}
