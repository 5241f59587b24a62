package engine

import (
	"slices"
	"strconv"

	"github.com/edgenn/edgenn/kernels"
	"github.com/edgenn/edgenn/model"
)

// compile rewrites a validated graph for running: constants are folded,
// BatchNorm is folded into the Conv2D or Dense before it, a constant per-channel
// Add becomes that op's bias, an Add of a same-shaped value becomes a
// Conv2D's residual input, a following activation becomes its epilogue, and
// nodes whose results nobody reads are dropped. The input graph is not
// modified: rewritten nodes and tensors are copies.
func compile(src *model.Graph) (*model.Graph, error) {
	g := &model.Graph{
		Name:     src.Name,
		Inputs:   src.Inputs,
		Outputs:  src.Outputs,
		Metadata: src.Metadata,
		Tensors:  append([]*model.Tensor(nil), src.Tensors...),
	}
	for _, n := range src.Nodes {
		c := *n
		c.Attrs = model.Attrs{}
		for k, v := range n.Attrs {
			c.Attrs[k] = v
		}
		c.Inputs = append([]string(nil), n.Inputs...)
		c.Outputs = append([]string(nil), n.Outputs...)
		g.Nodes = append(g.Nodes, &c)
	}
	if err := foldConstants(g); err != nil {
		return nil, err
	}
	fuse(g)
	prune(g)
	return g, nil
}

// consumers counts, for every value, the nodes that read it; graph outputs
// count as a reader too, so a value that is an output is never fused away.
func consumers(g *model.Graph) map[string]int {
	uses := map[string]int{}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			uses[in]++
		}
	}
	for _, o := range g.Outputs {
		uses[o.Name]++
	}
	return uses
}

// foldConstants evaluates every node whose inputs are all constants once, with
// the same kernels the session runs, and replaces it by a tensor.
func foldConstants(g *model.Graph) error {
	consts := map[string]*model.Tensor{}
	for _, t := range g.Tensors {
		consts[t.Name] = t
	}
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		foldable := len(n.Inputs) > 0
		for _, in := range n.Inputs {
			if t := consts[in]; in != "" && (t == nil || t.DType != model.Float32) {
				foldable = false
			}
		}
		if !foldable {
			kept = append(kept, n)
			continue
		}
		outs, err := evalConst(n, g, consts)
		if err != nil {
			return err
		}
		for _, t := range outs {
			consts[t.Name] = t
			g.Tensors = append(g.Tensors, t)
		}
	}
	g.Nodes = kept
	return nil
}

// evalConst runs one node on constant inputs through a one-node graph.
func evalConst(n *model.Node, g *model.Graph, consts map[string]*model.Tensor) ([]*model.Tensor, error) {
	sub := &model.Graph{Name: "fold", Nodes: []*model.Node{n}}
	for _, in := range n.Inputs {
		if in != "" {
			sub.Tensors = append(sub.Tensors, consts[in])
		}
	}
	for _, o := range n.Outputs {
		sub.Outputs = append(sub.Outputs, model.ValueInfo{Name: o, DType: model.Float32})
	}
	shapes, err := model.InferShapes(sub, 1)
	if err != nil {
		return nil, err
	}
	s := &Session{g: sub, kernels: map[*model.Node]any{}}
	p, err := buildPlan(s, 1)
	if err != nil {
		return nil, err
	}
	for i := range p.steps {
		p.steps[i].run()
	}
	var out []*model.Tensor
	for i, o := range n.Outputs {
		out = append(out, &model.Tensor{Name: o, DType: model.Float32, Shape: shapes[o], Data: append([]float32(nil), p.outputs[i]...)})
	}
	return out, nil
}

// fusible activations and the epilogue attribute each becomes.
var fusedActivation = map[string]string{
	model.OpRelu: "relu", model.OpRelu6: "relu6", model.OpLeakyRelu: "leakyrelu",
	model.OpSigmoid: "sigmoid", model.OpTanh: "tanh", model.OpHardSwish: "hardswish", model.OpClip: "clip",
}

// fuse folds BatchNorm, per-channel constant Adds and activations into the
// Conv2D or Dense that produces their input, when that op's output has no
// other reader.
func fuse(g *model.Graph) {
	producer := map[string]*model.Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			producer[o] = n
		}
	}
	uses := consumers(g)
	tensor := func(name string) *model.Tensor {
		t := g.Tensor(name)
		if t == nil || t.DType != model.Float32 {
			return nil
		}
		return t
	}
	// Shapes at two batch sizes tell a residual shaped like a convolution's
	// output from one that broadcasts; without them nothing is fused so.
	// They are taken before the loop below rewrites g.Nodes in place; the
	// values keep their names (a fused node takes its last node's output).
	s1, err1 := model.InferShapes(g, 1)
	s2, err2 := model.InferShapes(g, 2)
	sameShape := func(a, b string) bool {
		return err1 == nil && err2 == nil && s1[a] != nil && slices.Equal(s1[a], s1[b]) && slices.Equal(s2[a], s2[b])
	}
	kept := g.Nodes[:0]
	for _, n := range g.Nodes {
		if len(n.Inputs) == 0 || len(n.Outputs) != 1 {
			kept = append(kept, n)
			continue
		}
		if c, other := residualConv(n, producer, uses, tensor, sameShape); c != nil {
			// conv + Add: the convolution adds the other operand before
			// its activation and writes the Add's output, at the Add's
			// place in the order (the operand may be computed after the
			// convolution, as BlazeFace's pooled skip is).
			for len(c.Inputs) < 3 {
				c.Inputs = append(c.Inputs, "")
			}
			c.Inputs = append(c.Inputs, other)
			delete(producer, c.Outputs[0])
			c.Outputs[0] = n.Outputs[0]
			producer[c.Outputs[0]] = c
			for i, k := range kept {
				if k == c {
					kept = append(kept[:i], kept[i+1:]...)
					break
				}
			}
			kept = append(kept, c)
			continue
		}
		p := producer[n.Inputs[0]]
		if p != nil && binaryOps[p.Op] && fusedActivation[n.Op] != "" && uses[n.Inputs[0]] == 1 && p.Attrs.String("activation", "") == "" {
			// A residual Add (or another binary op) followed by an
			// activation: one step that activates what it just wrote, instead
			// of a second node that copies and activates.
			setActivation(p, n)
			delete(producer, p.Outputs[0])
			p.Outputs[0] = n.Outputs[0]
			producer[p.Outputs[0]] = p
			continue
		}
		if p == nil || (p.Op != model.OpConv2D && p.Op != model.OpDense) || uses[n.Inputs[0]] != 1 ||
			p.Attrs.String("activation", "") != "" || tensor(p.Inputs[1]) == nil {
			kept = append(kept, n)
			continue
		}
		w := tensor(p.Inputs[1])
		cout := w.Shape[len(w.Shape)-1]
		fused := false
		switch {
		case hasResidual(p) && fusedActivation[n.Op] == "":
			// A BatchNorm or bias folded into the weights would miss the
			// residual: only an activation follows it in.
		case n.Op == model.OpBatchNorm:
			var ps [4]*model.Tensor
			ok := len(n.Inputs) == 5
			for i := 0; ok && i < 4; i++ {
				ps[i] = tensor(n.Inputs[i+1])
				ok = ps[i] != nil && len(ps[i].Data) == cout
			}
			if !ok {
				break
			}
			nw, nb := foldedParams(g, p, w, cout)
			kernels.FoldBatchNorm(nw.Data, nb.Data, cout, ps[0].Data, ps[1].Data, ps[2].Data, ps[3].Data, n.Attrs.Float("epsilon", 1e-3))
			fused = true
		case n.Op == model.OpAdd && len(n.Inputs) == 2:
			t := tensor(n.Inputs[1])
			if t == nil || len(t.Data) != cout || t.Shape[len(t.Shape)-1] != cout {
				break
			}
			_, nb := foldedParams(g, p, w, cout)
			for i, v := range t.Data {
				nb.Data[i] += v
			}
			fused = true
		case fusedActivation[n.Op] != "":
			setActivation(p, n)
			fused = true
		}
		if !fused {
			kept = append(kept, n)
			continue
		}
		// The producer now writes the fused node's output.
		delete(producer, p.Outputs[0])
		p.Outputs[0] = n.Outputs[0]
		producer[p.Outputs[0]] = p
	}
	g.Nodes = kept
}

// residualConv returns the Conv2D whose output Add node n (without an
// activation of its own yet) adds to another value of the same shape, and
// that value, when the convolution can take it as its residual input: it
// has constant weights, no activation or residual yet, and n is the only
// reader of its output.
func residualConv(n *model.Node, producer map[string]*model.Node, uses map[string]int,
	tensor func(string) *model.Tensor, sameShape func(a, b string) bool) (*model.Node, string) {
	if n.Op != model.OpAdd || len(n.Inputs) != 2 || n.Inputs[0] == n.Inputs[1] || n.Attrs.String("activation", "") != "" {
		return nil, ""
	}
	for k, in := range n.Inputs {
		c := producer[in]
		if c != nil && c.Op == model.OpConv2D && uses[in] == 1 && !hasResidual(c) &&
			c.Attrs.String("activation", "") == "" && tensor(c.Inputs[1]) != nil && sameShape(in, n.Inputs[1-k]) {
			return c, n.Inputs[1-k]
		}
	}
	return nil, ""
}

// hasResidual reports whether Conv2D node c adds a residual input.
func hasResidual(c *model.Node) bool { return len(c.Inputs) > 3 && c.Inputs[3] != "" }

// binaryOps are the elementwise binary ops a following activation fuses into.
var binaryOps = map[string]bool{model.OpAdd: true, model.OpSub: true, model.OpMul: true, model.OpDiv: true}

// setActivation makes activation node n p's fused "activation" attribute.
func setActivation(p, n *model.Node) {
	if p.Attrs == nil {
		p.Attrs = model.Attrs{}
	}
	p.Attrs["activation"] = fusedActivation[n.Op]
	switch n.Op {
	case model.OpLeakyRelu:
		p.Attrs["alpha"] = n.Attrs.Float("alpha", 0.01)
	case model.OpClip:
		p.Attrs["clip_min"] = n.Attrs.Float("min", negInf)
		p.Attrs["clip_max"] = n.Attrs.Float("max", posInf)
	}
}

// foldedParams gives p private copies of its weights and bias (creating a zero
// bias if it had none) so that folding never changes tensors the caller's
// graph shares.
func foldedParams(g *model.Graph, p *model.Node, w *model.Tensor, cout int) (*model.Tensor, *model.Tensor) {
	nw := &model.Tensor{Name: uniqueName(g, p.Name+"/folded_w"), DType: model.Float32, Shape: w.Shape, Data: append([]float32(nil), w.Data...)}
	nb := &model.Tensor{Name: uniqueName(g, p.Name+"/folded_b"), DType: model.Float32, Shape: []int{cout}, Data: make([]float32, cout)}
	if len(p.Inputs) > 2 && p.Inputs[2] != "" {
		if b := g.Tensor(p.Inputs[2]); b != nil {
			copy(nb.Data, b.Data)
		}
	}
	g.Tensors = append(g.Tensors, nw, nb)
	p.Inputs[1] = nw.Name
	if len(p.Inputs) < 3 {
		p.Inputs = append(p.Inputs, "")
	}
	p.Inputs[2] = nb.Name
	return nw, nb
}

func uniqueName(g *model.Graph, base string) string {
	name := base
	for i := 1; g.Tensor(name) != nil; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	return name
}

// prune drops nodes whose outputs nobody reads and tensors no node reads.
func prune(g *model.Graph) {
	for {
		uses := consumers(g)
		kept := g.Nodes[:0]
		for _, n := range g.Nodes {
			live := false
			for _, o := range n.Outputs {
				live = live || uses[o] > 0
			}
			if live {
				kept = append(kept, n)
			}
		}
		if len(kept) == len(g.Nodes) {
			break
		}
		g.Nodes = kept
	}
	uses := consumers(g)
	tensors := g.Tensors[:0]
	for _, t := range g.Tensors {
		if uses[t.Name] > 0 {
			tensors = append(tensors, t)
		}
	}
	g.Tensors = tensors
}
