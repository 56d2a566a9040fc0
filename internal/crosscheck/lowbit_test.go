package crosscheck

import (
	"strings"
	"testing"

	"github.com/ondo-ai/ondo/synth"
)

// lowbitTypes are issue 15's presets: the IQ1-IQ3 and ternary files people
// download, each with llama.cpp's per-tensor mix (synth makes the ones that
// need an importance matrix with a flat one, as llama.cpp would take it;
// quantize's tests show the files are byte-identical to llama.cpp's).
var lowbitTypes = []string{"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M",
	"IQ3_XXS", "IQ3_XS", "IQ3_S", "IQ3_M", "TQ1_0", "TQ2_0"}

// TestLowBitMatchesLlamaCpp cross-checks the tiny llama model in every
// low-bit preset against llama.cpp: the last prompt position's
// log-probabilities within the quantized types' tolerance, and 32 greedy
// tokens identical up to a near tie. Both engines round the activations
// alike (Q8_K for these types), so only the order of float operations
// differs. (MXFP4 is checked on gpt-oss, whose experts it stores.)
func TestLowBitMatchesLlamaCpp(t *testing.T) {
	llamaCpp(t)
	dir := t.TempDir()
	var table []string
	for _, typ := range lowbitTypes {
		t.Run(typ, func(t *testing.T) {
			path := synthFile(t, dir, "llama", typ, func(c *synth.Config) { c.Pure = false }) // the preset's mix
			c := crossCheck(t, path, prompt(promptLen, 512), qwenPhiTypes[1].tol)
			table = append(table, c.row("llama", typ))
			if c.err != nil {
				t.Error(c.err)
			}
		})
	}
	t.Logf("low-bit cross-check against llama.cpp (prompt %d tokens, %d greedy steps)\n| model | type | %s\n|---|---|---|---|---|---|\n%s",
		promptLen, greedySteps, tableHeader, strings.Join(table, "\n"))
}
