package main

import (
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/synth"
)

// tinyModel writes the tiny synthetic preset to a temporary file.
func tinyModel(t *testing.T) string {
	t.Helper()
	c, err := synth.Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "tiny.gguf")
	if err := synth.Write(path, c); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBench: `ondo bench --json` prints one object with the figures the
// peer harness reads, sane values, and one figure per repetition.
func TestBench(t *testing.T) {
	path := tinyModel(t)
	r := mustRun(t, "bench", "--model", path, "--pp", "16", "--tg", "4", "--reps", "3", "--threads", "1", "--json")
	var raw map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, r.stdout)
	}
	for _, k := range []string{"pp_tps", "tg_tps", "threads", "peak_rss_bytes", "model", "file_bytes", "type",
		"reps", "pp_tps_reps", "tg_tps_reps", "weight_bytes", "read_bytes_per_token", "pp", "tg"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("bench --json has no %q: %s", k, r.stdout)
		}
	}
	var b benchResult
	if err := json.Unmarshal([]byte(r.stdout), &b); err != nil {
		t.Fatal(err)
	}
	if b.Model != path || b.Threads != 1 || b.PP != 16 || b.TG != 4 || b.Reps != 3 || b.WarmupPP != 16 || b.FileType != "F32" || b.Arch != "llama" {
		t.Errorf("bench --json: %+v", b)
	}
	if !(b.PPTps > 0) || !(b.TGTps > 0) || len(b.PPTpsReps) != 3 || len(b.TGTpsReps) != 3 {
		t.Errorf("figures: pp %v %v, tg %v %v", b.PPTps, b.PPTpsReps, b.TGTps, b.TGTpsReps)
	}
	if med := medianOf(b.PPTpsReps); med != b.PPTps {
		t.Errorf("pp_tps %v is not the median of %v", b.PPTps, b.PPTpsReps)
	}
	if b.FileBytes <= b.WeightBytes || b.WeightBytes <= 0 || b.ReadBytesPerToken != b.WeightBytes {
		t.Errorf("file %d bytes, weights %d, read per token %d (tied embeddings)", b.FileBytes, b.WeightBytes, b.ReadBytesPerToken)
	}
	if b.PeakRSSBytes < 0 || isLinux() && b.PeakRSSBytes == 0 {
		t.Errorf("peak_rss_bytes %d", b.PeakRSSBytes)
	}

	// The text form names both tests; --warmup-pp 0 skips the warm-up.
	r = mustRun(t, "bench", "--model", path, "--pp", "8", "--tg", "2", "--reps", "1", "--warmup-pp", "0")
	if !strings.Contains(r.stdout, "pp8") || !strings.Contains(r.stdout, "tg2") || !strings.Contains(r.stdout, "tok/s") {
		t.Errorf("bench text output:\n%s", r.stdout)
	}

	// --depth: generation after that many prompt tokens; the cache holds
	// depth + tg positions (the tiny model's context is the limit).
	r = mustRun(t, "bench", "--model", path, "--pp", "8", "--tg", "4", "--depth", "40", "--reps", "1", "--json")
	var d benchResult
	if err := json.Unmarshal([]byte(r.stdout), &d); err != nil {
		t.Fatalf("bench --depth --json: %v\n%s", err, r.stdout)
	}
	if d.Depth != 40 || d.TGTps <= 0 {
		t.Errorf("bench --depth 40: depth %d, tg %v tok/s", d.Depth, d.TGTps)
	}
}

func TestBenchBadFlags(t *testing.T) {
	path := tinyModel(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--model", path, "--pp", "0"}, "--pp"},
		{[]string{"--model", path, "--tg", "-1"}, "--tg"},
		{[]string{"--model", path, "--threads", "-2"}, "--threads"},
		{[]string{"--model", path, "--reps", "0"}, "--reps"},
		{[]string{"--model", path, "--warmup-pp", "-3"}, "--warmup-pp"},
		{[]string{"--model", path, "--depth", "-1"}, "--depth"},
		{[]string{"--model", filepath.Join(t.TempDir(), "nope.gguf")}, "no such file"},
		{[]string{"--model", t.TempDir()}, "directory"},
		{[]string{}, "--model"},
		{[]string{"--model", path, "extra"}, "extra"},
		{[]string{"--membw", "--model", path}, "--membw"},
		{[]string{"--membw", "--membw-mib", "0"}, "--membw-mib"},
	} {
		what := "bench " + strings.Join(c.args, " ")
		msg := checkFailure(t, runOndo(t, append([]string{"bench"}, c.args...)...), what)
		if !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q does not mention %q", what, msg, c.want)
		}
	}
}

// TestBenchMembw: the bandwidth mode reports one result per goroutine count.
func TestBenchMembw(t *testing.T) {
	r := mustRun(t, "bench", "--membw", "--membw-mib", "16", "--reps", "2", "--threads", "2", "--json")
	var m membwResult
	if err := json.Unmarshal([]byte(r.stdout), &m); err != nil {
		t.Fatalf("bench --membw --json: %v\n%s", err, r.stdout)
	}
	if m.BufferBytes != 16<<20 || m.Passes != 2 || len(m.Results) != 2 {
		t.Fatalf("bench --membw: %+v", m)
	}
	for i, x := range m.Results {
		if x.Goroutines != i+1 || !(x.GBps > 0) || len(x.PassGBps) != 2 {
			t.Errorf("result %d: %+v", i, x)
		}
	}
	r = mustRun(t, "bench", "--membw", "--membw-mib", "16", "--reps", "1", "--threads", "1")
	if !strings.Contains(r.stdout, "GB/s") {
		t.Errorf("bench --membw text output:\n%s", r.stdout)
	}
}

func isLinux() bool { return runtime.GOOS == "linux" }
