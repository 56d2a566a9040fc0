package webui_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ondo-ai/ondo/server"
	"github.com/ondo-ai/ondo/webui"
)

// testServer is a real server on a loopback port, as ondo serve runs it,
// counting the /api/chat requests it gets and how many of them the client
// cancelled.
type testServer struct {
	url       string
	chats     atomic.Int32
	cancelled atomic.Int32
	mu        sync.Mutex
	bodies    []string // the /api/chat request bodies
}

func startServer(t testing.TB, cfg server.Config) *testServer {
	t.Helper()
	if cfg.ModelsDir == "" {
		cfg.ModelsDir = t.TempDir()
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{url: "http://" + ln.Addr().String()}
	inner := srv.Handler()
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/chat" {
			ts.chats.Add(1)
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(body)))
			ts.mu.Lock()
			ts.bodies = append(ts.bodies, string(body))
			ts.mu.Unlock()
			inner.ServeHTTP(w, r)
			if r.Context().Err() != nil {
				ts.cancelled.Add(1)
			}
			return
		}
		inner.ServeHTTP(w, r)
	})}
	go hs.Serve(ln)
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	return ts
}

func (ts *testServer) lastBody() string {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.bodies) == 0 {
		return ""
	}
	return ts.bodies[len(ts.bodies)-1]
}

func get(t *testing.T, url, method, key string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// Every file of the page comes with its type, the CSP and nosniff.
func TestHeadersAndTypes(t *testing.T) {
	ts := startServer(t, server.Config{})
	for _, tc := range []struct{ path, ctype, contains string }{
		{"/", "text/html; charset=utf-8", `<script src="/ui/app.js" type="module">`},
		{"/ui/app.js", "text/javascript; charset=utf-8", "isComposing"},
		{"/ui/i18n.js", "text/javascript; charset=utf-8", "보내기"},
		{"/ui/app.css", "text/css; charset=utf-8", "prefers-color-scheme"},
		{"/ui/vendor/marked.umd.js", "text/javascript; charset=utf-8", "marked v18.2.1"},
		{"/ui/vendor/purify.min.js", "text/javascript; charset=utf-8", "DOMPurify"},
		{"/ui/vendor/highlight.min.js", "text/javascript; charset=utf-8", "Highlight.js v11.12.0"},
		{"/ui/vendor/highlight-github-dark.min.css", "text/css; charset=utf-8", ".hljs"},
		{"/ui/vendor/marked.LICENSE", "text/plain; charset=utf-8", "MIT"},
		{"/ui/vendor/dompurify.LICENSE", "text/plain; charset=utf-8", "Apache"},
		{"/ui/vendor/highlight.js.LICENSE", "text/plain; charset=utf-8", "BSD"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, body := get(t, ts.url+tc.path, "GET", "")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			h := resp.Header
			if got := h.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if got := h.Get("Content-Security-Policy"); got != webui.CSP {
				t.Errorf("CSP %q", got)
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q", got)
			}
			if !strings.Contains(body, tc.contains) {
				t.Errorf("body lacks %q", tc.contains)
			}
			if resp, _ := get(t, ts.url+tc.path, "HEAD", ""); resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") == "" {
				t.Errorf("HEAD: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
			}
			// Revalidation with the ETag is a 304.
			tag := h.Get("ETag")
			if tag == "" || h.Get("Cache-Control") != "no-cache" {
				t.Fatalf("ETag %q, Cache-Control %q", tag, h.Get("Cache-Control"))
			}
			req, _ := http.NewRequest("GET", ts.url+tc.path, nil)
			req.Header.Set("If-None-Match", tag)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
			}
		})
	}
	for _, p := range []string{"/ui/", "/ui/nope.js", "/ui/vendor/", "/ui/../go.mod", "/ui/%2e%2e/webui.go", "/ui/static/app.js"} {
		if resp, _ := get(t, ts.url+p, "GET", ""); resp.StatusCode != 404 && resp.StatusCode != 301 {
			t.Errorf("GET %s: %d, want 404", p, resp.StatusCode)
		}
	}
	// The rest of the API is unchanged.
	if resp, body := get(t, ts.url+"/api/version", "GET", ""); resp.StatusCode != 200 || !strings.Contains(body, "version") {
		t.Errorf("/api/version: %d %s", resp.StatusCode, body)
	}
}

// The CSP says what the page relies on.
func TestCSP(t *testing.T) {
	for _, want := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';", "img-src 'self' data:",
		"connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'", "object-src 'none'"} {
		if !strings.Contains(webui.CSP, want) {
			t.Errorf("CSP lacks %q: %s", want, webui.CSP)
		}
	}
	if strings.Contains(webui.CSP, "unsafe") {
		t.Errorf("CSP allows something unsafe: %s", webui.CSP)
	}
}

// The page's HTML has no inline script, no inline event handler and no
// javascript: URL, and loads nothing from elsewhere: the CSP would block
// them, so they would only be bugs.
func TestNoInlineScript(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("static", "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	html := string(b)
	scripts := regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`).FindAllStringSubmatch(html, -1)
	if len(scripts) == 0 {
		t.Fatal("no <script> found")
	}
	for _, m := range scripts {
		if !strings.Contains(m[1], `src="/ui/`) || strings.TrimSpace(m[2]) != "" {
			t.Errorf("inline or foreign script: %q", m[0])
		}
	}
	for _, re := range []string{`\son[a-z]+\s*=`, `javascript:`, `(?:src|href)="(?:https?:)?//`, `\sstyle\s*=`, `<style`} {
		if m := regexp.MustCompile(`(?i)` + re).FindString(html); m != "" {
			t.Errorf("index.html matches %s: %q", re, m)
		}
	}
}

// With --no-ui, / is the plain text of old and /ui/ does not exist.
func TestNoUI(t *testing.T) {
	ts := startServer(t, server.Config{NoUI: true})
	resp, body := get(t, ts.url+"/", "GET", "")
	if resp.StatusCode != 200 || body != "Ondo is running" || resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("/: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp.Header.Get("Content-Security-Policy") != "" {
		t.Errorf("/ with --no-ui carries the page's CSP")
	}
	if resp, _ := get(t, ts.url+"/ui/app.js", "GET", ""); resp.StatusCode != 404 {
		t.Errorf("/ui/app.js with --no-ui: %d", resp.StatusCode)
	}

	// With a key and no page, / needs the key as before.
	ts = startServer(t, server.Config{NoUI: true, APIKey: "sekrit"})
	if resp, _ := get(t, ts.url+"/", "GET", ""); resp.StatusCode != 401 {
		t.Errorf("/ without the key, --no-ui: %d", resp.StatusCode)
	}
	if resp, _ := get(t, ts.url+"/", "GET", "sekrit"); resp.StatusCode != 200 {
		t.Errorf("/ with the key, --no-ui: %d", resp.StatusCode)
	}
}

// With an API key, the page and its assets load without it, and nothing
// else does.
func TestAPIKey(t *testing.T) {
	ts := startServer(t, server.Config{APIKey: "sekrit"})
	for _, p := range []string{"/", "/ui/app.js", "/ui/app.css", "/ui/vendor/purify.min.js"} {
		for _, m := range []string{"GET", "HEAD"} {
			if resp, _ := get(t, ts.url+p, m, ""); resp.StatusCode != 200 {
				t.Errorf("%s %s without the key: %d", m, p, resp.StatusCode)
			}
		}
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/api/tags"}, {"GET", "/api/ps"}, {"GET", "/api/version"}, {"POST", "/api/chat"},
		{"DELETE", "/api/delete"}, {"POST", "/api/pull"}, {"GET", "/v1/models"}, {"GET", "/metrics"},
		{"POST", "/"}, {"POST", "/ui/app.js"}, {"DELETE", "/ui/app.js"}, {"GET", "/uix"}, {"GET", "/index.html"},
	} {
		if resp, _ := get(t, ts.url+tc.path, tc.method, ""); resp.StatusCode != 401 {
			t.Errorf("%s %s without the key: %d, want 401", tc.method, tc.path, resp.StatusCode)
		}
	}
	if resp, body := get(t, ts.url+"/api/tags", "GET", "sekrit"); resp.StatusCode != 200 {
		t.Errorf("/api/tags with the key: %d %s", resp.StatusCode, body)
	}
	if resp, _ := get(t, ts.url+"/api/tags", "GET", "wrong"); resp.StatusCode != 401 {
		t.Errorf("/api/tags with a wrong key: %d", resp.StatusCode)
	}
}

func TestIsPagePath(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         bool
	}{
		{"GET", "/", true}, {"HEAD", "/", true}, {"GET", "/ui/app.js", true}, {"GET", "/ui/", true},
		{"POST", "/", false}, {"DELETE", "/ui/app.js", false}, {"GET", "/api/tags", false},
		{"GET", "/uiapp.js", false}, {"GET", "/health", false}, {"GET", "", false},
	} {
		if got := webui.IsPagePath(tc.method, tc.path); got != tc.want {
			t.Errorf("IsPagePath(%s, %q) = %v", tc.method, tc.path, got)
		}
	}
}

// The vendored libraries are the files vendor.sha256 lists, unchanged,
// each with its licence.
func TestVendorChecksums(t *testing.T) {
	f, err := os.Open("vendor.sha256")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	listed := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok {
			t.Fatalf("vendor.sha256: bad line %q", sc.Text())
		}
		data, err := os.ReadFile(filepath.Join("static", "vendor", name))
		if err != nil {
			t.Fatal(err)
		}
		if h := sha256.Sum256(data); hex.EncodeToString(h[:]) != sum {
			t.Errorf("%s: sha256 differs from vendor.sha256: run ./vendor.sh", name)
		}
		listed[name] = true
	}
	err = fs.WalkDir(os.DirFS("static/vendor"), ".", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !listed[p] {
			t.Errorf("static/vendor/%s is not in vendor.sha256", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, lic := range []string{"marked.LICENSE", "dompurify.LICENSE", "highlight.js.LICENSE"} {
		if !listed[lic] {
			t.Errorf("no %s", lic)
		}
	}
}
