// Package crosscheck compares ondo's models with llama.cpp on the same GGUF
// files. It holds only tests: synthetic models made by package synth in
// every tensor type are evaluated by ondo and by llama.cpp (npm
// node-llama-cpp, driven through internal/peer), and the last-position
// log-probabilities and greedy continuations must agree.
//
// The tests run when ONDO_PEER=1 (as in CI, after `npm ci` in bench/peer).
package crosscheck
