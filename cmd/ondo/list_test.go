package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/ondo-ai/ondo/store"
)

func TestPrintList(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	d := "sha256:" + "365c0bd3c000a25d28ddbf732fe1c6add414de7275464c4e4d1c3b5fcb5d8ad1"
	ms := []*store.Manifest{
		{Name: "old:latest", Digest: d, Size: 4_661_224_676, Created: now.Add(-50 * 24 * time.Hour)},
		{Name: "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M", Digest: d, Size: 807_694_464, Created: now.Add(-90 * time.Second)},
		{Name: "tiny:latest", Digest: d, Size: 1_185_376, Created: now.Add(-3 * time.Hour)},
	}
	var b bytes.Buffer
	printList(&b, ms, now)
	want := `NAME                                                 ID              SIZE      MODIFIED
hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M    365c0bd3c000    807 MB    About a minute ago
tiny:latest                                          365c0bd3c000    1.2 MB    3 hours ago
old:latest                                           365c0bd3c000    4.7 GB    7 weeks ago
`
	if b.String() != want {
		t.Errorf("list:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestHumanSince(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                    "Less than a second ago",
		time.Second:          "1 second ago",
		45 * time.Second:     "45 seconds ago",
		70 * time.Second:     "About a minute ago",
		5 * time.Minute:      "5 minutes ago",
		time.Hour:            "About an hour ago",
		30 * time.Hour:       "30 hours ago",
		3 * 24 * time.Hour:   "3 days ago",
		20 * 24 * time.Hour:  "2 weeks ago",
		90 * 24 * time.Hour:  "3 months ago",
		800 * 24 * time.Hour: "2 years ago",
	} {
		if got := humanSince(d); got != want {
			t.Errorf("humanSince(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDecimalBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 999: "999 B", 1000: "1 KB", 1500: "1.5 KB", 12_345_678: "12 MB",
		4_661_224_676: "4.7 GB", 2_000_000_000_000: "2 TB",
	} {
		if got := decimalBytes(n); got != want {
			t.Errorf("decimalBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
