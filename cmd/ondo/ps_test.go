package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestPsNoServer(t *testing.T) {
	noServer(t)
	msg := checkFailure(t, runOndo(t, "ps"), "ps without a server")
	if !strings.Contains(msg, "could not connect to an ondo server at http://127.0.0.1:1: is ondo serve running?") {
		t.Errorf("message: %s", msg)
	}
	t.Setenv("ONDO_HOST", "127.0.0.1:99999")
	checkFailure(t, runOndo(t, "ps"), "ps with a bad ONDO_HOST")
}

func TestPrintPs(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var b bytes.Buffer
	printPs(&b, []psModel{
		{Name: "hf.co/owner/repo:Q4_K_M", Digest: "0123456789abcdef", Size: 5_400_000_000, ContextLength: 4096, ExpiresAt: now.Add(4*time.Minute + 30*time.Second)},
		{Name: "tiny:latest", Digest: "fedcba9876543210", Size: 1_200_000, ContextLength: 2048, ExpiresAt: time.Date(2318, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Name: "going", Digest: "abc", Size: 10, ExpiresAt: now.Add(-time.Second)},
	}, now)
	want := `NAME                       ID              SIZE      PROCESSOR    CONTEXT    UNTIL
hf.co/owner/repo:Q4_K_M    0123456789ab    5.4 GB    100% CPU     4096       4 minutes from now
tiny:latest                fedcba987654    1.2 MB    100% CPU     2048       Forever
going                      abc             10 B      100% CPU     0          Stopping...
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	for _, c := range []struct {
		m    psModel
		want string
	}{
		{psModel{Size: 100, SizeVRAM: 100}, "100% GPU"},
		{psModel{Size: 100, SizeVRAM: 25}, "75%/25% CPU/GPU"},
		{psModel{Size: 100, SizeVRAM: 200}, "Unknown"},
	} {
		if got := processor(c.m); got != c.want {
			t.Errorf("processor(%+v) = %q, want %q", c.m, got, c.want)
		}
	}
}

func TestServerURL(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "http://127.0.0.1:11435",
		"127.0.0.1:8080":          "http://127.0.0.1:8080",
		"localhost":               "http://localhost:11435",
		":9000":                   "http://127.0.0.1:9000",
		"0.0.0.0:9000":            "http://127.0.0.1:9000",
		"[::]:9000":               "http://127.0.0.1:9000",
		"http://example.com:1234": "http://example.com:1234",
		"https://example.com":     "https://example.com:443",
		"http://example.com/":     "http://example.com:80",
		"http://:8080":            "http://127.0.0.1:8080",
		"[::1]:7":                 "http://[::1]:7",
	} {
		u, err := serverURL(in)
		if err != nil || u.String() != want {
			t.Errorf("serverURL(%q) = %v, %v; want %s", in, u, err, want)
		}
	}
	for _, bad := range []string{"host:port", "ftp://example.com"} {
		if _, err := serverURL(bad); err == nil {
			t.Errorf("serverURL(%s): no error", bad)
		}
	}
}
