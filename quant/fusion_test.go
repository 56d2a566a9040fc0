package quant_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// fusedOp matches fused multiply-add instructions in the compiler's assembly
// listing on every architecture that has them (FMADDS, VFMADD231SS, ...).
var fusedOp = regexp.MustCompile(`(?i)\bV?F(N)?M(ADD|SUB)[0-9]*[SDF]{0,2}\b`)

// TestNoFusedMultiplyAdd compiles the package for the FMA-capable targets
// and fails if the compiler fused any multiply-add. A fused x*y+z rounds
// once instead of twice, which breaks byte-exactness with llama.cpp; the
// amd64 tests cannot see it because amd64 only fuses with GOAMD64=v3. The
// fix is an explicit float32(x*y) conversion at the reported line.
func TestNoFusedMultiplyAdd(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the package for five architectures")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not on PATH")
	}
	targets := [][]string{
		{"GOARCH=arm64"}, {"GOARCH=ppc64le"}, {"GOARCH=s390x"}, {"GOARCH=riscv64"}, {"GOARCH=loong64"},
		{"GOARCH=amd64", "GOAMD64=v3"},
	}
	for _, env := range targets {
		cmd := exec.Command(goTool, "build", "-o", os.DevNull, "-gcflags=-S", ".")
		cmd.Env = append(append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux"), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v: go build: %v\n%s", env, err, out)
		}
		for _, line := range strings.Split(string(out), "\n") {
			if fusedOp.MatchString(line) {
				t.Errorf("%v: fused multiply-add: %s", env, line)
			}
		}
	}
}
