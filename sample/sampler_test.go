package sample

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

var inf = float32(math.Inf(1))

// lnp returns logits whose softmax is ps (which sum to 1).
func lnp(ps ...float64) []float32 {
	out := make([]float32, len(ps))
	for i, p := range ps {
		out[i] = float32(math.Log(p))
	}
	return out
}

// ids returns the ids of the surviving candidates, ascending.
func ids(c *Candidates) []int32 {
	var out []int32
	for _, it := range c.Items() {
		if it.Logit > negInf {
			out = append(out, it.ID)
		}
	}
	slices.Sort(out)
	return out
}

func run(logits []float32, steps ...Step) *Candidates {
	c := NewCandidates(logits)
	for _, s := range steps {
		s.Apply(c)
	}
	return c
}

// randLogits returns n logits drawn from a normal distribution scaled by scale.
func randLogits(seed uint64, n int, scale float64) []float32 {
	r := rand.New(rand.NewPCG(seed, seed+1))
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(r.NormFloat64() * scale)
	}
	return out
}

func TestValidate(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name string
		cfg  Config
		want string // "" = valid
	}{
		{"zero", Config{}, ""},
		{"default", DefaultConfig(), ""},
		{"negative temperature is greedy", Config{Temperature: -1}, ""},
		{"edges", Config{TopP: 1, MinP: 1, RepeatLastN: -1, Seed: -7}, ""},
		{"ban", Config{LogitBias: map[int32]float32{3: negInf, 4: -2.5}}, ""},
		{"temperature nan", Config{Temperature: nan}, "sample: temperature NaN is not a finite number"},
		{"temperature inf", Config{Temperature: inf}, "sample: temperature +Inf is not a finite number"},
		{"top_k", Config{TopK: -1}, "sample: top_k -1 is negative (0 disables it)"},
		{"top_p high", Config{TopP: 1.5}, "sample: top_p 1.5 outside [0, 1]"},
		{"top_p low", Config{TopP: -0.1}, "sample: top_p -0.1 outside [0, 1]"},
		{"top_p nan", Config{TopP: nan}, "sample: top_p NaN outside [0, 1]"},
		{"min_p", Config{MinP: 2}, "sample: min_p 2 outside [0, 1]"},
		{"min_keep", Config{MinKeep: -3}, "sample: min_keep -3 is negative"},
		{"repeat_penalty", Config{RepeatPenalty: -1.1}, "sample: repeat_penalty -1.1 is negative (1 disables it)"},
		{"repeat_penalty inf", Config{RepeatPenalty: inf}, "sample: repeat_penalty +Inf is not a finite number"},
		{"presence", Config{PresencePenalty: nan}, "sample: presence_penalty NaN is not a finite number"},
		{"frequency", Config{FrequencyPenalty: -inf}, "sample: frequency_penalty -Inf is not a finite number"},
		{"repeat_last_n", Config{RepeatLastN: -2}, "sample: repeat_last_n -2 must be -1 (whole history), 0 (off) or positive"},
		{"bias id", Config{LogitBias: map[int32]float32{5: 1, -3: 1}}, "sample: logit_bias token -3 is negative"},
		{"bias +inf", Config{LogitBias: map[int32]float32{7: inf}}, "sample: logit_bias +Inf for token 7 is not allowed (use a finite bias, or -Inf to ban the token)"},
		{"bias nan", Config{LogitBias: map[int32]float32{2: nan}}, "sample: logit_bias NaN for token 2 is not allowed (use a finite bias, or -Inf to ban the token)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNewPanicsOnInvalidConfig(t *testing.T) {
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !strings.Contains(err.Error(), "top_p 1.5") {
			t.Fatalf("recovered %v, want the validation error", r)
		}
	}()
	New(Config{TopP: 1.5})
}

func TestGreedy(t *testing.T) {
	nan := float32(math.NaN())
	tests := []struct {
		name   string
		logits []float32
		want   int32
	}{
		{"single", []float32{0.5}, 0},
		{"max", []float32{1, 3, 2}, 1},
		{"tie lowest id", []float32{1, 3, 2, 3, 3}, 1},
		{"tie at start", []float32{7, 7, 7}, 0},
		{"negative", []float32{-5, -1, -1, -3}, 1},
		{"banned skipped", []float32{negInf, -100, negInf}, 1},
		{"nan never wins", []float32{nan, 1, nan, 2}, 3},
		{"all banned", []float32{negInf, negInf}, -1},
		{"empty", nil, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, temp := range []float32{0, -1} {
				s := New(Config{Temperature: temp, Seed: 1})
				before := s.rng
				if got := s.Sample(tt.logits); got != tt.want {
					t.Fatalf("temperature %v: Sample = %d, want %d", temp, got, tt.want)
				}
				if s.rng != before {
					t.Fatalf("greedy Sample advanced the random generator")
				}
			}
		})
	}
}

// TestGreedyIgnoresFilters: a greedy config has no filter steps, and the filters could not have
// changed the argmax anyway.
func TestGreedyIgnoresFilters(t *testing.T) {
	s := New(Config{Temperature: 0, TopK: 3, TopP: 0.1, MinP: 0.9, Seed: 1})
	for _, st := range s.Chain() {
		switch st.(type) {
		case TopK, TopP, MinP, Temperature:
			t.Fatalf("greedy chain has %v", st)
		}
	}
	for seed := uint64(0); seed < 20; seed++ {
		logits := randLogits(seed, 500, 2)
		want := argmax(logits)
		if got := s.Sample(logits); got != want {
			t.Fatalf("seed %d: Sample = %d, want %d", seed, got, want)
		}
	}
}

func argmax(logits []float32) int32 {
	best := int32(0)
	for i, v := range logits {
		if v > logits[best] {
			best = int32(i)
		}
	}
	return best
}

func TestTopKOneEqualsGreedy(t *testing.T) {
	for seed := uint64(0); seed < 50; seed++ {
		logits := randLogits(seed, 3000, 1)
		// Coarse values make ties for the maximum common.
		for i := range logits {
			logits[i] = float32(math.Round(float64(logits[i]) * 2))
		}
		greedy := New(Config{Seed: 1}).Sample(logits)
		for _, temp := range []float32{0.5, 1, 3} {
			s := New(Config{Temperature: temp, TopK: 1, Seed: int64(seed)})
			if got := s.Sample(logits); got != greedy {
				t.Fatalf("seed %d, temperature %v: top-k 1 gave %d, greedy %d", seed, temp, got, greedy)
			}
		}
	}
}

func TestTopK(t *testing.T) {
	tests := []struct {
		name   string
		logits []float32
		k      int
		want   []int32
	}{
		{"top 2", []float32{1, 5, 3, 4, 2}, 2, []int32{1, 3}},
		{"ties go to lower ids", []float32{2, 9, 2, 2, 9}, 3, []int32{0, 1, 4}},
		{"all tie", []float32{1, 1, 1, 1}, 2, []int32{0, 1}},
		{"k beyond vocab", []float32{1, 2, 3}, 10, []int32{0, 1, 2}},
		{"banned never kept", []float32{negInf, 1, negInf, 0}, 3, []int32{1, 3}},
		{"zero disables", []float32{3, 1, 2}, 0, []int32{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ids(run(tt.logits, TopK{tt.k})); !slices.Equal(got, tt.want) {
				t.Errorf("dense: kept %v, want %v", got, tt.want)
			}
			// The same from list form, starting from a shuffled list.
			c := NewCandidates(tt.logits)
			items := c.Items()
			rand.New(rand.NewPCG(1, 2)).Shuffle(len(items), func(i, j int) {
				items[i], items[j] = items[j], items[i]
			})
			TopK{tt.k}.Apply(c)
			if got := ids(c); !slices.Equal(got, tt.want) {
				t.Errorf("list: kept %v, want %v", got, tt.want)
			}
		})
	}
}

// refSorted returns the finite candidates of logits sorted best first, by full sort.
func refSorted(logits []float32) []Candidate {
	var all []Candidate
	for i, v := range logits {
		if v > negInf {
			all = append(all, Candidate{int32(i), v})
		}
	}
	slices.SortStableFunc(all, func(a, b Candidate) int {
		switch {
		case a.Logit > b.Logit:
			return -1
		case a.Logit < b.Logit:
			return 1
		}
		return int(a.ID - b.ID)
	})
	return all
}

func refTopP(logits []float32, p float64, minKeep int) []int32 {
	all := refSorted(logits)
	m := float64(all[0].Logit)
	sum := 0.0
	for _, c := range all {
		sum += math.Exp(float64(c.Logit) - m)
	}
	cum := 0.0
	var out []int32
	for _, c := range all {
		out = append(out, c.ID)
		cum += math.Exp(float64(c.Logit)-m) / sum
		if cum >= p && len(out) >= minKeep {
			break
		}
	}
	slices.Sort(out)
	return out
}

// TestTopKTopPAgainstFullSort checks the heap selection and the lazy top-p sort against a full
// sort, on vocabularies big enough for the lazy paths, including flat ones where top-p must look
// past its first 256 candidates.
func TestTopKTopPAgainstFullSort(t *testing.T) {
	for seed := uint64(0); seed < 8; seed++ {
		for _, scale := range []float64{0.05, 1, 4} { // flat, normal, peaked
			logits := randLogits(seed, 5000, scale)
			// Quantize so that ties occur.
			for i := range logits {
				logits[i] = float32(math.Round(float64(logits[i])*64) / 64)
			}
			for _, k := range []int{1, 40, 300, 4999} {
				want := refSorted(logits)[:k]
				got := run(logits, TopK{k}).Items()
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d scale %v: top-k %d differs from full sort", seed, scale, k)
				}
			}
			for i, p := range []float64{0.1, 0.5, 0.9, 0.99, 0.3} {
				minKeep := []int{0, 1, 0, 0, 700}[i]
				want := refTopP(logits, p, minKeep)
				top := TopP{P: float32(p), MinKeep: minKeep}
				if got := ids(run(logits, top)); !slices.Equal(got, want) {
					t.Fatalf("seed %d scale %v: top-p %v kept %d, full sort %d", seed, scale, p,
						len(got), len(want))
				}
				// Also from an unsorted list (after a step that only listed them).
				c := NewCandidates(logits)
				c.Items()
				top.Apply(c)
				if got := ids(c); !slices.Equal(got, want) {
					t.Fatalf("seed %d scale %v: list top-p %v kept %d, full sort %d", seed, scale,
						p, len(got), len(want))
				}
			}
		}
	}
}

func TestTopP(t *testing.T) {
	// Probabilities 0.15, 0.5, 0.05, 0.3 for ids 0..3: best first that is 1, 3, 0, 2 with
	// cumulative mass 0.5, 0.8, 0.95, 1.
	logits := lnp(0.15, 0.5, 0.05, 0.3)
	tests := []struct {
		p       float32
		minKeep int
		want    []int32
	}{
		{0.4, 0, []int32{1}},
		{0.7, 0, []int32{1, 3}},
		{0.9, 0, []int32{0, 1, 3}},
		{0.97, 0, []int32{0, 1, 2, 3}},
		{0.4, 3, []int32{0, 1, 3}},  // min_keep wins
		{0, 0, []int32{0, 1, 2, 3}}, // off
		{1, 0, []int32{0, 1, 2, 3}}, // off
	}
	for _, tt := range tests {
		got := ids(run(logits, TopP{P: tt.p, MinKeep: tt.minKeep}))
		if !slices.Equal(got, tt.want) {
			t.Errorf("top-p %v min_keep %d: kept %v, want %v", tt.p, tt.minKeep, got, tt.want)
		}
		// After top-k (sorted list) the mass is renormalized over the survivors: with top-k 3,
		// the masses are 0.5/0.95, 0.8/0.95 = 0.842, 1.
		got = ids(run(logits, TopK{3}, TopP{P: tt.p, MinKeep: tt.minKeep}))
		want := map[float32][]int32{0.4: {1}, 0.7: {1, 3}, 0.9: {0, 1, 3}, 0.97: {0, 1, 3},
			0: {0, 1, 3}, 1: {0, 1, 3}}[tt.p]
		if tt.minKeep == 3 {
			want = []int32{0, 1, 3}
		}
		if !slices.Equal(got, want) {
			t.Errorf("top-k 3, top-p %v: kept %v, want %v", tt.p, got, want)
		}
	}
}

// TestTopPBoundary: the cut is "cumulative mass ≥ P", and equal logits go to the lower id. Four
// equal logits have exactly representable probabilities 0.25 each.
func TestTopPBoundary(t *testing.T) {
	logits := []float32{3, 3, 3, 3}
	for _, tt := range []struct {
		p    float32
		want []int32
	}{
		{0.25, []int32{0}},
		{0.26, []int32{0, 1}},
		{0.5, []int32{0, 1}},
		{0.75, []int32{0, 1, 2}},
		{0.76, []int32{0, 1, 2, 3}},
	} {
		if got := ids(run(logits, TopP{P: tt.p})); !slices.Equal(got, tt.want) {
			t.Errorf("top-p %v: kept %v, want %v", tt.p, got, tt.want)
		}
		if got := ids(run(logits, sortAll{}, TopP{P: tt.p})); !slices.Equal(got, tt.want) {
			t.Errorf("top-p %v (sorted): kept %v, want %v", tt.p, got, tt.want)
		}
	}
}

func TestMinPBoundary(t *testing.T) {
	// ln 0.5 = -0.693147: a logit just above best + ln P stays, one just below goes.
	logits := []float32{0, -0.69314, -0.69316, -5}
	for _, steps := range [][]Step{{MinP{P: 0.5}}, {sortAll{}, MinP{P: 0.5}}} {
		if got := ids(run(logits, steps...)); !slices.Equal(got, []int32{0, 1}) {
			t.Errorf("%v: kept %v, want [0 1]", steps, got)
		}
	}
}

func TestMinP(t *testing.T) {
	// Probabilities 0.15, 0.5, 0.05, 0.3: min-p P keeps p >= 0.5·P.
	logits := lnp(0.15, 0.5, 0.05, 0.3)
	tests := []struct {
		p       float32
		minKeep int
		want    []int32
	}{
		{0.05, 0, []int32{0, 1, 2, 3}}, // threshold 0.025
		{0.2, 0, []int32{0, 1, 3}},     // threshold 0.1
		{0.5, 0, []int32{1, 3}},        // threshold 0.25
		{0.7, 0, []int32{1}},           // threshold 0.35
		{1, 0, []int32{1}},
		{0.7, 2, []int32{1, 3}}, // min_keep: the next best is kept
		{0.7, 9, []int32{0, 1, 2, 3}},
		{0, 0, []int32{0, 1, 2, 3}}, // off
	}
	for _, tt := range tests {
		got := ids(run(logits, MinP{P: tt.p, MinKeep: tt.minKeep}))
		if !slices.Equal(got, tt.want) {
			t.Errorf("min-p %v min_keep %d (dense): kept %v, want %v", tt.p, tt.minKeep, got, tt.want)
		}
		got = ids(run(logits, sortAll{}, MinP{P: tt.p, MinKeep: tt.minKeep}))
		if !slices.Equal(got, tt.want) {
			t.Errorf("min-p %v min_keep %d (sorted): kept %v, want %v", tt.p, tt.minKeep, got, tt.want)
		}
	}
}

// sortAll is a step that sorts the candidates, to reach the sorted paths of later steps.
type sortAll struct{}

func (sortAll) Apply(c *Candidates) { c.Sort() }

func TestTemperature(t *testing.T) {
	c := run([]float32{2, -1, 0.5, negInf}, Temperature{T: 0.5})
	if got, want := c.Logits(), []float32{4, -2, 1, negInf}; !slices.Equal(got, want) {
		t.Fatalf("dense: logits %v, want %v", got, want)
	}
	c = run([]float32{2, -1, 0.5}, TopK{2}, Temperature{T: 2})
	want := []Candidate{{0, 1}, {2, 0.25}}
	if got := c.Items(); !slices.Equal(got, want) {
		t.Fatalf("list: %v, want %v", got, want)
	}
	orig := []float32{2, -1}
	run(orig, Temperature{T: 4})
	if orig[0] != 2 || orig[1] != -1 {
		t.Fatalf("Temperature wrote to the caller's logits: %v", orig)
	}
}

// TestTemperatureAfterTopP pins llama.cpp's order: top-p and min-p see the distribution before
// temperature, so a high temperature does not widen the nucleus (ollama's order would).
func TestTemperatureAfterTopP(t *testing.T) {
	logits := lnp(0.15, 0.5, 0.05, 0.3)
	for _, temp := range []float32{0.1, 1, 10} {
		s := New(Config{Temperature: temp, TopP: 0.7, Seed: 3})
		for range 200 {
			if id := s.Sample(logits); id != 1 && id != 3 {
				t.Fatalf("temperature %v: sampled %d outside the nucleus {1, 3}", temp, id)
			}
		}
		s = New(Config{Temperature: temp, MinP: 0.5, Seed: 3})
		for range 200 {
			if id := s.Sample(logits); id != 1 && id != 3 {
				t.Fatalf("temperature %v: sampled %d outside min-p's {1, 3}", temp, id)
			}
		}
	}
}

func TestPenalties(t *testing.T) {
	logits := []float32{2, -2, 1, 0.5, 0}
	tests := []struct {
		name    string
		lastN   int
		repeat  float32
		freq    float32
		present float32
		history []int32
		want    []float32
	}{
		{"repeat divides positive, multiplies negative", 64, 2, 0, 0, []int32{0, 1, 1},
			[]float32{1, -4, 1, 0.5, 0}},
		{"count does not compound repeat", 64, 2, 0, 0, []int32{0, 0, 0},
			[]float32{1, -2, 1, 0.5, 0}},
		{"zero logit multiplied", 64, 2, 0, 0, []int32{4}, []float32{2, -2, 1, 0.5, 0}},
		{"frequency and presence", 64, 1, 0.5, 1, []int32{0, 1, 1, 3},
			[]float32{0.5, -4, 1, -1, 0}},
		{"all three", 64, 2, 0.5, 1, []int32{0, 1, 1},
			[]float32{-0.5, -6, 1, 0.5, 0}},
		{"window drops old tokens", 2, 2, 0, 0, []int32{0, 1, 1},
			[]float32{2, -4, 1, 0.5, 0}},
		{"window keeps counting", 3, 1, 1, 0, []int32{2, 2, 0, 2, 2},
			[]float32{1, -2, -1, 0.5, 0}},
		{"whole history", -1, 1, 1, 0, []int32{2, 2, 0, 2, 2},
			[]float32{1, -2, -3, 0.5, 0}},
		{"zero window disables", 0, 2, 1, 1, []int32{0, 1}, []float32{2, -2, 1, 0.5, 0}},
		{"out of vocabulary id ignored", 64, 2, 0, 0, []int32{99, 2}, []float32{2, -2, 0.5, 0.5, 0}},
		{"negative presence favors", 64, 1, 0, -1, []int32{3}, []float32{2, -2, 1, 1.5, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewPenalties(tt.lastN, tt.repeat, tt.freq, tt.present)
			for _, id := range tt.history {
				p.Accept(id)
			}
			if got := run(logits, p).Logits(); !slices.Equal(got, tt.want) {
				t.Fatalf("dense: %v, want %v", got, tt.want)
			}
			// List form (after a step that listed the candidates).
			c := NewCandidates(logits)
			c.Items()
			p.Apply(c)
			got := make([]float32, len(logits))
			for _, it := range c.Items() {
				got[it.ID] = it.Logit
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("list: %v, want %v", got, tt.want)
			}
			p.Reset()
			if got := run(logits, p).Logits(); !slices.Equal(got, logits) {
				t.Fatalf("after Reset: %v, want the logits unchanged", got)
			}
		})
	}
	if logits[0] != 2 || logits[1] != -2 {
		t.Fatalf("penalties wrote to the caller's logits: %v", logits)
	}
}

func TestSamplerPenalizesAcceptedTokens(t *testing.T) {
	s := New(Config{RepeatPenalty: 10, RepeatLastN: 2})
	logits := []float32{3, 2, 1}
	var got []int32
	for range 6 {
		id := s.Sample(logits)
		s.Accept(id)
		got = append(got, id)
	}
	// 0 (3) → 1 (2 vs 0.3) → 2 (1 vs 0.3, 0.2) → 0 (3 vs 0.2, 0.1: id 0 left the window) ...
	if want := []int32{0, 1, 2, 0, 1, 2}; !slices.Equal(got, want) {
		t.Fatalf("tokens %v, want %v", got, want)
	}
	s.Reset()
	if id := s.Sample(logits); id != 0 {
		t.Fatalf("after Reset: %d, want 0", id)
	}
}

func TestLogitBias(t *testing.T) {
	logits := []float32{1, 5, 3, 4}
	tests := []struct {
		name string
		bias map[int32]float32
		want int32 // greedy choice
	}{
		{"ban the best", map[int32]float32{1: negInf}, 3},
		{"ban two", map[int32]float32{1: negInf, 3: negInf}, 2},
		{"boost", map[int32]float32{0: 4.5}, 0},
		{"lower", map[int32]float32{1: -2}, 3},
		{"out of vocabulary ignored", map[int32]float32{100: 50}, 1},
		{"ban all", map[int32]float32{0: negInf, 1: negInf, 2: negInf, 3: negInf}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := New(Config{LogitBias: tt.bias}).Sample(logits); got != tt.want {
				t.Errorf("greedy: %d, want %d", got, tt.want)
			}
			// Sampling never picks a banned token, and picks the only one left.
			s := New(Config{Temperature: 1, LogitBias: tt.bias, Seed: 9})
			for range 300 {
				id := s.Sample(logits)
				if tt.want == -1 {
					if id != -1 {
						t.Fatalf("sampled %d with every token banned", id)
					}
					continue
				}
				if b, ok := tt.bias[id]; ok && math.IsInf(float64(b), -1) {
					t.Fatalf("sampled banned token %d", id)
				}
			}
		})
	}
	only := map[int32]float32{0: negInf, 1: negInf, 3: negInf}
	s := New(Config{Temperature: 2, TopP: 0.5, MinP: 0.1, LogitBias: only, Seed: 1})
	for range 100 {
		if id := s.Sample(logits); id != 2 {
			t.Fatalf("sampled %d, want the only unbanned token 2", id)
		}
	}
}

// evenOnly is a constraint step that allows even ids only and counts accepted tokens, to check
// that custom steps plug into the chain.
type evenOnly struct{ accepted, resets int }

func (e *evenOnly) Apply(c *Candidates) { c.Filter(func(x Candidate) bool { return x.ID%2 == 0 }) }
func (e *evenOnly) Accept(int32)        { e.accepted++ }
func (e *evenOnly) Reset()              { e.resets++ }

// banOdd is a constraint that lists the candidates and bans odd ids with -Inf, leaving them in
// the list.
type banOdd struct{}

func (banOdd) Apply(c *Candidates) {
	items := c.Items()
	for i := range items {
		if items[i].ID%2 != 0 {
			items[i].Logit = negInf
		}
	}
	c.MarkUnsorted()
}

func TestConstraintStep(t *testing.T) {
	logits := []float32{1, 9, 3, 8, 2}
	for _, cfg := range []Config{
		{Temperature: 1, TopP: 0.9, Seed: 4},
		{Temperature: 1, TopK: 4, TopP: 0.999, MinP: 0.001, Seed: 4},
		{Temperature: 1, Seed: 4},
		{},
	} {
		s := New(cfg, banOdd{})
		for range 200 {
			if id := s.Sample(logits); id%2 != 0 {
				t.Fatalf("%+v: sampled banned id %d", cfg, id)
			}
		}
	}
	for _, cfg := range []Config{
		{},
		{Temperature: 1, TopK: 2, Seed: 4},
		{Temperature: 0.7, TopP: 0.9, MinP: 0.01, Seed: 4},
		{Temperature: 1, RepeatPenalty: 3, RepeatLastN: 8, LogitBias: map[int32]float32{2: -1, 1: 5}, Seed: 4},
	} {
		e := &evenOnly{}
		s := New(cfg, e)
		if _, ok := s.Chain()[0].(*evenOnly); !ok {
			t.Fatalf("constraint is not the first step: %v", s.Chain())
		}
		for range 200 {
			id := s.Sample(logits)
			if id%2 != 0 {
				t.Fatalf("%+v: sampled odd id %d", cfg, id)
			}
			s.Accept(id)
		}
		if cfg.Greedy() && s.Sample(logits) != 2 {
			t.Fatalf("greedy under the constraint: want 2")
		}
		s.Reset()
		if e.accepted != 200 || e.resets != 1 {
			t.Fatalf("constraint saw %d accepts and %d resets, want 200 and 1", e.accepted, e.resets)
		}
	}
}

// TestSeededSequencePinned pins the tokens of a fixed seed, so that any change in the random
// generator, the seeding, the uniform derivation or the softmax arithmetic shows up. The
// expected tokens were also reproduced by an independent Python implementation of PCG-DXSM
// and the chain (big-integer state, libm exp), so they are the documented algorithm's, not
// just this code's.
func TestSeededSequencePinned(t *testing.T) {
	// Logits from integer arithmetic only, so that nothing but this package can move them.
	logits := make([]float32, 1000)
	h := uint32(2166136261)
	for i := range logits {
		h = (h ^ uint32(i)) * 16777619
		logits[i] = float32(int32(h%8192)-4096) / 512 // [-8, 8) in steps of 1/512
	}
	tests := []struct {
		name string
		cfg  Config
		want []int32
	}{
		{"temperature only", Config{Temperature: 1, Seed: 1234},
			[]int32{107, 470, 727, 784, 75, 177, 391, 35, 869, 727, 428, 16, 445, 671, 428, 641}},
		{"default chain", Config{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, Seed: 1234},
			[]int32{59, 428, 843, 744, 993, 107, 662, 906, 533, 480, 547, 4, 428, 735, 547, 728}},
		{"seed zero", Config{Temperature: 1.5, TopK: 100, Seed: 0},
			[]int32{476, 784, 314, 751, 567, 36, 920, 720, 385, 59, 130, 868, 744, 467, 785, 76}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(tt.cfg)
			got := make([]int32, 0, len(tt.want))
			for range 16 {
				got = append(got, s.Sample(logits))
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("tokens %#v,\nwant   %#v", got, tt.want)
			}
		})
	}
}

// TestUniformPinned pins the uniform numbers themselves: PCG-DXSM seeded with (seed,
// seed^0x9e3779b97f4a7c15), top 53 bits of each output over 2^53.
func TestUniformPinned(t *testing.T) {
	s := New(Config{Temperature: 1, Seed: 1234})
	// Also reproduced by the independent Python implementation.
	want := []float64{
		math.Float64frombits(0x3fc3c830de739844), // 0.1545468412579699
		math.Float64frombits(0x3fe0336549353563), // 0.5062738828507175
		math.Float64frombits(0x3fe82a56b34e3a1a), // 0.7551682951032632
	}
	for i, w := range want {
		if got := s.uniform(); got != w {
			t.Errorf("uniform %d = %v (%#x), want %v", i, got, math.Float64bits(got), w)
		}
	}
}

func TestSeededReproducible(t *testing.T) {
	cfg := Config{Temperature: 1, TopK: 50, TopP: 0.9, RepeatPenalty: 1.3, RepeatLastN: 16, Seed: 77}
	gen := func(s *Sampler) []int32 {
		var out []int32
		for i := range 64 {
			id := s.Sample(randLogits(uint64(i), 2000, 1.5))
			s.Accept(id)
			out = append(out, id)
		}
		return out
	}
	a := New(cfg)
	first := gen(a)
	if again := gen(New(cfg)); !slices.Equal(first, again) {
		t.Fatalf("same seed, different tokens:\n%v\n%v", first, again)
	}
	a.Reset()
	if replay := gen(a); !slices.Equal(first, replay) {
		t.Fatalf("Reset did not replay the sequence:\n%v\n%v", first, replay)
	}
	other := cfg
	other.Seed = 78
	if diff := gen(New(other)); slices.Equal(first, diff) {
		t.Fatalf("seeds 77 and 78 gave the same 64 tokens")
	}

	// A random seed is reported, and replays.
	cfg.Seed = RandomSeed
	r := New(cfg)
	if r.Seed() < 0 {
		t.Fatalf("Seed() = %d for a random seed", r.Seed())
	}
	tokens := gen(r)
	cfg.Seed = r.Seed()
	if replay := gen(New(cfg)); !slices.Equal(tokens, replay) {
		t.Fatalf("replaying the reported seed gave other tokens")
	}
}

// TestDistribution draws 20000 tokens and compares the frequencies with the softmax computed by
// hand, after the filters.
func TestDistribution(t *testing.T) {
	const n = 20000
	logits := []float32{1, 2, 3, 0.5, -1}
	// softmax returns the softmax of ls; a NaN entry is a token that must never be drawn.
	softmax := func(ls ...float64) []float64 {
		out := make([]float64, len(ls))
		sum := 0.0
		for i, l := range ls {
			if !math.IsNaN(l) {
				out[i] = math.Exp(l)
			}
			sum += out[i]
		}
		for i := range out {
			out[i] /= sum
		}
		return out
	}
	x := math.NaN()
	tests := []struct {
		name string
		cfg  Config
		want []float64
	}{
		{"temperature 1", Config{Temperature: 1}, softmax(1, 2, 3, 0.5, -1)},
		{"temperature 0.5", Config{Temperature: 0.5}, softmax(2, 4, 6, 1, -2)},
		{"temperature 2", Config{Temperature: 2}, softmax(0.5, 1, 1.5, 0.25, -0.5)},
		{"top-k 2", Config{Temperature: 1, TopK: 2}, softmax(x, 2, 3, x, x)},
		// softmax at T=1: 0.0844 0.2294 0.6236 0.0512 0.0114; top-p 0.9 keeps ids 2, 1, 0
		// (cumulative 0.6236, 0.8530, 0.9374), then T=0.5 doubles their logits.
		{"top-p 0.9, temperature 0.5", Config{Temperature: 0.5, TopP: 0.9}, softmax(2, 4, 6, x, x)},
		// min-p 0.1: p ≥ 0.06236 keeps ids 2, 1, 0.
		{"min-p 0.1", Config{Temperature: 1, MinP: 0.1}, softmax(1, 2, 3, x, x)},
		{"bias and penalty", Config{Temperature: 1, RepeatPenalty: 2, RepeatLastN: 4,
			LogitBias: map[int32]float32{4: 2.5, 0: negInf}}, softmax(x, 2, 1.5, 0.5, 1.5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Seed = 2024
			s := New(tt.cfg)
			s.Accept(2) // counts only where a penalty is set
			counts := make([]float64, len(logits))
			for range n {
				counts[s.Sample(logits)]++
			}
			for i, p := range tt.want {
				got := counts[i] / n
				// 5 standard deviations, plus a little for p near 0.
				tol := 5*math.Sqrt(p*(1-p)/n) + 1e-3
				if math.Abs(got-p) > tol {
					t.Errorf("token %d: frequency %.4f, want %.4f ± %.4f", i, got, p, tol)
				}
				if p == 0 && counts[i] != 0 {
					t.Errorf("token %d: drawn %v times, want never", i, counts[i])
				}
			}
		})
	}
}

func TestSampleDoesNotAllocate(t *testing.T) {
	logits := randLogits(5, 32000, 2)
	for _, cfg := range []Config{
		{},
		{Temperature: 0.8, TopK: 40, TopP: 0.95, MinP: 0.05, Seed: 1},
		{Temperature: 0.8, TopP: 0.95, Seed: 1},
		{Temperature: 0.8, MinP: 0.05, Seed: 1},
		{Temperature: 0.7, Seed: 1},
		{Temperature: 0.8, TopK: 40, RepeatPenalty: 1.1, RepeatLastN: 64,
			LogitBias: map[int32]float32{5: negInf}, Seed: 1},
	} {
		s := New(cfg)
		for i := range 64 {
			s.Accept(int32(i * 7))
		}
		s.Sample(logits)
		if a := testing.AllocsPerRun(20, func() { s.Sample(logits) }); a != 0 {
			t.Errorf("%+v: %v allocations per Sample", cfg, a)
		}
	}
}

// TestBrokenLogits: NaN and +Inf from a broken model must not panic or pick a NaN token.
func TestBrokenLogits(t *testing.T) {
	nan := float32(math.NaN())
	for _, logits := range [][]float32{
		{nan, 1, inf, 2, inf},
		{nan, nan, 0.5, nan},
		{negInf, inf},
	} {
		want := argmaxFinite(logits)
		for _, cfg := range []Config{
			{},
			{Temperature: 1, Seed: 1},
			{Temperature: 0.8, TopK: 2, TopP: 0.9, MinP: 0.1, Seed: 1},
			{Temperature: 0.8, TopP: 0.5, Seed: 1},
			{Temperature: 0.8, MinP: 0.5, Seed: 1},
			{Temperature: 1, RepeatPenalty: 1.5, RepeatLastN: 4, PresencePenalty: 1, Seed: 1},
		} {
			if got := New(cfg).Sample(logits); got != want {
				t.Errorf("%v with %+v: %d, want %d", logits, cfg, got, want)
			}
		}
	}
}

// argmaxFinite is the greedy answer for logits that hold one maximum (+Inf counts, NaN does not).
func argmaxFinite(logits []float32) int32 {
	best := int32(-1)
	for i, v := range logits {
		if v == v && (best < 0 || v > logits[best]) {
			best = int32(i)
		}
	}
	return best
}

func TestSampleLeavesLogitsAlone(t *testing.T) {
	logits := randLogits(8, 1000, 1)
	orig := slices.Clone(logits)
	s := New(Config{Temperature: 0.5, RepeatPenalty: 2, RepeatLastN: -1,
		LogitBias: map[int32]float32{1: negInf, 2: 3}, Seed: 1})
	for i := range 10 {
		s.Accept(int32(i))
		s.Sample(logits)
	}
	if !slices.Equal(logits, orig) {
		t.Fatalf("Sample changed the caller's logits")
	}
}

func TestExpLogMatchMath(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	for range 100000 {
		x := -r.Float64() * 120
		if got, want := exp64(x), math.Exp(x); math.Abs(got-want) > 5e-16*want {
			t.Fatalf("exp64(%v) = %v, math.Exp %v", x, got, want)
		}
		y := math.Exp(r.Float64()*80 - 40)
		if got, want := log64(y), math.Log(y); math.Abs(got-want) > 5e-16*math.Max(1, math.Abs(want)) {
			t.Fatalf("log64(%v) = %v, math.Log %v", y, got, want)
		}
	}
	specials := []struct{ got, want float64 }{
		{exp64(0), 1}, {exp64(math.Inf(-1)), 0}, {exp64(-800), 0}, {log64(1), 0},
		{log64(0), math.Inf(-1)},
	}
	for i, s := range specials {
		if s.got != s.want {
			t.Errorf("special %d: %v, want %v", i, s.got, s.want)
		}
	}
	if !math.IsNaN(exp64(math.NaN())) || !math.IsNaN(log64(-1)) {
		t.Errorf("NaN cases")
	}
}

func TestLogProbs(t *testing.T) {
	// Probabilities 0.25 and 0.75, a banned token, and 0 again.
	logits := []float32{0, float32(math.Log(3)), negInf, 0}
	// softmax over 1, 3, 0, 1 → 0.2, 0.6, 0, 0.2
	want := []float64{math.Log(0.2), math.Log(0.6), math.Inf(-1), math.Log(0.2)}
	got := LogSoftmax(nil, logits)
	for i := range want {
		if math.Abs(float64(got[i])-want[i]) > 1e-6 || (math.IsInf(want[i], -1) != math.IsInf(float64(got[i]), -1)) {
			t.Errorf("LogSoftmax[%d] = %v, want %v", i, got[i], want[i])
		}
		if lp := LogProb(logits, int32(i)); lp != got[i] {
			t.Errorf("LogProb(%d) = %v, LogSoftmax %v", i, lp, got[i])
		}
	}
	if LogProb(logits, 4) != negInf || LogProb(logits, -1) != negInf {
		t.Errorf("LogProb out of range should be -Inf")
	}
	top := TopLogProbs(logits, 3)
	if len(top) != 3 || top[0].ID != 1 || top[1].ID != 0 || top[2].ID != 3 {
		t.Fatalf("TopLogProbs = %v, want ids 1, 0, 3 (tie to the lower id)", top)
	}
	if top[0].LogProb != got[1] || top[1].LogProb != got[0] {
		t.Errorf("TopLogProbs values %v disagree with LogSoftmax %v", top, got)
	}
	if all := TopLogProbs(logits, 10); len(all) != 3 {
		t.Errorf("TopLogProbs listed %d tokens, want the 3 possible ones", len(all))
	}
	big := randLogits(3, 50000, 3)
	sum := 0.0
	for _, lp := range LogSoftmax(nil, big) {
		sum += math.Exp(float64(lp))
	}
	if math.Abs(sum-1) > 1e-4 {
		t.Errorf("probabilities sum to %v", sum)
	}
	if TopLogProbs(big, 5)[0].ID != argmax(big) {
		t.Errorf("TopLogProbs[0] is not the argmax")
	}
}
