//go:build js && wasm && !(goexperiment.simd && go1.27)

package main

const simdBuild = false
