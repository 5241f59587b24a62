package onnx_test

import (
	"fmt"
	"log"
	"os"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model/onnx"
)

// Import a model exported with an NHWC interface (as tf2onnx writes them)
// and run it: the caller feeds what ONNX Runtime took, and the graph needs
// no Transpose inside because the model's own transposes cancel the IR's.
func ExampleImport() {
	data, err := os.ReadFile("testdata/ort/nhwc_model.onnx")
	if err != nil {
		log.Fatal(err)
	}
	g, rep, err := onnx.Import(data)
	if err != nil {
		log.Fatal(err) // lists every node it cannot map, with the reason
	}
	fmt.Println("input", g.Inputs[0].Name, g.Inputs[0].Shape)
	for _, o := range g.Outputs {
		fmt.Println("output", o.Name, o.Shape)
	}
	fmt.Println("mapped:", rep.Mapped["Conv"], "Conv,", rep.Mapped["Gemm"], "Gemm,", rep.Mapped["Transpose"], "Transpose")
	s, err := engine.NewSession(g)
	if err != nil {
		log.Fatal(err)
	}
	outs, err := s.Run(make([]float32, 8*8*3))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(outs[0]), len(outs[1]))
	// Output:
	// input x [1 8 8 3]
	// output y [1 8 8 4]
	// output z [1 3]
	// mapped: 1 Conv, 1 Gemm, 2 Transpose
	// 256 3
}
