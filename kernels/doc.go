// Package kernels is edgenn's arithmetic: GEMM micro-kernels, convolution,
// depthwise convolution, pooling, activations, softmax, normalisation and the
// layout ops, on plain []float32 in NHWC.
//
// The contract every kernel keeps: the caller owns every buffer (outputs and
// scratch, sized by the kernel's *Size functions), a kernel never allocates,
// and shape checks happen once, when the caller builds a kernel's parameters,
// not per element or per run. Hot micro-kernels have a SIMD version built with
// Go 1.27's simd experiment (files tagged goexperiment.simd && go1.27) and a
// scalar twin; the tests hold both to the same results. All of them are
// built for wasm; the GEMM, direct and depthwise convolution ones also for
// amd64, chosen at start-up when the CPU has AVX2 (GemmSIMD reports it). A native build
// splits a large Gemm, direct or im2col convolution or depthwise convolution
// across up to GOMAXPROCS goroutines (parallel_native.go), each output
// element computed exactly as the serial code computes it, so the split
// changes no bits; wasm runs them on its one thread.
package kernels
