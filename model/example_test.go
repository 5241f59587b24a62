package model_test

import (
	"fmt"

	"github.com/edgenn/edgenn/model"
)

// A two-layer network written with the Builder, encoded to .enn and read back.
func ExampleBuilder() {
	b := model.NewBuilder("tiny")
	b.Metadata("licence", "example")
	x := b.Input("input", []int{-1, 8, 8, 1})
	w := b.Tensor("conv/kernel", []int{3, 3, 1, 4}, make([]float32, 3*3*1*4))
	y := b.Conv2D(x, w, "", model.Conv2DOpts{Name: "conv", Strides: [2]int{2, 2}, Padding: "SAME", Activation: "relu6"})
	y = b.Flatten(y, "flat")
	fc := b.Tensor("fc/kernel", []int{64, 3}, make([]float32, 64*3))
	y = b.Dense(y, fc, "", model.DenseOpts{Name: "fc"})
	b.Output(b.Softmax(y, "softmax"), "output")
	g, err := b.Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	data, err := model.Encode(g)
	if err != nil {
		fmt.Println(err)
		return
	}
	back, err := model.Decode(data)
	if err != nil {
		fmt.Println(err)
		return
	}
	shapes, _ := model.InferShapes(back, 4)
	fmt.Println(back.Outputs[0].Name, back.Outputs[0].Shape, shapes["conv"], shapes["output"])
	// Output: output [-1 3] [4 4 4 4] [4 3]
}

// The zoo's MobileNet v1 at alpha 0.25, 128x128: its size and cost.
func ExampleZoo() {
	g, err := model.Zoo("mobilenet_v1_025_128")
	if err != nil {
		fmt.Println(err)
		return
	}
	shapes, _ := model.InferShapes(g, 1)
	fmt.Printf("%d params, %.2f MMAC\n", model.CountParams(g), float64(model.CountFLOPs(g, shapes))/2e6)
	// Output: 467336 params, 13.57 MMAC
}
