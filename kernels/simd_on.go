//go:build goexperiment.simd && go1.27 && wasm

package kernels

// SIMD reports whether this build's hot kernels use wasm SIMD128 (Go 1.27's
// simd experiment, GOOS=js GOARCH=wasm) rather than their scalar twins. A
// native amd64 build with the experiment runs SIMD GEMM and convolution
// micro-kernels only: see GemmSIMD.
const SIMD = true
