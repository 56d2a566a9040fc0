// Package webui is ondo's chat page: a single page, its script and its
// style, embedded in the binary so that `ondo serve` needs no network, no
// CDN and no build step to show it. The page talks to the server's Ollama
// API (/api/tags, /api/ps, /api/pull, /api/delete, /api/chat) from the
// browser and keeps conversations in the browser's localStorage.
//
// The page is served at / and its assets under /ui/. Every response
// carries a Content-Security-Policy that allows only the server's own
// scripts, styles and connections, so that model output rendered as
// Markdown cannot run script or fetch from elsewhere even if it slipped
// past the page's sanitiser.
//
// The libraries in static/vendor (marked, DOMPurify, highlight.js) are
// committed copies of npm packages at pinned versions; vendor.sh refreshes
// them and checks them against vendor.sha256.
package webui

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed static
var static embed.FS

// AssetPrefix is the path under which the page's assets are served.
const AssetPrefix = "/ui/"

// CSP is the Content-Security-Policy of the page and its assets: script,
// style, fetches and images from the server only (images also as data:
// URLs), no inline script or event handlers, no framing, no <base>, no
// form posts.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// contentTypes are the types of the assets, set explicitly rather than
// from the system's MIME tables, which vary between machines.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

// IsPagePath reports whether a request for p with method is for the page
// or one of its assets: these load without the API key, so that the page
// can ask for it.
func IsPagePath(method, p string) bool {
	if method != http.MethodGet && method != http.MethodHead {
		return false
	}
	return p == "/" || strings.HasPrefix(p, AssetPrefix)
}

// Handler serves the page at / and its assets under AssetPrefix, with the
// security headers on every answer. Mount it for "GET /{$}" and
// "GET /ui/".
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	// Each file's ETag is its content's hash, so that revalidation (see
	// Cache-Control below) costs a 304 while the binary is the same.
	etags := map[string]string{}
	fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := fs.ReadFile(sub, p); err == nil {
				sum := sha256.Sum256(b)
				etags[p] = `"` + hex.EncodeToString(sum[:12]) + `"`
			}
		}
		return nil
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", CSP)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		// Always revalidated: a new binary must not meet an old script.
		h.Set("Cache-Control", "no-cache")

		name := "index.html"
		if r.URL.Path != "/" {
			rest, ok := strings.CutPrefix(r.URL.Path, AssetPrefix)
			if !ok || rest == "" || strings.HasSuffix(rest, "/") {
				http.NotFound(w, r)
				return
			}
			name = path.Clean(rest)
		}
		ct, ok := contentTypes[path.Ext(name)]
		if !ok && strings.HasPrefix(name, "vendor/") && strings.Contains(name, "LICENSE") {
			ct, ok = "text/plain; charset=utf-8", true
		}
		if !ok || !fs.ValidPath(name) {
			http.NotFound(w, r)
			return
		}
		f, err := sub.Open(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		h.Set("Content-Type", ct)
		if tag, ok := etags[name]; ok {
			h.Set("ETag", tag)
		}
		rs, ok := f.(io.ReadSeeker) // embed.FS's files are
		if !ok {
			http.Error(w, "unreadable asset", http.StatusInternalServerError)
			return
		}
		// Embedded files have no modification time; ServeContent then
		// sends none and answers Range and HEAD requests.
		http.ServeContent(w, r, name, st.ModTime(), rs)
	})
}
