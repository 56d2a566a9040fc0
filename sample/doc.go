// Package sample turns a model's logits into the next token id, and decides where generated
// text stops.
//
// # The pipeline
//
// A [Sampler] runs a fixed chain of [Step]s over the candidate logits of one position, then a
// final chooser picks a token. Built from a [Config], the chain is, in order:
//
//  1. constraints: the [Constraint] set with [Sampler.Constrain] (a grammar), then the extra
//     steps passed to [New]
//  2. [LogitBias]: adds a per-token bias; -Inf bans a token
//  3. [Penalties]: repetition, frequency and presence penalties over the last RepeatLastN
//     accepted tokens
//  4. [TopK]: keeps the K highest logits
//  5. [TopP]: keeps the smallest head whose probability mass reaches P (nucleus)
//  6. [MinP]: keeps tokens whose probability is at least P times the best one's
//  7. [Temperature]: divides the logits by T
//  8. the chooser: one draw from the softmax of what is left, or, when Temperature <= 0, the
//     argmax (lowest id on ties, no randomness; steps 4 to 7 are left out because none of them
//     can change the argmax)
//
// Steps 2 to 8 follow llama.cpp's default sampler chain (common/sampling.cpp: logit bias, then
// penalties → top-k → top-p → min-p → temperature → dist), with llama.cpp's arithmetic for
// each step (src/llama-sampler.cpp):
//
//   - Repetition penalty divides a positive logit by the penalty and multiplies a non-positive
//     one by it, once per distinct token in the window; then count×frequency + presence is
//     subtracted. RepeatLastN 0 disables the penalties, -1 uses the whole history.
//   - Top-p and min-p look at the distribution before temperature, because temperature comes
//     after them. (ollama's Go sampler divides by the temperature first and then applies
//     top-p and min-p to the tempered distribution; we do not follow it there.)
//   - Top-p keeps candidates, best first, until their cumulative probability is ≥ P, and always
//     at least MinKeep (at least 1) of them. Min-p keeps a token when its logit is ≥ the best
//     logit + ln P, again at least MinKeep.
//
// Where llama.cpp and ollama differ in defaults or in the meaning of a zero, the zero value of
// a [Config] field means "off" (TopK 0, TopP 0 or 1, MinP 0, RepeatPenalty 0 or 1), so that
// Config{} is plain greedy decoding; [DefaultConfig] gives llama.cpp's defaults.
//
// # Speed
//
// Candidates start out as the caller's logits, indexed by token id, without a copy. Bias and
// penalties touch only the ids they name (copying the logits once, into a reused buffer); top-k
// picks its K winners with one pass and a K-sized heap, never sorting the vocabulary; top-p
// after top-k walks the K sorted survivors, and top-p on its own sorts lazily: one pass builds
// a histogram of probability mass by logit, which tells how far down the nucleus reaches, and
// only the candidates above that line are sorted; min-p filters in one pass without sorting;
// the chooser works on whatever is left. After the first call, Sample does not allocate.
//
// # Reproducibility
//
// Randomness comes from a per-Sampler PCG-DXSM generator (math/rand/v2's PCG, whose output
// sequence is fixed by its algorithm) seeded from Config.Seed, and a uniform number is derived
// from it by our own rule (the top 53 bits of one Uint64). The softmax uses this package's own
// exp and log, written so that no multiply-add can be fused, so the same seed and the same
// logits give the same tokens on every platform and compiler. A negative seed picks a random
// one, which [Sampler.Seed] reports so that the run can be replayed.
//
// # Stopping
//
// A [StopMatcher] watches decoded text for stop strings, releasing only text that cannot be the
// start of one.
package sample
