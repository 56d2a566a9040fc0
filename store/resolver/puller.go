package resolver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/ondo-ai/ondo/server"
	"github.com/ondo-ai/ondo/store"
)

// Puller pulls models from the Hugging Face Hub into Store for the
// server's /api/pull: it implements server.Puller. ondo serve sets
// Endpoint and Token from HF_ENDPOINT and HF_TOKEN.
type Puller struct {
	Store *store.Store
	// Endpoint is the Hub's base URL; empty means store.DefaultEndpoint.
	Endpoint string
	// Token is sent to the Hub for gated and private repositories.
	Token string
	// Client makes the requests; nil means the store's default.
	Client *http.Client
}

var _ server.Puller = (*Puller)(nil)

// Pull implements server.Puller. Names the store cannot pull (not a
// Hugging Face name, or not a valid one) wrap server.ErrInvalidModelName;
// a repository the Hub does not have wraps server.ErrModelNotFound; a
// gated or private one the token cannot read wraps server.ErrPullDenied.
func (p *Puller) Pull(ctx context.Context, name string, progress func(server.PullProgress)) error {
	n, err := store.ParseName(name)
	if err != nil {
		return classified{err, server.ErrInvalidModelName}
	}
	if !n.Hub() {
		return classified{fmt.Errorf("cannot pull %q: only Hugging Face models can be pulled; name one as hf.co/OWNER/REPO[:QUANT] or OWNER/REPO[:QUANT]", name), server.ErrInvalidModelName}
	}
	_, err = p.Store.Pull(ctx, name, store.PullOptions{
		Endpoint: p.Endpoint,
		Token:    p.Token,
		Client:   p.Client,
		Progress: func(pp store.PullProgress) {
			if progress != nil {
				progress(server.PullProgress{Status: pp.Status, Digest: pp.Digest, Total: pp.Total, Completed: pp.Completed})
			}
		},
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrRepoNotFound):
		return classified{err, server.ErrModelNotFound}
	case errors.Is(err, store.ErrUnauthorized):
		return classified{err, server.ErrPullDenied}
	}
	var ne *store.NameError
	if errors.As(err, &ne) {
		return classified{err, server.ErrInvalidModelName}
	}
	return err
}

// classified is an error of the store that also matches one of the
// server's, keeping the store's message.
type classified struct {
	err  error
	kind error
}

func (e classified) Error() string   { return e.err.Error() }
func (e classified) Unwrap() []error { return []error{e.err, e.kind} }
