package sample

import "math"

// TokenLogProb is a token with its log-probability, as reported by the API's logprobs.
type TokenLogProb struct {
	ID      int32
	LogProb float32
}

// logSumExp returns log Σ exp(logit) over the finite logits, and false when there are none.
func logSumExp(logits []float32) (float64, bool) {
	m := negInf
	for _, v := range logits {
		if v > m {
			m = v
		}
	}
	if m == negInf {
		return 0, false
	}
	if math.IsInf(float64(m), 1) {
		return math.Inf(1), true
	}
	mf := float64(m)
	sum := 0.0
	for _, v := range logits {
		if v > negInf {
			sum += exp64(float64(v) - mf)
		}
	}
	return mf + log64(sum), true
}

// LogSoftmax writes the log-probabilities of the raw logits (the model's own distribution,
// before any sampling step, as OpenAI and ollama report them) into dst, grown as needed, and
// returns it. Tokens with a -Inf logit get -Inf; if every logit is -Inf, so is every result.
func LogSoftmax(dst, logits []float32) []float32 {
	if cap(dst) < len(logits) {
		dst = make([]float32, len(logits))
	}
	dst = dst[:len(logits)]
	lse, ok := logSumExp(logits)
	for i, v := range logits {
		if !ok {
			dst[i] = negInf
			continue
		}
		dst[i] = float32(float64(v) - lse)
	}
	return dst
}

// LogProb returns the log-probability of token id under the raw logits; -Inf for an id out of
// range or a token that cannot occur.
func LogProb(logits []float32, id int32) float32 {
	if id < 0 || int(id) >= len(logits) {
		return negInf
	}
	lse, ok := logSumExp(logits)
	if !ok {
		return negInf
	}
	return float32(float64(logits[id]) - lse)
}

// TopLogProbs returns the n most likely tokens under the raw logits with their
// log-probabilities, best first, the lower id first among equals. Tokens with a -Inf logit are
// never listed, so fewer than n may come back.
func TopLogProbs(logits []float32, n int) []TokenLogProb {
	if n <= 0 {
		return nil
	}
	lse, ok := logSumExp(logits)
	if !ok {
		return nil
	}
	top := topDense(make([]Candidate, 0, min(n, len(logits))), logits, n)
	out := make([]TokenLogProb, len(top))
	for i, t := range top {
		out[i] = TokenLogProb{ID: t.ID, LogProb: float32(float64(t.Logit) - lse)}
	}
	return out
}
