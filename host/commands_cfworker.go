//go:build cfworker

package main

// toolCommands is empty in the Worker's build: cfworker.go and
// cfworker_assets_cmd.go add the commands it has.
func toolCommands() []command { return nil }
