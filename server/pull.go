package server

import (
	"context"
	"errors"
	"net/http"
)

// Puller downloads models for POST /api/pull. The server knows nothing of
// where models come from: store/resolver.Puller pulls from the Hugging Face
// Hub into a model store (package store), which Config.Resolver should
// then resolve.
type Puller interface {
	// Pull downloads the model called name, calling progress (from the
	// calling goroutine) with each step, the last one {"status":
	// "success"}. It returns early with ctx's error when ctx ends. An
	// error wrapping ErrInvalidModelName is answered with 400,
	// ErrModelNotFound with 404, ErrPullDenied with 403, others with 500.
	Pull(ctx context.Context, name string, progress func(PullProgress)) error
}

// PullProgress is one line of /api/pull's stream, in Ollama's shape:
// "pulling manifest"; for each file "pulling <12 hex digits>" with its
// digest ("sha256:<hex>"), total and completed bytes; "verifying sha256
// digest"; "writing manifest"; "success".
type PullProgress struct {
	Status    string `json:"status"`
	Digest    string `json:"digest,omitempty"`
	Total     int64  `json:"total,omitempty"`
	Completed int64  `json:"completed,omitempty"`
}

// Errors a Puller wraps to choose the HTTP status of a failed pull.
var (
	// ErrInvalidModelName: the name cannot be pulled (400).
	ErrInvalidModelName = errors.New("invalid model name")
	// ErrPullDenied: the source refuses access, e.g. a gated repository
	// without a token (403).
	ErrPullDenied = errors.New("access to the model denied")
)

// handlePull is Ollama's POST /api/pull: {"model" (or "name"), "insecure",
// "stream"}. It streams the Puller's progress as NDJSON, ending with
// {"status":"success"} or, when the pull fails once the stream has begun,
// {"error":"..."}; with "stream": false it answers only the final object,
// or the error with its status. "insecure" is accepted and ignored: the
// Hub is always reached as the Puller is configured.
func (s *Server) handlePull(w http.ResponseWriter, r *http.Request) error {
	var req struct {
		Model    string `json:"model"`
		Name     string `json:"name"` // older clients
		Insecure bool   `json:"insecure"`
		Stream   *bool  `json:"stream"`
	}
	if err := decodeJSON(w, r, &req); err != nil {
		return err
	}
	name := req.Model
	if name == "" {
		name = req.Name
	}
	if name == "" {
		return badRequest("model", "the \"model\" field is required")
	}
	if s.cfg.Puller == nil {
		return &apiError{Status: http.StatusNotImplemented, Type: typeNotImplemented,
			Msg: "this server has no model store to pull into: put GGUF files in its models folder, or run ondo serve, which pulls into its store"}
	}
	s.log.Info("pull", "model", name)
	if req.Stream != nil && !*req.Stream {
		if err := s.cfg.Puller.Pull(r.Context(), name, func(PullProgress) {}); err != nil {
			s.log.Warn("pull failed", "model", name, "err", err)
			return pullError(err)
		}
		writeJSON(w, http.StatusOK, PullProgress{Status: "success"})
		return nil
	}
	st := newStream(w, false)
	last := ""
	err := s.cfg.Puller.Pull(r.Context(), name, func(p PullProgress) {
		last = p.Status
		st.send(p) // a client that is gone cancels the pull through r's context
	})
	if err != nil {
		s.log.Warn("pull failed", "model", name, "err", err)
		if !st.started {
			return pullError(err)
		}
		if !clientGone(r, err) {
			st.send(map[string]string{"error": pullError(err).Error()})
		}
		return nil
	}
	if last != "success" {
		st.send(PullProgress{Status: "success"})
	}
	return nil
}

// pullError gives a Puller's error its HTTP status.
func pullError(err error) error {
	var ae *apiError
	switch {
	case errors.As(err, &ae), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, ErrInvalidModelName):
		return badRequest("model", "%s", err.Error())
	case errors.Is(err, ErrModelNotFound):
		return &apiError{Status: http.StatusNotFound, Type: typeNotFound, Code: "model_not_found", Param: "model", Msg: err.Error()}
	case errors.Is(err, ErrPullDenied):
		return &apiError{Status: http.StatusForbidden, Type: typeAuthentication, Code: "pull_denied", Param: "model", Msg: err.Error()}
	}
	return &apiError{Status: http.StatusInternalServerError, Type: typeServer, Code: "pull_failed", Msg: err.Error()}
}
