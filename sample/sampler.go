package sample

import "math/rand/v2"

// seedStream is xored into the seed to make the second word of the PCG state, so that seed 0
// does not start from an all-zero state.
const seedStream = 0x9e3779b97f4a7c15

// Sampler picks tokens from logits with one Config, remembering the accepted tokens for the
// penalties. It is not safe for concurrent use; give each sequence its own.
type Sampler struct {
	cfg    Config
	steps  []Step
	state  []Stateful
	greedy bool
	seed   int64
	rng    rand.PCG
	cand   Candidates

	con    Constraint
	conErr error
	stats  ConstraintStats
}

// New returns a sampler for cfg. The optional constraints run first, before the logit bias, in
// the order given: that is where grammar masks and tool-call forcing plug in. Those that are
// Stateful follow Accept and Reset.
//
// New panics if cfg.Validate fails: check settings that come from users with Validate first.
func New(cfg Config, constraints ...Step) *Sampler {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	s := &Sampler{cfg: cfg, greedy: cfg.Greedy()}
	s.steps = append(s.steps, constraints...)
	if len(cfg.LogitBias) > 0 {
		s.steps = append(s.steps, NewLogitBias(cfg.LogitBias))
	}
	pen := NewPenalties(cfg.RepeatLastN, cfg.RepeatPenalty, cfg.FrequencyPenalty,
		cfg.PresencePenalty)
	if !pen.off() {
		s.steps = append(s.steps, pen)
	}
	if !s.greedy {
		if cfg.TopK > 0 {
			s.steps = append(s.steps, TopK{K: cfg.TopK})
		}
		if cfg.TopP > 0 && cfg.TopP < 1 {
			s.steps = append(s.steps, TopP{P: cfg.TopP, MinKeep: cfg.MinKeep})
		}
		if cfg.MinP > 0 {
			s.steps = append(s.steps, MinP{P: cfg.MinP, MinKeep: cfg.MinKeep})
		}
		if cfg.Temperature != 1 {
			s.steps = append(s.steps, Temperature{T: cfg.Temperature})
		}
	}
	for _, st := range s.steps {
		if sf, ok := st.(Stateful); ok {
			s.state = append(s.state, sf)
		}
	}
	s.seedRNG()
	return s
}

func (s *Sampler) seedRNG() {
	s.seed = s.cfg.Seed
	if s.seed < 0 {
		s.seed = int64(rand.Uint64() >> 1) // runtime-seeded; reported by Seed for replay
	}
	s.rng.Seed(uint64(s.seed), uint64(s.seed)^seedStream)
}

// Config returns the settings the sampler was made with.
func (s *Sampler) Config() Config { return s.cfg }

// Seed returns the seed in use: Config.Seed, or the random one picked for a negative
// Config.Seed. A new Sampler with this seed replays the same tokens.
func (s *Sampler) Seed() int64 { return s.seed }

// Chain returns the steps the sampler runs, in order (constraints first). Disabled steps are
// left out; a greedy sampler has no top-k, top-p, min-p or temperature steps.
func (s *Sampler) Chain() []Step { return append([]Step(nil), s.steps...) }

// Sample runs the chain over logits (one per vocabulary token; read, never written) and returns
// the chosen token id. A greedy sampler returns the highest logit, the lowest id on ties, and
// draws no random number; otherwise Sample draws exactly one, or with a Constraint none (a
// forced token), one (an allowed draw) or two (a rejected draw and one from the masked
// candidates). It returns -1 when logits is empty, every token is banned, or the constraint
// failed (see Err). Unconstrained, after the first call it does not allocate.
//
// Sample does not record the token: call Accept with the token actually used.
func (s *Sampler) Sample(logits []float32) int32 {
	if len(logits) == 0 {
		return -1
	}
	if s.con != nil {
		return s.sampleConstrained(logits)
	}
	return s.sampleSteps(logits, nil, 0)
}

// sampleSteps runs the chain, after banning the tokens outside allowed
// when it is not nil, and chooses.
func (s *Sampler) sampleSteps(logits []float32, allowed []uint64, count int) int32 {
	c := &s.cand
	c.Reset(logits)
	if allowed != nil {
		c.restrict(allowed, count)
	}
	for _, st := range s.steps {
		st.Apply(c)
	}
	if s.greedy {
		b, ok := c.Max()
		if !ok {
			return -1
		}
		return b.ID
	}
	return c.draw(s.uniform())
}

// uniform returns a number in [0, 1) from the top 53 bits of one PCG output.
func (s *Sampler) uniform() float64 {
	return float64(s.rng.Uint64()>>11) * 0x1p-53
}

// Accept records a generated token: for the penalties and any Stateful step, and for the
// Constraint, which moves past it (a token the constraint does not allow stops it: see Err).
func (s *Sampler) Accept(id int32) {
	s.AcceptPrompt(id)
	if s.con != nil && s.conErr == nil {
		s.conErr = s.con.Accept(id)
	}
}

// AcceptPrompt records a prompt token for the penalties and any Stateful step, as llama.cpp's
// server counts prompt tokens as repetitions. The Constraint does not see it: constraints
// apply to generated text only.
func (s *Sampler) AcceptPrompt(id int32) {
	for _, st := range s.state {
		st.Accept(id)
	}
}

// Reset forgets the accepted tokens and restarts the random sequence: from the same seed when
// Config.Seed is set, from a new random seed when it is negative (as llama.cpp does).
func (s *Sampler) Reset() {
	for _, st := range s.state {
		st.Reset()
	}
	if s.con != nil {
		s.con.Reset()
		s.conErr = nil
	}
	s.seedRNG()
}
