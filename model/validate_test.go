package model

import (
	"strings"
	"testing"
)

func TestValidateRejects(t *testing.T) {
	base := func() *Graph {
		return one(OpDense, nil, [][]int{{-1, 4}, {4, 2}}, 1)
	}
	cases := []struct {
		name string
		edit func(g *Graph)
		want string
	}{
		{"nil node", func(g *Graph) { g.Nodes = append(g.Nodes, nil) }, "node 1 is nil"},
		{"no outputs", func(g *Graph) { g.Outputs = nil }, "no outputs"},
		{"dtype", func(g *Graph) { g.Tensors[0].DType = 9 }, "unknown dtype dtype(9)"},
		{"input dtype", func(g *Graph) { g.Inputs[0].DType = 0 }, `input "a": unknown dtype`},
		{"data length", func(g *Graph) { g.Tensors[0].Data = g.Tensors[0].Data[:7] }, "needs 8 values, data has 7"},
		{"raw on float", func(g *Graph) { g.Tensors[0].Raw = []byte{1} }, "has Raw bytes"},
		{"int8 length", func(g *Graph) {
			g.Tensors = append(g.Tensors, &Tensor{Name: "q", DType: Int8, Shape: []int{4}, Raw: []byte{1}})
		}, "needs 4 bytes of int8, data has 1"},
		{"duplicate tensor", func(g *Graph) { g.Tensors = append(g.Tensors, g.Tensors[0]) }, `tensor "b": duplicate name`},
		{"duplicate node", func(g *Graph) {
			g.Nodes = append(g.Nodes, &Node{Op: OpRelu, Name: "n", Inputs: []string{"y"}, Outputs: []string{"z"}})
		}, `node "n": duplicate node name`},
		{"unknown op", func(g *Graph) { g.Nodes[0].Op = "Dens" }, `node "n": unknown op "Dens"`},
		{"dangling", func(g *Graph) { g.Nodes[0].Inputs[0] = "ghost" }, `dangling edge: input "ghost"`},
		{"order", func(g *Graph) {
			g.Nodes = append([]*Node{{Op: OpRelu, Name: "r", Inputs: []string{"y"}, Outputs: []string{"z"}}}, g.Nodes...)
		}, `cycle or bad order: input "y" is produced by later node "n"`},
		{"empty required", func(g *Graph) { g.Nodes[0].Inputs[1] = "" }, "required input 1 is empty"},
		{"output missing", func(g *Graph) { g.Outputs[0].Name = "q" }, `output "q" is not defined`},
		{"too many nodes", func(g *Graph) { g.Nodes = make([]*Node, MaxNodes+1) }, "more than the limit 65536"},
		{"tensor too big", func(g *Graph) { g.Tensors[0].Shape = []int{1 << 20, 1 << 20} }, "more than 268435456 elements"},
		{"rank", func(g *Graph) { g.Tensors[0].Shape = make([]int, MaxRank+1) }, "rank 9 is more than 8"},
		{"long name", func(g *Graph) { g.Nodes[0].Outputs[0] = strings.Repeat("y", MaxNameLen+1) }, "longer than 4096 bytes"},
		{"activation", func(g *Graph) { g.Nodes[0].Attrs = Attrs{"activation": "swish"} }, `unknown activation "swish"`},
		{"shape inference", func(g *Graph) { g.Inputs[0].Shape = []int{-1, 5} }, "input has 5 features"},
		{"output shape", func(g *Graph) { g.Outputs[0].Shape = []int{-1, 3} }, "declared shape [-1,3]"},
		{"value too big", func(g *Graph) {
			g.Inputs[0].Shape = []int{-1, 1 << 13, 1 << 14, 2}
			g.Nodes[0] = &Node{Op: OpResize, Name: "n", Inputs: []string{"a"}, Outputs: []string{"y"}, Attrs: Attrs{"size": []int{1 << 15, 1 << 14}}}
		}, "elements at batch 1"},
	}
	if err := base().Validate(); err != nil {
		t.Fatalf("base graph: %v", err)
	}
	for _, c := range cases {
		g := base()
		c.edit(g)
		err := g.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %q", c.name, err, c.want)
			continue
		}
		if !strings.HasPrefix(err.Error(), `model "t": `) {
			t.Errorf("%s: error %q does not name the model", c.name, err)
		}
	}
	var nilGraph *Graph
	if err := nilGraph.Validate(); err == nil {
		t.Error("nil graph validates")
	}
}

func TestBuilderErrors(t *testing.T) {
	b := NewBuilder("bad")
	x := b.Input("input", []int{-1, 4})
	w := b.Tensor("w", []int{5, 2}, make([]float32, 10))
	y := b.Dense(x, w, "", DenseOpts{Name: "fc"}) // 4 features into a [5,2] weight
	b.Output(b.Softmax(y, ""), "output")
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), `node "fc" (Dense): input has 4 features`) {
		t.Fatalf("Build error %v, want the Dense mismatch", err)
	}
	b = NewBuilder("dup")
	b.Input("x", []int{1, 2})
	b.Input("x", []int{1, 2})
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), `"x" is empty or already used`) {
		t.Fatalf("Build error %v, want the duplicate name", err)
	}
	b = NewBuilder("out")
	x = b.Input("x", []int{1, 2})
	b.Output(x, "y")
	if _, err := b.Build(); err == nil || !strings.Contains(err.Error(), "is not a node output") {
		t.Fatalf("Build error %v", err)
	}
}
