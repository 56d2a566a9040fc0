// Package kernels holds the compute primitives the models call: matrix
// multiplication against quantized weight matrices, attention over an fp16
// cache, RMS normalisation, softmax, SiLU/SwiGLU, rotary position
// embeddings and small element-wise helpers.
//
// # Weights and activations
//
// Weights stay in their on-disk encoding ([Matrix] is a view of the mapped
// file). For every block type MatMul quantizes the activations once per
// call to the type's [DotType] (Q8_0, Q8_1 or Q8_K, as ggml does) and takes
// integer dot products of weight and activation quants; F16 and BF16
// weights meet activations rounded to fp16 and bf16. The activation rows
// are laid out in panels (qdot.go) so that a kernel streams them linearly:
// prompts go eight rows at a time against each weight row ("wide" tiles,
// cache-blocked so that a panel stays in L1 while weight rows stream past),
// decoding four weight rows at a time against each activation row
// ("narrow" tiles).
//
// # Assembly and its twins
//
// Each tile kernel exists twice: in Go (the portable twin) and in AVX2 +
// FMA + F16C assembly (dot_*_amd64.s), chosen once at start-up from
// golang.org/x/sys/cpu. The float32 result of an integer dot product
// depends on the order in which block sums are scaled and added, so that
// order is part of each kernel's definition (see qdot.go), the assembly
// follows it exactly, and the tests require bit-identical results from the
// twin and the assembly on random bytes, hostile scales and extreme
// activations. The order is ggml's AVX2 order, so results match llama.cpp
// to float32 rounding, and they do not depend on the thread count, the
// panel a row falls into or the instruction set. The portable fused
// multiply-add (fma32) reproduces the hardware instruction exactly.
//
// # Parallelism
//
// All parallel work goes through [Pool]: a persistent set of workers that
// claim chunks of an operation, spin briefly between operations and park
// when idle.
package kernels
