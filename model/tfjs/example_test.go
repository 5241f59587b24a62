package tfjs_test

import (
	"fmt"
	"os"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
	"github.com/edgenn/edgenn/model/tfjs"
)

// A TF.js graph model (uint8- and float16-quantised weights) imported,
// written as .enn, and run: a 1x1 convolution with bias and relu, a mean
// over the image, a softmax.
func Example() {
	g, report, err := tfjs.Import(os.DirFS("testdata/tiny"), "model.json")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(report.Format, g.Inputs[0].Name, g.Inputs[0].Shape, "->", g.Outputs[0].Name, g.Outputs[0].Shape)
	fmt.Println(report.Notes)
	if _, err := model.Encode(g); err != nil {
		fmt.Println(err)
		return
	}
	s, err := engine.NewSession(g)
	if err != nil {
		fmt.Println(err)
		return
	}
	out, err := s.Run([]float32{1, 2, 3, 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	// Channel 0: mean(relu(x + 0.5)) = 3; channel 1: mean(relu(2 - x)) = 0.25.
	fmt.Printf("%.4f\n", out[0])
	// Output:
	// tfjs-graph image [-1 2 2 1] -> scores [-1 2]
	// [1 weight(s) dequantised from float16 1 weight(s) dequantised from uint8]
	// [0.9399 0.0601]
}
