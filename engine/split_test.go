package engine

import (
	"math/rand"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/edgenn/edgenn/model"
)

// naiveCrossing is the definition of a cut, computed the slow way: the set of
// activations defined by nodes[:p] or the graph inputs and read by nodes[p:]
// or named as graph outputs.
func naiveCrossing(g *model.Graph, p int) []string {
	weights := map[string]bool{}
	for _, t := range g.Tensors {
		weights[t.Name] = true
	}
	defined := map[string]bool{}
	for _, in := range g.Inputs {
		defined[in.Name] = true
	}
	for _, nd := range g.Nodes[:p] {
		for _, o := range nd.Outputs {
			defined[o] = true
		}
	}
	set := map[string]bool{}
	for _, nd := range g.Nodes[p:] {
		for _, in := range nd.Inputs {
			if defined[in] && !weights[in] {
				set[in] = true
			}
		}
	}
	for _, o := range g.Outputs {
		if defined[o.Name] {
			set[o.Name] = true
		}
	}
	var s []string
	for v := range set {
		s = append(s, v)
	}
	sort.Strings(s)
	return s
}

// residualGraph is a hand-built network with a BatchNorm and activation after
// a convolution (which the compiler fuses) and a residual branch:
// x -> conv1 -> bn1 -> relu1 -> {conv2 -> relu2 -> conv3} + relu1 -> relu4 ->
// globalpool -> dense.
func residualGraph(t testing.TB) *model.Graph {
	r := rand.New(rand.NewSource(7))
	b := model.NewBuilder("residual")
	x := b.Input("x", []int{-1, 8, 8, 3})
	c1 := b.Conv2D(x, tensor(b, r, "w1", []int{3, 3, 3, 8}), tensor(b, r, "b1", []int{8}), model.Conv2DOpts{Name: "conv1", Padding: "SAME"})
	bn := b.Node(model.OpBatchNorm, []string{c1, tensor(b, r, "g", []int{8}), tensor(b, r, "beta", []int{8}), tensor(b, r, "mu", []int{8}),
		b.Tensor("var", []int{8}, randData(r, 8, 0.5, 2))}, model.Attrs{"epsilon": float32(1e-3)}, "bn1")
	r1 := b.Node(model.OpRelu, []string{bn}, nil, "relu1")
	c2 := b.Conv2D(r1, tensor(b, r, "w2", []int{1, 1, 8, 8}), "", model.Conv2DOpts{Name: "conv2", Padding: "SAME"})
	r2 := b.Node(model.OpRelu, []string{c2}, nil, "relu2")
	c3 := b.Conv2D(r2, tensor(b, r, "w3", []int{3, 3, 8, 8}), tensor(b, r, "b3", []int{8}), model.Conv2DOpts{Name: "conv3", Padding: "SAME"})
	a := b.Add(r1, c3, "add")
	r4 := b.Node(model.OpRelu, []string{a}, nil, "relu4")
	gp := b.GlobalAvgPool(r4, "pool")
	d := b.Dense(gp, tensor(b, r, "wd", []int{8, 5}), tensor(b, r, "bd", []int{5}), model.DenseOpts{Name: "dense"})
	b.Output(d, "out")
	b.Metadata("source", "split_test")
	g, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return g
}

type splitCase struct {
	name  string
	graph func(testing.TB) *model.Graph
	input func() []float32
	// wantCuts, when set, are the crossing values of the expected cuts.
	wantCuts []string
}

func zooCase(name string) splitCase {
	return splitCase{name: name,
		graph: func(t testing.TB) *model.Graph {
			g, err := model.Zoo(name)
			if err != nil {
				t.Fatal(err)
			}
			return g
		},
		input: func() []float32 {
			x, _, err := model.ZooInput(name)
			if err != nil {
				panic(err)
			}
			return x
		}}
}

func splitCases() []splitCase {
	return []splitCase{
		{name: "residual", graph: residualGraph,
			input: func() []float32 { return randData(rand.New(rand.NewSource(1)), 2*8*8*3, -1, 1) }, // batch 2
			// Nothing inside the branch (after conv2, relu2, conv3): relu1 crosses there too.
			wantCuts: []string{"x", "conv1", "bn1", "relu1", "add", "relu4", "pool", "out"}},
		zooCase("lenet5"),
		zooCase("mobilenet_v1_025_128"),
		zooCase("mobilenet_v2_035_128"),
	}
}

func TestSplitCutsMatchDefinition(t *testing.T) {
	for _, tc := range splitCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.graph(t)
			s, err := NewSession(g)
			if err != nil {
				t.Fatal(err)
			}
			for _, gg := range []*model.Graph{g, s.Graph()} {
				cuts, err := Cuts(gg)
				if err != nil {
					t.Fatal(err)
				}
				var want []Cut
				for p := 0; p < len(gg.Nodes); p++ {
					if x := naiveCrossing(gg, p); len(x) == 1 {
						want = append(want, Cut{Index: p, Tensor: x[0]})
					}
				}
				want = append(want, Cut{Index: len(gg.Nodes), Tensor: gg.Outputs[0].Name})
				if len(cuts) != len(want) {
					t.Fatalf("%d nodes: %d cuts, want %d", len(gg.Nodes), len(cuts), len(want))
				}
				shapes, err := model.InferShapes(gg, 1)
				if err != nil {
					t.Fatal(err)
				}
				for i, c := range cuts {
					if c.Index != want[i].Index || c.Tensor != want[i].Tensor {
						t.Errorf("cut %d: %d %q, want %d %q", i, c.Index, c.Tensor, want[i].Index, want[i].Tensor)
					}
					if wb := 4 * model.NumElements(shapes[c.Tensor]); c.Bytes != wb || c.Shape[0] != -1 {
						t.Errorf("cut %q: %d bytes shape %v, want %d bytes and a free batch", c.Tensor, c.Bytes, c.Shape, wb)
					}
				}
			}
			if tc.wantCuts != nil {
				cuts, _ := Cuts(g)
				var got []string
				for _, c := range cuts {
					got = append(got, c.Tensor)
				}
				if strings.Join(got, ",") != strings.Join(tc.wantCuts, ",") {
					t.Errorf("cuts %v, want %v", got, tc.wantCuts)
				}
			}
		})
	}
}

// TestSplitHeadThenTail splits every model at every cut, of the graph as
// written and of the compiled graph, and checks that running the head and
// then the tail gives the whole model's outputs.
func TestSplitHeadThenTail(t *testing.T) {
	for _, tc := range splitCases() {
		t.Run(tc.name, func(t *testing.T) {
			g := tc.graph(t)
			whole, err := NewSession(g)
			if err != nil {
				t.Fatal(err)
			}
			x := tc.input()
			outs, err := whole.Run(x)
			if err != nil {
				t.Fatal(err)
			}
			want := append([]float32(nil), outs[0]...)
			for gi, gg := range []*model.Graph{g, whole.Graph()} {
				cuts, err := Cuts(gg)
				if err != nil {
					t.Fatal(err)
				}
				for _, c := range cuts {
					head, tail, err := Split(gg, c)
					if err != nil {
						t.Fatalf("cut %d %q: %v", c.Index, c.Tensor, err)
					}
					checkHalves(t, gg, c, head, tail)
					hs, err := NewSession(head)
					if err != nil {
						t.Fatalf("cut %q: head: %v", c.Tensor, err)
					}
					ts, err := NewSession(tail)
					if err != nil {
						t.Fatalf("cut %q: tail: %v", c.Tensor, err)
					}
					mid, err := hs.Run(x)
					if err != nil {
						t.Fatal(err)
					}
					if len(mid[0]) != len(x)/perExampleFloats(g.Inputs[0].Shape)*c.Bytes/4 {
						t.Errorf("cut %q: head output has %d values, cut says %d bytes an example", c.Tensor, len(mid[0]), c.Bytes)
					}
					got, err := ts.Run(mid[0])
					if err != nil {
						t.Fatal(err)
					}
					if d := maxAbsDiff(got[0], want); d > 1e-5 {
						t.Errorf("graph %d, cut %d %q: head then tail differs from the whole model by %g", gi, c.Index, c.Tensor, d)
					}
				}
			}
		})
	}
}

func perExampleFloats(shape []int) int { return perExampleBytes(shape) / 4 }

// checkHalves checks what Split promises beyond numbers: both halves valid,
// each with exactly the weights its nodes read, the metadata copied and the
// split recorded, g's nodes partitioned at the cut.
func checkHalves(t *testing.T, g *model.Graph, c Cut, head, tail *model.Graph) {
	t.Helper()
	for _, h := range []*model.Graph{head, tail} {
		if err := h.Validate(); err != nil {
			t.Fatalf("cut %q: %v", c.Tensor, err)
		}
		read := map[string]bool{}
		for _, nd := range h.Nodes {
			for _, in := range nd.Inputs {
				read[in] = true
			}
		}
		for _, w := range h.Tensors {
			if !read[w.Name] {
				t.Errorf("cut %q: %s keeps weight %q it does not read", c.Tensor, h.Metadata[MetaSplitPart], w.Name)
			}
		}
		for k, v := range g.Metadata {
			if h.Metadata[k] != v {
				t.Errorf("cut %q: metadata %q not copied", c.Tensor, k)
			}
		}
	}
	if len(head.Nodes) != c.Index || len(head.Nodes)+len(tail.Nodes) != len(g.Nodes) {
		t.Errorf("cut %d: head %d nodes, tail %d, whole %d", c.Index, len(head.Nodes), len(tail.Nodes), len(g.Nodes))
	}
	if tail.Metadata[MetaSplitAt] != c.Tensor || tail.Metadata[MetaSplitOf] != g.Name ||
		tail.Metadata[MetaSplitIndex] != strconv.Itoa(c.Index) || tail.Metadata[MetaSplitPart] != "tail" {
		t.Errorf("cut %q: tail metadata %v", c.Tensor, tail.Metadata)
	}
	if c.Index < len(g.Nodes) && (len(tail.Inputs) != 1 || tail.Inputs[0].Name != c.Tensor || head.Outputs[0].Name != c.Tensor) {
		t.Errorf("cut %q: head outputs %v, tail inputs %v", c.Tensor, head.Outputs, tail.Inputs)
	}
	if g.Metadata == nil {
		return
	}
	// The halves' metadata is their own: writing it leaves g alone.
	tail.Metadata["source"] = "changed"
	if g.Metadata["source"] == "changed" {
		t.Errorf("tail shares its metadata map with the model")
	}
	tail.Metadata["source"] = g.Metadata["source"]
}

func TestSplitCutAt(t *testing.T) {
	g := residualGraph(t)
	c, err := CutAt(g, "relu1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Index != 3 || c.Bytes != 8*8*8*4 || model.ShapeString(c.Shape) != model.ShapeString([]int{-1, 8, 8, 8}) {
		t.Errorf("CutAt(relu1) = %+v", c)
	}
	for _, bad := range []string{"relu2", "nothing", "w1"} {
		if _, err := CutAt(g, bad); err == nil || !strings.Contains(err.Error(), strconv.Quote(bad)) {
			t.Errorf("CutAt(%q): error %v, want one naming the value", bad, err)
		}
	}
}

func TestSplitErrors(t *testing.T) {
	g := residualGraph(t)
	// Node 4 is conv2, inside the branch: after it conv2 and relu1 cross.
	cases := []struct {
		cut  Cut
		want string
	}{
		{Cut{Index: -1, Tensor: "x"}, "unknown cut: the model has 10 nodes"},
		{Cut{Index: 11, Tensor: "out"}, "unknown cut: the model has 10 nodes"},
		{Cut{Index: 4, Tensor: "conv2"}, "2 activations cross there"},
		{Cut{Index: 6, Tensor: "conv3"}, "2 activations cross there"},
		{Cut{Index: 3, Tensor: "bn1"}, `the value crossing there is "relu1", not "bn1"`},
	}
	for _, tc := range cases {
		_, _, err := Split(g, tc.cut)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"residual"`) {
			t.Errorf("Split(%+v): error %v, want one containing %q and the model's name", tc.cut, err, tc.want)
		}
	}
	bad := residualGraph(t)
	bad.Outputs[0].Name = "missing"
	if _, _, err := Split(bad, Cut{Index: 3, Tensor: "relu1"}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Split of an invalid graph: %v", err)
	}
	if _, err := Cuts(bad); err == nil {
		t.Errorf("Cuts of an invalid graph: no error")
	}
	// Two inputs: no p = 0, and the second input crosses until it is read.
	b := model.NewBuilder("two")
	x := b.Input("x", []int{-1, 4})
	y := b.Input("y", []int{-1, 4})
	r := b.Node(model.OpRelu, []string{x}, nil, "r")
	b.Output(b.Add(r, y, "add"), "out")
	two, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	cuts, err := Cuts(two)
	if err != nil {
		t.Fatal(err)
	}
	if len(cuts) != 1 || cuts[0].Index != 2 {
		t.Errorf("two-input graph: cuts %+v, want only stay-local", cuts)
	}
}
