// Package resolver lets the server (package server) serve the models of a
// model store (package store): Resolver implements server.Resolver.
//
// It is a package of its own so that package store does not depend on the
// server, and the server can use the store (to pull, say) without an
// import cycle.
package resolver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/ondo-ai/ondo/server"
	"github.com/ondo-ai/ondo/store"
)

// Resolver maps model names to the files of a store. As server.DirResolver
// does, it also accepts the path of a .gguf file (absolute, or containing a
// path separator, and ending in .gguf) as a name, which it can load but not
// list or delete.
type Resolver struct {
	Store *store.Store
}

var _ server.Resolver = (*Resolver)(nil)

// New returns a Resolver for s.
func New(s *store.Store) *Resolver { return &Resolver{Store: s} }

// notFound marks an error of the store as server.ErrModelNotFound, which
// the server answers with 404, keeping its message.
type notFound struct{ err error }

func (e notFound) Error() string        { return e.err.Error() }
func (e notFound) Unwrap() error        { return e.err }
func (e notFound) Is(target error) bool { return target == server.ErrModelNotFound }

// wrap turns the store's "no such model" and "bad name" errors into
// server.ErrModelNotFound.
func wrap(err error) error {
	var ne *store.NameError
	if errors.Is(err, store.ErrNotFound) || errors.As(err, &ne) {
		return notFound{err}
	}
	return err
}

// isPath reports whether name is the path of a GGUF file rather than a
// model name.
func isPath(name string) bool {
	return strings.HasSuffix(strings.ToLower(name), ".gguf") && (filepath.IsAbs(name) || strings.ContainsAny(name, `/\`))
}

// Resolve implements server.Resolver.
func (r *Resolver) Resolve(name string) (string, error) {
	if isPath(name) {
		st, err := os.Stat(name)
		if err != nil || !st.Mode().IsRegular() {
			return "", fmt.Errorf("%w: no GGUF file at %s", server.ErrModelNotFound, name)
		}
		return filepath.Clean(name), nil
	}
	p, _, err := r.Store.Resolve(name)
	if err != nil {
		return "", wrap(err)
	}
	return p, nil
}

// List implements server.Resolver. An entry's Digest is the hex sha256 of
// its model file, as Ollama's /api/tags gives it.
func (r *Resolver) List() ([]server.ModelEntry, error) {
	ms, err := r.Store.List()
	if err != nil {
		return nil, err
	}
	out := make([]server.ModelEntry, 0, len(ms))
	for _, m := range ms {
		p, err := r.Store.BlobPath(m.Digest)
		if err != nil {
			continue
		}
		out = append(out, server.ModelEntry{Name: m.Name, Path: p, Size: m.Size, ModifiedAt: m.Created, Digest: m.Hex()})
	}
	return out, nil
}

// Delete implements server.Resolver. A model given by path is refused.
func (r *Resolver) Delete(name string) error {
	if isPath(name) {
		return fmt.Errorf("%w: %s is not in the model store; only models there can be deleted", server.ErrModelNotFound, name)
	}
	return wrap(r.Store.Remove(name))
}
