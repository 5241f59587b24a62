//go:build !js && cfworker

package main

// The native host built with -tags cfworker lays out the Worker's assets
// (make worker); the ordinary build has no such command.
func init() {
	commands = append(commands, command{"cfworker-assets", "--www DIR --wasm DIR --models DIR -o DIR",
		"lay out the Cloudflare Worker's static assets and their manifest", cmdCFWorkerAssets})
}
