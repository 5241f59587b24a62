//go:build !(goexperiment.simd && go1.27 && amd64)

package kernels

// gemmWide is false where SIMD registers hold half a panel row at most
// (wasm's SIMD128) or there is no SIMD: Gemm never calls gemmPanel2, and the
// compiler drops the branch that would.
const gemmWide = false
