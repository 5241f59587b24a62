// Command edgenn is edgenn's host and command-line tool. Today it makes the
// zoo's reference models, inspects, runs and benchmarks .enn files; it builds
// natively and for GOOS=js GOARCH=wasm (run under Node), so that one command
// measures the engine in both places. Natively it also serves the browser app,
// the wasm and the models (serve).
//
//	edgenn zoo NAME -o FILE.enn
//	edgenn inspect FILE.enn
//	edgenn run FILE.enn --input IN.bin --output OUT.bin
//	edgenn bench FILE.enn [--batch N] [--runs N] [--json]
//	edgenn train --model lenet5 --data mnist --epochs 5 -o digits.enn
//	edgenn eval FILE.enn --data mnist
//	edgenn serve [--addr 127.0.0.1:8080] [--www DIR] [--wasm DIR] [--models DIR]
//	edgenn convert IN.onnx|model.json -o OUT.enn [--meta KEY=VALUE ...]
//	edgenn pipeline [--tasks 1,2,3,4] [--mode provider|naive|naive-tfjs|isolated|both|all] [--fps N] [--lanes N] [--rounds N] [--max-runs N]
//	edgenn worker --hub URL --room R --token T [--models DIR] [--name N] [--throttle X]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

type command struct {
	name, args, help string
	run              func(args []string, stdout io.Writer) error
}

// commands is the command table: toolCommands (commands.go), and in the
// Worker's build (-tags cfworker) only the commands cfworker*.go add, so
// that the Worker links none of the others' code.
var commands = toolCommands()

func main() {
	if err := dispatch(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "edgenn:", err)
		os.Exit(1)
	}
}

func dispatch(args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return nil
	}
	for _, c := range commands {
		if c.name == args[0] {
			if err := c.run(args[1:], stdout); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		}
	}
	return fmt.Errorf("unknown command %q (edgenn help lists the commands)", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: edgenn COMMAND [ARGS]")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %-45s %s\n", c.name, c.args, c.help)
	}
}

// parseArgs parses flags that may stand before, between or after the
// positional arguments, and checks the positional count.
func parseArgs(fs *flag.FlagSet, args []string, positional ...string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(pos) != len(positional) {
		return nil, fmt.Errorf("want %s, got %d positional arguments", strings.Join(positional, " "), len(pos))
	}
	return pos, nil
}
