package engine_test

import (
	"fmt"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
)

// Run LeNet-5 from the zoo on its reference input and read the most likely
// class (TensorFlow.js, on the same weights and input, also picks class 3).
func ExampleSession_Run() {
	g, err := model.Zoo("lenet5")
	if err != nil {
		panic(err)
	}
	s, err := engine.NewSession(g)
	if err != nil {
		panic(err)
	}
	x, _, err := model.ZooInput("lenet5")
	if err != nil {
		panic(err)
	}
	out, err := s.Run(x)
	if err != nil {
		panic(err)
	}
	probs := out[0]
	best := 0
	sum := float32(0)
	for i, p := range probs {
		sum += p
		if p > probs[best] {
			best = i
		}
	}
	fmt.Printf("%d classes, sum %.3f, argmax %d\n", len(probs), sum, best)
	// Output: 10 classes, sum 1.000, argmax 3
}

// A session built with the Builder: one dense layer with a fused ReLU, run on a
// batch of two.
func ExampleNewSession() {
	b := model.NewBuilder("tiny")
	x := b.Input("x", []int{-1, 2})
	w := b.Tensor("w", []int{2, 2}, []float32{1, -1, 2, 1})
	y := b.Node(model.OpDense, []string{x, w}, nil, "fc")
	b.Output(b.Node(model.OpRelu, []string{y}, nil, "relu"), "y")
	g, err := b.Build()
	if err != nil {
		panic(err)
	}
	s, err := engine.NewSession(g)
	if err != nil {
		panic(err)
	}
	out, err := s.Run([]float32{1, 1, 3, -1})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(s.Graph().Nodes), "node after fusion:", out[0])
	// Output: 1 node after fusion: [3 0 1 0]
}
