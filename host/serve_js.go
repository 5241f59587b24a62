//go:build js

package main

import (
	"errors"
	"io"
)

// cmdServe: a host needs sockets and signals, which the js/wasm build has not.
func cmdServe(args []string, stdout io.Writer) error {
	return errors.New("not available in the js/wasm build; run the native edgenn (go run ./host serve)")
}
