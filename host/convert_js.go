//go:build js

package main

import (
	"errors"
	"io"
)

// cmdConvert: the importers are host-side only, left out of the js/wasm build.
func cmdConvert(args []string, stdout io.Writer) error {
	return errors.New("not available in the js/wasm build; run the native edgenn (go run ./host convert)")
}
