//go:build goexperiment.simd && go1.27

package main

const simdBuild = true
