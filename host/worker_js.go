//go:build js

package main

import (
	"errors"
	"io"
)

// startWorker is the js/wasm build's: it has no sockets to join a hub with.
func startWorker(workerConfig) (io.Closer, string, error) {
	return nil, "", errors.New("worker: not available in this build (js/wasm has no sockets to join a hub); run the native edgenn: go run ./host worker")
}
