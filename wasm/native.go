//go:build !(js && wasm)

package main

import "os"

func main() {
	os.Stderr.WriteString("edgenn.wasm builds for GOOS=js GOARCH=wasm only (make wasm)\n")
	os.Exit(2)
}
