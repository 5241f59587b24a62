package engine

import (
	"errors"
	"strconv"
	"strings"

	"github.com/edgenn/edgenn/kernels"
	"github.com/edgenn/edgenn/model"
)

// TrainOptions configure a Trainer.
type TrainOptions struct {
	// Batch is the number of examples every Step takes. Required.
	Batch int
	// Loss is "crossentropy" (the default: softmax cross-entropy on integer
	// labels; a final Softmax in the model is folded into the loss) or
	// "mse" (labels are then ignored and Step takes targets).
	Loss string
	// Optimizer defaults to SGD{LR: 0.01}.
	Optimizer Optimizer
	// Trainable lists name prefixes of the weight tensors to train; nil
	// trains every weight and bias. A prefix that matches nothing is an
	// error, so that a typo cannot silently freeze the whole model.
	// BatchNorm's scale and bias are weights like any other; its running
	// mean and variance are never trained by the optimiser, and a BatchNorm
	// whose scale and bias are both frozen runs as at inference.
	Trainable []string
	// Seed seeds the Dropout masks (the same seed gives the same masks on
	// every platform).
	Seed uint64
}

// param is one trained tensor: the trainer's own copy of its values, its
// gradient and the optimiser's state.
type param struct {
	name    string
	w, g    []float32
	m, v    []float32 // optimiser state (momentum / Adam moments)
	written bool      // whether the last backward pass wrote g
}

// tnode is one node of the training graph, bound to its buffers.
type tnode struct {
	n       *model.Node
	forward func()
	// backward reads the gradient of the node's output and writes the
	// gradients of its parameters and of the inputs that need one.
	backward func()
	// sync pushes updated parameters into the forward kernel.
	sync func()
}

// Trainer trains a model's weights on batches of examples: forward, loss,
// backward and an optimiser step in one Step call, which allocates nothing.
// It trains Conv2D (any stride, dilation, padding, groups, depthwise), Dense
// and MatMul with any fused activation, BatchNorm (training mode), Dropout,
// MaxPool, AvgPool, GlobalAvgPool, Mean, Flatten, Reshape, Pad, Transpose,
// Concat, Softmax, the standalone activations and Add/Sub/Mul/Div with
// broadcasting; a final Softmax is folded into the crossentropy loss. Gemm,
// PRelu and Resize are refused by NewTrainer with an error naming them.
// A Trainer is not safe for concurrent use.
type Trainer struct {
	src     *model.Graph
	opts    TrainOptions
	nodes   []*tnode
	params  []*param
	byName  map[string]*param
	act     map[string][]float32 // forward values
	grad    map[string][]float32 // gradients of computed values
	input   []float32
	logits  []float32
	dlogits []float32
	classes int
	step    int
	scratch []float32   // shared by every node's kernels
	lrScale float32     // the schedule's factor on the optimiser's rate (Fit)
	zero    [][]float32 // gradients summed over several readers: zeroed before backward
	rng     kernels.RNG // Dropout's masks
	// state holds the tensors training updates without the optimiser
	// (BatchNorm's running statistics), by name, in the order kept.
	state      map[string][]float32
	stateOrder []string
}

// NewTrainer prepares g for training with the given options. g is not
// modified; Graph returns the trained model.
func NewTrainer(g *model.Graph, o TrainOptions) (*Trainer, error) {
	if err := g.Validate(); err != nil {
		return nil, err
	}
	if o.Batch < 1 || o.Batch > maxBatch {
		return nil, errors.New("engine: Trainer batch " + strconv.Itoa(o.Batch) + " is not in [1, " + strconv.Itoa(maxBatch) + "]")
	}
	if o.Loss == "" {
		o.Loss = "crossentropy"
	}
	if o.Loss != "crossentropy" && o.Loss != "mse" {
		return nil, errors.New("engine: unknown loss " + strconv.Quote(o.Loss) + " (crossentropy or mse)")
	}
	if o.Optimizer == nil {
		o.Optimizer = SGD{LR: 0.01}
	}
	if msg := o.Optimizer.valid(); msg != "" {
		return nil, errors.New("engine: " + msg)
	}
	if len(g.Inputs) != 1 || len(g.Outputs) != 1 {
		return nil, errors.New("engine: the Trainer takes models with one input and one output")
	}
	t := &Trainer{src: g, opts: o, lrScale: 1, byName: map[string]*param{}, act: map[string][]float32{}, grad: map[string][]float32{},
		rng: kernels.NewRNG(o.Seed), state: map[string][]float32{}}
	nodes := g.Nodes
	out := g.Outputs[0].Name
	if o.Loss == "crossentropy" && len(nodes) > 0 {
		if last := nodes[len(nodes)-1]; last.Op == model.OpSoftmax && last.Outputs[0] == out {
			if ax := last.Attrs.Int("axis", -1); ax != -1 && ax != len(g.Outputs[0].Shape)-1 {
				return nil, errors.New("engine: crossentropy needs the final Softmax over the last axis")
			}
			nodes, out = nodes[:len(nodes)-1], last.Inputs[0] // train on the logits
		}
	}
	shapes, err := model.InferShapes(g, o.Batch)
	if err != nil {
		return nil, err
	}
	if err := t.chooseParams(g, nodes, o.Trainable); err != nil {
		return nil, err
	}
	if err := t.restoreState(g); err != nil {
		return nil, err
	}
	// needs[v]: v depends on a trained parameter, so backward must reach it.
	needs := map[string]bool{}
	for _, n := range nodes {
		for _, in := range n.Inputs {
			if needs[in] || t.byName[in] != nil {
				needs[n.Outputs[0]] = true
			}
		}
	}
	uses := map[string]int{}
	for _, n := range nodes {
		for _, in := range n.Inputs {
			uses[in]++
		}
	}
	in := g.Inputs[0].Name
	t.input = make([]float32, model.NumElements(shapes[in]))
	t.act[in] = t.input
	for _, tn := range g.Tensors {
		if p := t.byName[tn.Name]; p != nil {
			t.act[tn.Name] = p.w
		} else {
			t.act[tn.Name] = tn.Data
		}
	}
	for _, n := range nodes {
		if len(n.Outputs) != 1 {
			return nil, nodeError(n, errors.New("the Trainer takes single-output nodes"))
		}
		o := n.Outputs[0]
		t.act[o] = make([]float32, model.NumElements(shapes[o]))
		if needs[o] {
			t.grad[o] = make([]float32, len(t.act[o]))
		}
	}
	// Inputs read by several nodes get their gradient summed: each reader
	// writes into a private buffer that is then added in.
	scratch := 0
	for _, n := range nodes {
		tn, s, err := t.bind(n, shapes, needs, uses)
		if err != nil {
			return nil, nodeError(n, err)
		}
		scratch = max(scratch, s)
		t.nodes = append(t.nodes, tn)
	}
	t.scratch = make([]float32, scratch)
	ls := shapes[out]
	t.logits = t.act[out]
	t.classes = ls[len(ls)-1]
	if o.Loss == "crossentropy" && len(t.logits) != o.Batch*t.classes {
		return nil, errors.New("engine: crossentropy needs an output of shape [batch, classes], got " + model.ShapeString(ls))
	}
	t.dlogits = t.grad[out]
	if t.dlogits == nil {
		return nil, errors.New("engine: no trained parameter reaches the output " + strconv.Quote(out))
	}
	return t, nil
}

// chooseParams makes the trainer's copies of the weight tensors that match
// the trainable prefixes (all constant inputs of Conv2D, Dense and the
// binary ops when prefixes is nil).
func (t *Trainer) chooseParams(g *model.Graph, nodes []*model.Node, prefixes []string) error {
	matched := make([]bool, len(prefixes))
	for _, n := range nodes {
		for i, in := range n.Inputs {
			tn := g.Tensor(in)
			if tn == nil || t.byName[in] != nil || tn.DType != model.Float32 {
				continue
			}
			if (n.Op == model.OpConv2D || n.Op == model.OpDense) && i == 0 || n.Op == model.OpBatchNorm && i >= 3 {
				continue // BatchNorm's statistics are not trained
			}
			ok := prefixes == nil
			for j, p := range prefixes {
				if strings.HasPrefix(in, p) {
					ok, matched[j] = true, true
				}
			}
			if !ok {
				continue
			}
			p := &param{name: in, w: append([]float32(nil), tn.Data...)}
			p.g = make([]float32, len(p.w))
			p.m = make([]float32, len(p.w))
			p.v = make([]float32, len(p.w))
			t.params = append(t.params, p)
			t.byName[in] = p
		}
	}
	for j, ok := range matched {
		if !ok {
			return errors.New("engine: trainable prefix " + strconv.Quote(prefixes[j]) + " matches no weight tensor")
		}
	}
	if len(t.params) == 0 {
		return errors.New("engine: the model has no trainable weights")
	}
	return nil
}

// Step runs one training step on a batch: x holds Batch examples (NHWC,
// concatenated) and labels Batch class indices (crossentropy) or targets the
// size of the output (mse). It returns the batch's mean loss before the
// update. A label out of range, a wrong length or a non-finite loss is an
// error, and then no weight has changed.
func (t *Trainer) Step(x []float32, labels []int32, targets []float32) (float64, error) {
	loss, err := t.lossAndGrad(x, labels, targets)
	if err != nil {
		return loss, err
	}
	t.apply()
	return loss, nil
}

// sync pushes the parameters into the forward kernels.
func (t *Trainer) sync() {
	for _, n := range t.nodes {
		if n.sync != nil {
			n.sync()
		}
	}
}

// lossAndGrad runs forward, the loss and backward: every trained
// parameter's gradient of the batch's mean loss ends in its param.g.
func (t *Trainer) lossAndGrad(x []float32, labels []int32, targets []float32) (float64, error) {
	if len(x) != len(t.input) {
		return 0, errors.New("engine: Step got " + strconv.Itoa(len(x)) + " input values, a batch of " +
			strconv.Itoa(t.opts.Batch) + " needs " + strconv.Itoa(len(t.input)))
	}
	copy(t.input, x)
	for _, n := range t.nodes {
		n.forward()
	}
	var loss float64
	var err error
	if t.opts.Loss == "crossentropy" {
		if len(labels) != t.opts.Batch {
			return 0, errors.New("engine: Step got " + strconv.Itoa(len(labels)) + " labels for a batch of " + strconv.Itoa(t.opts.Batch))
		}
		loss, err = kernels.SoftmaxCrossEntropy(t.logits, labels, t.opts.Batch, t.classes, t.dlogits)
		if err != nil {
			return 0, errors.New("engine: " + err.Error())
		}
	} else {
		if len(targets) != len(t.logits) {
			return 0, errors.New("engine: Step got " + strconv.Itoa(len(targets)) + " targets for " + strconv.Itoa(len(t.logits)) + " outputs")
		}
		loss = kernels.MSE(t.logits, targets, t.dlogits)
	}
	if loss != loss || loss > 1e30 || loss < -1e30 {
		return loss, errors.New("engine: the loss is not finite (" + strconv.FormatFloat(loss, 'g', 4, 64) + "); the step was not applied")
	}
	for _, p := range t.params {
		p.written = false
	}
	for _, z := range t.zero {
		clear(z)
	}
	for i := len(t.nodes) - 1; i >= 0; i-- {
		t.nodes[i].backward()
	}
	return loss, nil
}

// Graph returns the model with the trained weights: a copy of the graph the
// Trainer was built on (final Softmax included, optimiser state of a
// checkpoint left out) whose trained tensors hold the current values, with a
// metadata map of its own. A Session runs it; model.Encode saves it.
func (t *Trainer) Graph() *model.Graph {
	g := *t.src
	g.Tensors = nil
	for _, tn := range t.src.Tensors {
		if strings.HasPrefix(tn.Name, "optimizer/") {
			continue // optimiser state of the checkpoint it started from
		}
		c := *tn
		if p := t.byName[tn.Name]; p != nil {
			c.Data = append([]float32(nil), p.w...)
		} else if s, ok := t.state[tn.Name]; ok {
			c.Data = append([]float32(nil), s...)
		}
		g.Tensors = append(g.Tensors, &c)
	}
	g.Metadata = map[string]string{}
	for k, v := range t.src.Metadata {
		if k != stepKey && k != rngKey {
			g.Metadata[k] = v
		}
	}
	if len(g.Metadata) == 0 && t.src.Metadata == nil {
		g.Metadata = nil // encode as the source did
	}
	return &g
}

// stateName names the tensor that carries a parameter's optimiser state in a
// checkpoint ("m": momentum or Adam's first moment, "v": Adam's second).
func stateName(param, which string) string { return "optimizer/" + param + "/" + which }

// stepKey and rngKey are the metadata keys of the optimiser's step count and
// the Dropout generator's state in a checkpoint.
const (
	stepKey = "optimizer_step"
	rngKey  = "optimizer_rng"
)

// Checkpoint returns the trained model like Graph and, with state, also the
// optimiser's state: one tensor per parameter and moment (named
// optimizer/<param>/m and /v; a Session ignores them) and the step count in
// the metadata with the Dropout generator's state, so that a Trainer built
// on it continues exactly where this one stopped.
func (t *Trainer) Checkpoint(state bool) *model.Graph {
	g := t.Graph()
	if !state {
		return g
	}
	if g.Metadata == nil {
		g.Metadata = map[string]string{}
	}
	g.Metadata[stepKey] = strconv.Itoa(t.step)
	rs := t.rng.State()
	g.Metadata[rngKey] = strconv.FormatUint(uint64(rs[0]), 10) + " " + strconv.FormatUint(uint64(rs[1]), 10) + " " +
		strconv.FormatUint(uint64(rs[2]), 10) + " " + strconv.FormatUint(uint64(rs[3]), 10)
	for _, p := range t.params {
		for _, w := range []struct {
			which string
			data  []float32
		}{{"m", p.m}, {"v", p.v}} {
			g.Tensors = append(g.Tensors, &model.Tensor{Name: stateName(p.name, w.which), DType: model.Float32,
				Shape: []int{len(w.data)}, Data: append([]float32(nil), w.data...)})
		}
	}
	return g
}

// restoreState loads optimiser state a Checkpoint saved, if g carries it.
func (t *Trainer) restoreState(g *model.Graph) error {
	s, ok := g.Metadata[stepKey]
	if !ok {
		return nil
	}
	step, err := strconv.Atoi(s)
	if err != nil || step < 0 {
		return errors.New("engine: checkpoint metadata " + stepKey + " = " + strconv.Quote(s) + " is not a step count")
	}
	t.step = step
	if s, ok := g.Metadata[rngKey]; ok {
		var st [4]uint32
		f := strings.Fields(s)
		for i := range st {
			var v uint64
			if len(f) == 4 {
				v, err = strconv.ParseUint(f[i], 10, 32)
			}
			if len(f) != 4 || err != nil {
				return errors.New("engine: checkpoint metadata " + rngKey + " = " + strconv.Quote(s) + " is not a generator state")
			}
			st[i] = uint32(v)
		}
		if t.rng, ok = kernels.RNGFromState(st); !ok {
			return errors.New("engine: checkpoint metadata " + rngKey + " is the all-zero generator state")
		}
	}
	for _, p := range t.params {
		for _, w := range []struct {
			which string
			dst   []float32
		}{{"m", p.m}, {"v", p.v}} {
			tn := g.Tensor(stateName(p.name, w.which))
			if tn == nil {
				continue // a parameter trained now but frozen then starts fresh
			}
			if len(tn.Data) != len(w.dst) {
				return errors.New("engine: checkpoint tensor " + strconv.Quote(tn.Name) + " has " + strconv.Itoa(len(tn.Data)) +
					" values for a parameter of " + strconv.Itoa(len(w.dst)))
			}
			copy(w.dst, tn.Data)
		}
	}
	return nil
}

// Params lists the names of the trained tensors in graph order.
func (t *Trainer) Params() []string {
	names := make([]string, len(t.params))
	for i, p := range t.params {
		names[i] = p.name
	}
	return names
}
