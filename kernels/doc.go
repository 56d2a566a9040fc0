// Package kernels holds the compute primitives the models call: matrix
// multiplication against quantized weight matrices, RMS normalisation,
// softmax, SiLU/SwiGLU, rotary position embeddings and small element-wise
// helpers.
//
// Everything here is portable Go. The functions are shaped so that SIMD
// twins (assembly chosen at start-up by CPU feature) and a persistent thread
// pool can replace their insides without changing a caller: weights stay in
// their on-disk encoding ([Matrix] is a view of the mapped file) and are
// decoded one row at a time into a small per-worker buffer, and all
// parallelism goes through [Pool].
//
// Where the float32 result depends on the order of operations (RMS norm,
// softmax, RoPE) the code follows ggml's CPU backend, so that logits agree
// with llama.cpp to within float32 rounding of the dot products.
package kernels
