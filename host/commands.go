//go:build !cfworker

package main

// toolCommands is the command-line tool's table (the Worker's build has
// none of it: commands_cfworker.go).
func toolCommands() []command {
	return []command{
		{"zoo", "NAME -o FILE.enn", "write a reference network from the zoo", cmdZoo},
		{"inspect", "FILE.enn", "print a model's inputs, outputs, ops, parameters, FLOPs and bytes", cmdInspect},
		{"run", "FILE.enn --input IN.bin --output OUT.bin", "run a model on raw little-endian float32 input", cmdRun},
		{"bench", "FILE.enn [--batch N] [--runs N] [--json]", "time Session.Run", cmdBench},
		{"train", "--model lenet5 --data mnist -o FILE.enn [...]", "train a model (zoo or .enn) on MNIST or an image folder", cmdTrain},
		{"eval", "FILE.enn [--data mnist|DIR]", "accuracy of a classifier on labelled data", cmdEval},
		{"serve", "[--addr HOST:PORT] [--www DIR] [...]", "serve the app, the wasm and the models over HTTP", cmdServe},
		{"convert", "IN.onnx|model.json -o OUT.enn [--meta K=V ...]", "import an ONNX or TensorFlow.js model, with a report", cmdConvert},
		{"pipeline", "[--tasks 1,2,3,4] [--mode both] [...]", "one source, many tasks: Scheduler and Provider against naive pipelines", cmdPipeline},
		{"worker", "--hub URL --room R --token T [--models DIR]", "join a hub's room as a strong peer that runs offloaded tails", cmdWorker},
	}
}
