package engine

import (
	"errors"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// Cut is a place where a graph can be split in two: the head is the first
// Index nodes of the topological order, the tail is the rest, and exactly
// one activation (Tensor) passes from the head to the tail. Index 0 sends
// the graph's input to the tail (all the work is remote); Index len(Nodes)
// keeps everything local, and then Tensor is the graph's output (empty when
// it has several) and Bytes counts all outputs.
type Cut struct {
	Index  int
	Tensor string
	Shape  []int // without the batch: Shape[0] is -1 when the value has a free batch dimension
	Bytes  int   // bytes of one example of Tensor
}

// Metadata keys Split sets on a tail, so that a peer can check it runs the
// agreed part of the agreed model.
const (
	MetaSplitOf    = "split.of"    // the name of the graph the tail was cut from
	MetaSplitAt    = "split.at"    // the crossing value, the tail's input
	MetaSplitIndex = "split.index" // the cut's Index, in decimal
	MetaSplitPart  = "split.part"  // "head" or "tail"
)

// crossing is, for every head length p in [0, n], how many activations cross
// from the head (and the graph inputs) to the tail (and the graph outputs),
// and, where that is one, which.
type crossing struct {
	count []int
	which []string
}

// crossings computes the crossing activations of every head length in one
// pass: a value defined by the head of length def and last read by node last
// (len(Nodes) for a graph output) crosses every cut p with def <= p <= last.
func crossings(g *model.Graph) crossing {
	n := len(g.Nodes)
	weights := make(map[string]bool, len(g.Tensors))
	for _, t := range g.Tensors {
		weights[t.Name] = true
	}
	def := map[string]int{}
	var order []string
	for _, in := range g.Inputs {
		if _, ok := def[in.Name]; !ok {
			def[in.Name] = 0
			order = append(order, in.Name)
		}
	}
	last := map[string]int{}
	for i, nd := range g.Nodes {
		for _, in := range nd.Inputs {
			if _, ok := def[in]; ok && in != "" && !weights[in] {
				last[in] = i
			}
		}
		for _, o := range nd.Outputs {
			if _, ok := def[o]; !ok && !weights[o] {
				def[o] = i + 1
				order = append(order, o)
			}
		}
	}
	for _, o := range g.Outputs {
		if _, ok := def[o.Name]; ok {
			last[o.Name] = n
		}
	}
	// Difference arrays: the number of crossing values, and the sum of their
	// positions in order (which names the value wherever the count is one).
	cnt := make([]int, n+2)
	sum := make([]int, n+2)
	for k, v := range order {
		l, ok := last[v]
		if !ok || l < def[v] {
			continue
		}
		cnt[def[v]]++
		cnt[l+1]--
		sum[def[v]] += k
		sum[l+1] -= k
	}
	c := crossing{count: make([]int, n+1), which: make([]string, n+1)}
	run, runSum := 0, 0
	for p := 0; p <= n; p++ {
		run += cnt[p]
		runSum += sum[p]
		c.count[p] = run
		if run == 1 {
			c.which[p] = order[runSum]
		}
	}
	return c
}

// batchFreeShapes infers the shapes of g's values with the batch dimension
// free: a dimension that changes between batch 1 and batch 2 becomes -1 if it
// is the first, and the value is left out (no batch-free shape) otherwise.
func batchFreeShapes(g *model.Graph) (map[string][]int, error) {
	s1, err := model.InferShapes(g, 1)
	if err != nil {
		return nil, err
	}
	s2, err := model.InferShapes(g, 2)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]int, len(s1))
	for name, a := range s1 {
		b := s2[name]
		if len(a) != len(b) {
			continue
		}
		shape := append([]int(nil), a...)
		ok := true
		for j := range a {
			if a[j] != b[j] {
				if j != 0 {
					ok = false
					break
				}
				shape[0] = -1
			}
		}
		if ok {
			out[name] = shape
		}
	}
	return out, nil
}

// Cuts returns the places g can be split, in order of Index: every head
// length p at which exactly one activation (not a weight) produced by the
// head or a graph input is read by the tail or is a graph output; p = 0 when
// the graph has one input; and always p = len(Nodes) (stay local). Inside a
// residual branch two values cross (the branch and the skip), so no cut is
// offered there. A value whose batch dimension is not the first is not
// offered either: the tail could not take it as an input. Cuts of a
// session's compiled graph (Session.Graph) are those worth pricing: a cut
// between a convolution and the BatchNorm or activation fused into it moves
// as many bytes as the cut after them and breaks the fusion.
func Cuts(g *model.Graph) ([]Cut, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	shapes, err := batchFreeShapes(g)
	if err != nil {
		return nil, err
	}
	n := len(g.Nodes)
	c := crossings(g)
	var cuts []Cut
	for p := 0; p < n; p++ {
		if c.count[p] != 1 {
			continue
		}
		shape, ok := shapes[c.which[p]]
		if !ok {
			continue
		}
		cuts = append(cuts, Cut{Index: p, Tensor: c.which[p], Shape: shape, Bytes: perExampleBytes(shape)})
	}
	local := Cut{Index: n}
	for _, o := range g.Outputs {
		s := shapes[o.Name]
		local.Bytes += perExampleBytes(s)
	}
	if len(g.Outputs) == 1 {
		local.Tensor = g.Outputs[0].Name
		local.Shape = shapes[local.Tensor]
	}
	return append(cuts, local), nil
}

// perExampleBytes is the float32 size of one example of a value of shape s.
func perExampleBytes(s []int) int {
	if len(s) == 0 {
		return 4
	}
	n := 4
	for i, d := range s {
		if i == 0 && d < 0 {
			continue
		}
		n *= d
	}
	return n
}

// CutAt returns g's cut whose crossing value is tensor: the way a peer turns
// the agreed split point (MetaSplitAt) into a cut of its own copy of the
// model.
func CutAt(g *model.Graph, tensor string) (Cut, error) {
	cuts, err := Cuts(g)
	if err != nil {
		return Cut{}, err
	}
	for _, c := range cuts {
		if c.Tensor == tensor && c.Index < len(g.Nodes) {
			return c, nil
		}
	}
	return Cut{}, errors.New("engine: split: model " + strconv.Quote(g.Name) + " has no cut at value " + strconv.Quote(tensor) +
		" (not a value of the graph, or not the only value crossing there)")
}

// Split cuts g at c into a head (the first c.Index nodes, whose one output is
// c.Tensor) and a tail (the rest, whose one input is c.Tensor). Each keeps
// only the weights its nodes read, shares them (read-only) with g, and
// copies g's metadata; both carry MetaSplitOf, MetaSplitAt, MetaSplitIndex
// and MetaSplitPart. At c.Index 0 the head is the identity on the input; at
// len(Nodes) the tail is the identity on the outputs. Both halves pass
// model validation and compile with NewSession; running head then tail
// gives g's outputs. g is not modified.
func Split(g *model.Graph, c Cut) (head, tail *model.Graph, err error) {
	if err := g.Validate(); err != nil {
		return nil, nil, err
	}
	fail := func(msg string) error {
		return errors.New("engine: split: model " + strconv.Quote(g.Name) + ": cut at " + strconv.Itoa(c.Index) + ": " + msg)
	}
	n := len(g.Nodes)
	if c.Index < 0 || c.Index > n {
		return nil, nil, fail("unknown cut: the model has " + strconv.Itoa(n) + " nodes")
	}
	shapes, err := batchFreeShapes(g)
	if err != nil {
		return nil, nil, err
	}
	cr := crossings(g)
	var mid []model.ValueInfo // what passes from head to tail
	if c.Index == n {
		for _, o := range g.Outputs {
			mid = append(mid, model.ValueInfo{Name: o.Name, Shape: shapes[o.Name], DType: model.Float32})
		}
	} else {
		switch k := cr.count[c.Index]; {
		case k == 0:
			return nil, nil, fail("unknown cut: no activation crosses there")
		case k > 1:
			return nil, nil, fail(strconv.Itoa(k) + " activations cross there; a split needs exactly one")
		}
		x := cr.which[c.Index]
		if c.Tensor != x {
			return nil, nil, fail("unknown cut: the value crossing there is " + strconv.Quote(x) + ", not " + strconv.Quote(c.Tensor))
		}
		shape, ok := shapes[x]
		if !ok {
			return nil, nil, fail("value " + strconv.Quote(x) + " has its batch inside another dimension; it cannot be a tail's input")
		}
		mid = []model.ValueInfo{{Name: x, Shape: shape, DType: model.Float32}}
	}
	cutName := c.Tensor
	head = part(g, "head", cutName, c.Index)
	tail = part(g, "tail", cutName, c.Index)
	headNodes := g.Nodes[:c.Index]
	for _, in := range g.Inputs {
		if reads(headNodes, in.Name) || isIn(mid, in.Name) {
			head.Inputs = append(head.Inputs, in)
		}
	}
	head.Outputs = mid
	head.Nodes, head.Tensors = nodesAndWeights(g, headNodes)
	tail.Inputs = mid
	tail.Outputs = g.Outputs
	tail.Nodes, tail.Tensors = nodesAndWeights(g, g.Nodes[c.Index:])
	if err := head.Validate(); err != nil {
		return nil, nil, fail("head: " + err.Error())
	}
	if err := tail.Validate(); err != nil {
		return nil, nil, fail("tail: " + err.Error())
	}
	return head, tail, nil
}

// part starts one half of a split: g's name and a copy of its metadata with
// the split recorded.
func part(g *model.Graph, which, at string, index int) *model.Graph {
	m := make(map[string]string, len(g.Metadata)+4)
	for k, v := range g.Metadata {
		m[k] = v
	}
	m[MetaSplitOf] = g.Name
	m[MetaSplitAt] = at
	m[MetaSplitIndex] = strconv.Itoa(index)
	m[MetaSplitPart] = which
	return &model.Graph{Name: g.Name, Metadata: m}
}

// nodesAndWeights copies nodes (so that a half can be changed without
// changing g) and collects, in g's order, the weights they read.
func nodesAndWeights(g *model.Graph, nodes []*model.Node) ([]*model.Node, []*model.Tensor) {
	used := map[string]bool{}
	out := make([]*model.Node, len(nodes))
	for i, nd := range nodes {
		c := *nd
		if nd.Attrs != nil {
			c.Attrs = make(model.Attrs, len(nd.Attrs))
			for k, v := range nd.Attrs {
				c.Attrs[k] = v
			}
		}
		c.Inputs = append([]string(nil), nd.Inputs...)
		c.Outputs = append([]string(nil), nd.Outputs...)
		out[i] = &c
		for _, in := range nd.Inputs {
			used[in] = true
		}
	}
	var ts []*model.Tensor
	for _, t := range g.Tensors {
		if used[t.Name] {
			ts = append(ts, t)
		}
	}
	return out, ts
}

func reads(nodes []*model.Node, v string) bool {
	for _, nd := range nodes {
		for _, in := range nd.Inputs {
			if in == v {
				return true
			}
		}
	}
	return false
}

func isIn(vs []model.ValueInfo, name string) bool {
	for _, v := range vs {
		if v.Name == name {
			return true
		}
	}
	return false
}
