package tfjs

import (
	"errors"
	"math"
	"strconv"

	"github.com/edgenn/edgenn/model"
)

// refusal is why a source node cannot be mapped: recorded in the report, and
// the import goes on to find every other one.
type refusal struct{ why string }

func (r *refusal) Error() string { return r.why }

func refuse(why string) error { return &refusal{why} }

func isRefusal(err error) (*refusal, bool) {
	var r *refusal
	ok := errors.As(err, &r)
	return r, ok
}

// emitter writes the IR graph through a model.Builder, which infers every
// shape as nodes are added. It gives every value a unique name, turns
// constants into tensors once, remembers what produced each value (for the
// pattern rewrites), and holds the lowerings both importers share.
type emitter struct {
	b       *model.Builder
	used    map[string]bool
	consts  map[constKey]string
	values  map[string]*tensor     // IR tensor -> its values
	scalars map[float32]string     // one-element tensors by value
	prod    map[string]*model.Node // IR value -> the node that made it
	report  *model.ImportReport
}

type constKey struct {
	t     *tensor
	shape string
}

func newEmitter(name string, report *model.ImportReport) *emitter {
	return &emitter{
		b:       model.NewBuilder(name),
		used:    map[string]bool{},
		consts:  map[constKey]string{},
		values:  map[string]*tensor{},
		scalars: map[float32]string{},
		prod:    map[string]*model.Node{},
		report:  report,
	}
}

// unique returns base, or base_k for the first k that is free, and takes it.
func (e *emitter) unique(base string) string {
	if base == "" {
		base = "v"
	}
	name := base
	for k := 1; e.used[name]; k++ {
		name = base + "_" + strconv.Itoa(k)
	}
	e.used[name] = true
	return name
}

// err is the builder's first error (a shape that does not fit, a name too
// long...): the source model is broken, or the importer is.
func (e *emitter) err() error { return e.b.Err() }

func (e *emitter) shape(v string) []int { return e.b.Shape(v) }

func (e *emitter) input(name string, shape []int) string {
	return e.b.Input(e.unique(name), shape)
}

// node adds an IR node named after name (made unique) and returns its output.
func (e *emitter) node(op string, inputs []string, attrs model.Attrs, name string) string {
	out := e.b.Node(op, inputs, attrs, e.unique(name))
	if e.b.Err() == nil {
		e.prod[out] = &model.Node{Op: op, Name: out, Inputs: inputs, Attrs: attrs}
	}
	return out
}

// constant returns the tensor holding t's values with the given shape (nil:
// t's own), adding it on first use under the name base.
func (e *emitter) constant(t *tensor, base string, shape []int) (string, error) {
	if shape == nil {
		shape = t.shape
	}
	if len(shape) == 0 {
		shape = []int{1} // a scalar broadcasts as a one-element vector
	}
	k := constKey{t, model.ShapeString(shape)}
	if name, ok := e.consts[k]; ok {
		return name, nil
	}
	if t.isInt {
		return "", refuse("integer tensor " + strconv.Quote(base) + " used as a run-time float input")
	}
	for _, d := range shape {
		if d < 1 {
			return "", refuse("empty tensor " + strconv.Quote(base) + " " + model.ShapeString(shape))
		}
	}
	name := e.b.Tensor(e.unique(base), shape, t.f)
	e.consts[k] = name
	e.values[name] = &tensor{shape: shape, f: t.f}
	return name, nil
}

// scalar returns a one-element tensor holding v.
func (e *emitter) scalar(v float32) string {
	if name, ok := e.scalars[v]; ok {
		return name
	}
	t := &tensor{shape: []int{1}, f: []float32{v}}
	name, _ := e.constant(t, "const/"+strconv.FormatFloat(float64(v), 'g', -1, 32), nil)
	e.scalars[v] = name
	return name
}

// fusable reports whether act can be a Conv2D/Dense "activation" attribute.
func fusable(act string) bool {
	switch act {
	case "", "relu", "relu6", "leakyrelu", "sigmoid", "tanh":
		return true
	}
	return false
}

// activationAttrs sets a fusable activation on a Conv2D/Dense attribute map.
func activationAttrs(a model.Attrs, act string, alpha float32) {
	if act == "" {
		return
	}
	a["activation"] = act
	if act == "leakyrelu" {
		a["alpha"] = alpha
	}
}

// activation applies act to x as standalone node(s); the last is called
// name. act is an edgenn activation name or "elu" (alpha is LeakyRelu's
// slope and Elu's scale) or "softmax"; "" and "linear" return x.
func (e *emitter) activation(x, act string, alpha float32, name string) (string, error) {
	switch act {
	case "", "linear":
		return x, nil
	case "relu":
		return e.node(model.OpRelu, []string{x}, nil, name), nil
	case "relu6":
		return e.node(model.OpRelu6, []string{x}, nil, name), nil
	case "leakyrelu":
		return e.node(model.OpLeakyRelu, []string{x}, model.Attrs{"alpha": alpha}, name), nil
	case "sigmoid":
		return e.node(model.OpSigmoid, []string{x}, nil, name), nil
	case "tanh":
		return e.node(model.OpTanh, []string{x}, nil, name), nil
	case "softmax":
		return e.node(model.OpSoftmax, []string{x}, nil, name), nil
	case "elu":
		return e.elu(x, alpha, name), nil
	case "hardsigmoid":
		// Keras/TF.js: clip(0.2*x + 0.5, 0, 1), the same three operations.
		y := e.node(model.OpMul, []string{x, e.scalar(0.2)}, nil, name+"/mul")
		y = e.node(model.OpAdd, []string{y, e.scalar(0.5)}, nil, name+"/add")
		return e.node(model.OpClip, []string{y}, model.Attrs{"min": float32(0), "max": float32(1)}, name), nil
	case "swish":
		// x * sigmoid(x), as TF.js computes it.
		s := e.node(model.OpSigmoid, []string{x}, nil, name+"/sigmoid")
		return e.node(model.OpMul, []string{x, s}, nil, name), nil
	}
	return "", refuse("activation " + strconv.Quote(act) + " has no exact lowering to edgenn ops")
}

// elu lowers Elu (alpha*(exp(x)-1) below 0, x above) to IR ops, with no
// approximation beyond float rounding: with m = min(x, 0) = x - relu(x) and
// t = tanh(m/2), exp(m) - 1 = 2t/(1-t), so
//
//	elu(x) = relu(x) + alpha * 2t/(1-t).
//
// Above 0, t = 0 and the result is x exactly; below, 1-t is in [1, 2), so
// nothing cancels.
func (e *emitter) elu(x string, alpha float32, name string) string {
	r := e.node(model.OpRelu, []string{x}, nil, name+"/elu_relu")
	m := e.node(model.OpSub, []string{x, r}, nil, name+"/elu_min0")
	h := e.node(model.OpMul, []string{m, e.scalar(0.5)}, nil, name+"/elu_half")
	t := e.node(model.OpTanh, []string{h}, nil, name+"/elu_tanh")
	d := e.node(model.OpSub, []string{e.scalar(1), t}, nil, name+"/elu_den")
	t2 := e.node(model.OpAdd, []string{t, t}, nil, name+"/elu_num")
	q := e.node(model.OpDiv, []string{t2, d}, nil, name+"/elu_expm1")
	if alpha != 1 {
		q = e.node(model.OpMul, []string{q, e.scalar(alpha)}, nil, name+"/elu_scale")
	}
	e.report.Notes = append(e.report.Notes, "Elu "+strconv.Quote(name)+" lowered exactly to relu(x) + 2t/(1-t), t = tanh(min(x,0)/2)")
	return e.node(model.OpAdd, []string{r, q}, nil, name)
}

// output is one graph output: the IR value v, published as name.
type output struct{ v, name string }

// finish declares the outputs, builds and validates the graph, and drops the
// nodes and tensors no output needs (left behind by pattern rewrites).
func (e *emitter) finish(outs []output) (*model.Graph, error) {
	taken := map[string]bool{}
	isInput := map[string]bool{}
	for _, o := range outs {
		v := o.v
		if e.prod[v] == nil || taken[v] || isInput[v] {
			// A graph input, or a value already published under another
			// name: publish a copy (a Reshape that keeps every dimension).
			s := e.shape(v)
			if s == nil {
				return nil, errors.New("output " + strconv.Quote(o.name) + " is not computed by the graph")
			}
			v = e.node(model.OpReshape, []string{v}, model.Attrs{"shape": make([]int, len(s))}, o.name)
		}
		name := o.name
		if name != v && e.used[name] {
			name = v // the source's name is taken by another value: keep the IR one
		}
		e.used[name] = true
		taken[v] = true
		e.b.Output(v, name)
	}
	g, err := e.b.Build()
	if err != nil {
		return nil, err
	}
	prune(g)
	if err := g.Validate(); err != nil {
		return nil, err
	}
	return g, nil
}

// prune removes the nodes and tensors that no output depends on.
func prune(g *model.Graph) {
	live := map[string]bool{}
	for _, o := range g.Outputs {
		live[o.Name] = true
	}
	keep := make([]bool, len(g.Nodes))
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if live[n.Outputs[0]] {
			keep[i] = true
			for _, in := range n.Inputs {
				live[in] = true
			}
		}
	}
	nodes := g.Nodes[:0]
	for i, n := range g.Nodes {
		if keep[i] {
			nodes = append(nodes, n)
		}
	}
	g.Nodes = nodes
	tensors := g.Tensors[:0]
	for _, t := range g.Tensors {
		if live[t.Name] {
			tensors = append(tensors, t)
		}
	}
	g.Tensors = tensors
}

// uniform returns the value every element of t has, and false if they differ.
func uniform(t *tensor) (float32, bool) {
	f := t.float()
	if len(f) == 0 {
		return 0, false
	}
	for _, v := range f[1:] {
		if v != f[0] && !(math.IsNaN(float64(v)) && math.IsNaN(float64(f[0]))) {
			return 0, false
		}
	}
	return f[0], true
}
