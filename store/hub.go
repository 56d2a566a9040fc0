package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// DefaultEndpoint is the Hugging Face Hub.
const DefaultEndpoint = "https://huggingface.co"

// Errors a pull can end with, to test with errors.Is.
var (
	// ErrRepoNotFound: the Hub has no such repository (or hides a
	// private one from an anonymous request).
	ErrRepoNotFound = errors.New("repository not found")
	// ErrUnauthorized: the repository is gated or private and the token,
	// if any, does not open it.
	ErrUnauthorized = errors.New("repository is gated or private")
)

// HubError is an error answer of the Hub, with a message saying what to do.
type HubError struct {
	// Status is the HTTP status code.
	Status int
	// Code is the Hub's X-Error-Code header (RepoNotFound, GatedRepo,
	// EntryNotFound, RevisionNotFound), if any.
	Code string
	msg  string
	kind error
}

func (e *HubError) Error() string { return e.msg }

// Is makes errors.Is match ErrRepoNotFound and ErrUnauthorized.
func (e *HubError) Is(target error) bool { return e.kind != nil && target == e.kind }

// retryable reports whether asking again may help.
func (e *HubError) retryable() bool {
	return e.Status >= 500 || e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout
}

// hubFile is one entry of the Hub's tree listing
// (GET /api/models/{repo}/tree/{revision}?recursive=true).
type hubFile struct {
	Type string `json:"type"` // "file" or "directory"
	Path string `json:"path"`
	Size int64  `json:"size"`
	// Oid is the git blob id (sha1 of "blob <size>\x00" + contents).
	Oid string `json:"oid"`
	// LFS is set for files kept in Git LFS; its Oid is the sha256 of the
	// contents.
	LFS *struct {
		Oid  string `json:"oid"`
		Size int64  `json:"size"`
	} `json:"lfs,omitempty"`
}

// size returns the file's size: its LFS object's for LFS files.
func (f *hubFile) size() int64 {
	if f.LFS != nil {
		return f.LFS.Size
	}
	return f.Size
}

// hub talks to one repository of a Hugging Face Hub.
type hub struct {
	endpoint string // without a trailing '/'
	repo     string // OWNER/REPO
	revision string
	token    string
	client   *http.Client
}

// Limits on what a hub may send: pages of a tree listing, the size of one
// page, and the files listed.
const (
	maxTreePages = 1000
	maxTreePage  = 64 << 20
	maxTreeFiles = 200000
)

// treeURL is the first page of the repository's recursive file listing.
func (h *hub) treeURL() string {
	return h.endpoint + "/api/models/" + h.repo + "/tree/" + url.PathEscape(h.revision) + "?recursive=true"
}

// fileURL is where the file at p in the repository is downloaded from.
func (h *hub) fileURL(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return h.endpoint + "/" + h.repo + "/resolve/" + url.PathEscape(h.revision) + "/" + strings.Join(parts, "/")
}

// request makes a GET request for u, with the token when there is one.
func (h *hub) request(ctx context.Context, u string) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "ondo")
	if h.token != "" {
		// net/http drops it on redirects to other hosts (the CDN
		// the Hub sends LFS downloads to).
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	return req, nil
}

// list returns every file of the repository, following the Link headers of
// a paginated answer.
func (h *hub) list(ctx context.Context) ([]hubFile, error) {
	var out []hubFile
	u := h.treeURL()
	for page := 0; u != ""; page++ {
		if page == maxTreePages {
			return nil, fmt.Errorf("listing %s: more than %d pages", h.repo, maxTreePages)
		}
		req, err := h.request(ctx, u)
		if err != nil {
			return nil, err
		}
		resp, err := h.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("listing the files of %s: %w", h.repo, err)
		}
		if resp.StatusCode != http.StatusOK {
			err := h.error(resp, "")
			resp.Body.Close()
			return nil, err
		}
		var files []hubFile
		err = json.NewDecoder(io.LimitReader(resp.Body, maxTreePage)).Decode(&files)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("listing the files of %s: bad answer from %s: %w", h.repo, h.endpoint, err)
		}
		out = append(out, files...)
		if len(out) > maxTreeFiles {
			return nil, fmt.Errorf("listing %s: more than %d files", h.repo, maxTreeFiles)
		}
		u, err = nextLink(resp, req.URL)
		if err != nil {
			return nil, fmt.Errorf("listing the files of %s: %w", h.repo, err)
		}
	}
	return out, nil
}

// nextLink returns the rel="next" target of resp's Link header, resolved
// against base, or "".
func nextLink(resp *http.Response, base *url.URL) (string, error) {
	for _, v := range resp.Header.Values("Link") {
		for _, l := range strings.Split(v, ",") {
			target, params, ok := strings.Cut(l, ";")
			if !ok {
				continue
			}
			target = strings.TrimSpace(target)
			if !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && strings.Trim(val, `"`) == "next" {
					ref, err := url.Parse(target[1 : len(target)-1])
					if err != nil {
						return "", fmt.Errorf("bad Link header %q: %w", v, err)
					}
					return base.ResolveReference(ref).String(), nil
				}
			}
		}
	}
	return "", nil
}

// error turns an error answer into a HubError saying what to do; file is
// the file being downloaded, "" for the listing.
func (h *hub) error(resp *http.Response, file string) error {
	code := resp.Header.Get("X-Error-Code")
	e := &HubError{Status: resp.StatusCode, Code: code}
	page := h.endpoint + "/" + h.repo
	switch {
	case code == "GatedRepo" || resp.StatusCode == http.StatusForbidden ||
		(resp.StatusCode == http.StatusUnauthorized && code != "RepoNotFound"):
		e.kind = ErrUnauthorized
		if h.token == "" {
			e.msg = fmt.Sprintf("repository %s is gated or private: set HF_TOKEN to a Hugging Face access token that can read it (and accept the model's terms at %s if it has any)", h.repo, page)
		} else {
			e.msg = fmt.Sprintf("repository %s is gated or private and the token in HF_TOKEN cannot read it (%s): check the token, and accept the model's terms at %s", h.repo, resp.Status, page)
		}
	case code == "RepoNotFound" || (resp.StatusCode == http.StatusNotFound && file == "" && code != "RevisionNotFound"):
		e.kind = ErrRepoNotFound
		if resp.StatusCode == http.StatusUnauthorized && h.token == "" {
			e.msg = fmt.Sprintf("repository %s not found on %s, or it is gated or private: check the name, or set HF_TOKEN", h.repo, h.endpoint)
		} else {
			e.msg = fmt.Sprintf("repository %s not found on %s", h.repo, h.endpoint)
		}
	case code == "RevisionNotFound":
		e.msg = fmt.Sprintf("revision %q of repository %s not found", h.revision, h.repo)
	case resp.StatusCode == http.StatusNotFound:
		e.msg = fmt.Sprintf("file %s not found in repository %s", file, h.repo)
	default:
		what := "listing the files of " + h.repo
		if file != "" {
			what = "downloading " + file + " from " + h.repo
		}
		e.msg = fmt.Sprintf("%s: %s answered %s", what, h.endpoint, resp.Status)
		if m := resp.Header.Get("X-Error-Message"); m != "" {
			e.msg += ": " + m
		}
	}
	return e
}
