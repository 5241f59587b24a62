// Package onnx imports ONNX models (opsets 7 to 21) into edgenn's graph IR.
//
// It reads the .onnx protobuf with its own small wire-format reader (no
// generated code), maps each node to IR ops, and folds constant chains
// (Shape/Gather/Slice/Concat/Cast arithmetic, Constant, weight transposes) at
// import. Four-dimensional NCHW activations become NHWC inside the graph:
// Conv weights are re-laid OIHW to HWIO once, axis attributes (Concat,
// Softmax, ReduceMean, Pad, Transpose) are permuted, and a Transpose (or a
// free Reshape, when the move does not reorder memory) is placed where an
// NCHW value meets an op that needs NHWC, or the reverse. The imported graph
// keeps the source model's interface: an NCHW input stays NCHW to the caller
// and outputs come back in the layout the original runtime returns.
//
// Importers run on the host only; nothing under wasm/ or engine/ imports
// this package.
package onnx

import (
	"errors"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/edgenn/edgenn/model"
)

// The ONNX operator-set versions (default domain) Import maps. Older models
// import too when every op they use is one whose old definition Import knows
// (the node is refused otherwise).
const (
	MinOpset = 7
	MaxOpset = 21
)

// Import reads an ONNX model (the bytes of a .onnx file) and returns it as an
// edgenn graph, with a report of what was mapped, what was folded at import
// and which nodes could not be taken. When any node cannot be mapped, the
// graph is nil and the error (the report's Err) lists every such node, not
// just the first. Malformed bytes give an error naming the place in the
// protobuf; Import never panics on bad input and checks every size against
// model's limits before allocating for it.
func Import(data []byte) (*model.Graph, *model.ImportReport, error) {
	rep := &model.ImportReport{Format: "onnx", Mapped: map[string]int{}}
	if len(data) > model.MaxFileBytes {
		return nil, rep, errors.New("onnx: file of " + strconv.Itoa(len(data)) + " bytes is larger than the limit " + strconv.Itoa(model.MaxFileBytes))
	}
	m, err := parseModel(data)
	if err != nil {
		return nil, rep, err
	}
	g, rep, err := convert(m, rep, nil, false)
	if err != nil && symbolicBatch(m.graph) {
		// Exporters often name the batch dimension yet fix it inside the
		// graph (a Reshape to [1, -1]): try again with the batch fixed at 1.
		rep1 := &model.ImportReport{Format: "onnx", Mapped: map[string]int{}}
		g, rep1, err = convert(m, rep1, nil, true)
		rep1.Notes = append(rep1.Notes, "the model's batch dimension is symbolic, but its graph does not keep it free; imported with batch 1")
		return g, rep1, err
	}
	return g, rep, err
}

// symbolicBatch reports whether a graph input has a symbolic first dimension.
func symbolicBatch(g *graphProto) bool {
	inits := map[string]bool{}
	for _, t := range g.initializers {
		inits[t.name] = true
	}
	for _, in := range g.inputs {
		if !inits[in.name] && len(in.dims) > 0 && in.dims[0] < 0 {
			return true
		}
	}
	return false
}

// convert maps a parsed model. bind, if not nil, turns the named graph inputs
// into constants (the conformance tests use it for inputs that the IR needs
// constant, such as weights); fixBatch makes a symbolic batch dimension 1.
func convert(m *modelProto, rep *model.ImportReport, bind map[string]*constant, fixBatch bool) (*model.Graph, *model.ImportReport, error) {
	im, err := newImporter(m, rep)
	if err != nil {
		return nil, rep, err
	}
	im.fixBatch = fixBatch
	for name, c := range bind {
		im.vals[name] = cv(c)
	}
	if err := im.inputs(); err != nil {
		return nil, rep, err
	}
	for _, n := range m.graph.nodes {
		im.mapNode(n)
	}
	if err := im.outputs(); err != nil {
		return nil, rep, err
	}
	if err := rep.Err(); err != nil {
		return nil, rep, err
	}
	if err := im.finish(); err != nil {
		return nil, rep, err
	}
	return im.g, rep, nil
}

type layout uint8

const (
	plainLayout layout = iota // the ONNX order
	nhwcLayout                // a rank-4 NCHW value stored as NHWC
	flatLayout                // a Flatten(axis 1) of an NCHW value, stored in H,W,C order
)

// value is what an ONNX value name stands for during import: a constant, or
// an IR value in some layout.
type value struct {
	c    *constant    // known at import
	init *tensorProto // an initializer not yet decoded
	err  error        // not available (its node was refused); the reason

	name  string // the IR value holding it
	shape []int  // the ONNX shape at batch 1
	lay   layout
	chw   [3]int // flatLayout: the C, H, W that were flattened
	batch batchInfo
	input bool // a graph input

	plainName, nhwcName string // conversions made so far
}

// batchInfo tracks the free batch dimension of a graph input through the
// graph, so that a Shape of a value can be folded with the batch kept free.
type batchInfo struct {
	dim int  // ONNX axis that equals the batch size, or -1
	mix bool // the batch size is mixed into some other dimension
}

var noBatch = batchInfo{dim: -1}

func (b batchInfo) free() bool { return b.dim >= 0 || b.mix }

type importer struct {
	m        *modelProto
	opset    int64
	rep      *model.ImportReport
	g        *model.Graph
	vals     map[string]*value
	eshape   map[string][]int // IR value -> shape at batch 1
	taken    map[string]bool  // IR names in use or reserved for graph outputs
	tensors  map[tensorKey]string
	bytes    int64
	relaid   map[string]int // op -> weight tensors re-laid
	notes    map[string]bool
	cur      *nodeProto
	budget   int64 // bytes that folding may still create
	fixBatch bool  // a symbolic batch dimension is 1
}

type tensorKey struct {
	c    *constant
	nhwc bool
}

func newImporter(m *modelProto, rep *model.ImportReport) (*importer, error) {
	opset, ok := m.opsets[""]
	if v, ok2 := m.opsets["ai.onnx"]; ok2 && !ok {
		opset, ok = v, true
	}
	if !ok {
		if len(m.opsets) == 0 && m.irVersion > 0 && m.irVersion < 3 {
			opset, ok = 1, true
		}
	}
	switch {
	case !ok:
		return nil, errors.New("onnx: model imports no version of the default operator set")
	case opset < 1 || opset > MaxOpset:
		return nil, errors.New("onnx: operator set version " + strconv.FormatInt(opset, 10) + " is outside the supported " + strconv.Itoa(MinOpset) + ".." + strconv.Itoa(MaxOpset))
	case opset < MinOpset:
		rep.Notes = append(rep.Notes, "operator set "+strconv.FormatInt(opset, 10)+" is older than "+strconv.Itoa(MinOpset)+"; its ops are read with their operator-set-"+strconv.FormatInt(opset, 10)+" meaning where Import knows it")
	}
	name := m.graph.name
	if name == "" {
		name = "onnx"
	}
	im := &importer{
		m: m, opset: opset, rep: rep,
		g:       &model.Graph{Name: name, Metadata: map[string]string{}},
		vals:    map[string]*value{},
		eshape:  map[string][]int{},
		taken:   map[string]bool{},
		tensors: map[tensorKey]string{},
		relaid:  map[string]int{},
		notes:   map[string]bool{},
		// Folding may make constants larger than the file (ConstantOfShape,
		// broadcasting, Gather): allow 64 MiB plus 16 times the file.
		budget: 64<<20 + 16*int64(m.size),
	}
	im.g.Metadata["source"] = "onnx"
	im.g.Metadata["onnx.opset"] = strconv.FormatInt(opset, 10)
	if m.producer != "" {
		im.g.Metadata["onnx.producer"] = m.producer
	}
	for _, kv := range m.metadata {
		if kv[0] != "" {
			im.g.Metadata["onnx."+kv[0]] = kv[1]
		}
	}
	for _, t := range m.graph.initializers {
		if t.name == "" {
			return nil, errors.New("onnx: an initializer has no name")
		}
		im.vals[t.name] = &value{init: t}
	}
	return im, nil
}

// legacyOpset is, for the ops Import can read in models older than opset 7,
// the oldest operator set whose definition it reads correctly: from there
// to 7 only legacy attributes were dropped, or the differences (the
// broadcast and axis attributes of Add/Sub/Mul/Div, PRelu's per-channel
// slope) are handled.
var legacyOpset = map[string]int64{
	"Conv": 1, "MaxPool": 1, "AveragePool": 1, "GlobalAveragePool": 1, "GlobalMaxPool": 1,
	"Relu": 1, "Sigmoid": 1, "Tanh": 1, "LeakyRelu": 1, "HardSigmoid": 1, "Softmax": 1,
	"Flatten": 1, "Transpose": 1, "Identity": 1, "Constant": 1, "MatMul": 1, "Squeeze": 1,
	"Unsqueeze": 1, "Shape": 1, "Gather": 1, "Slice": 1, "ReduceMean": 1, "Clip": 1, "Max": 1, "Min": 1,
	"BatchNormalization": 1, "Dropout": 1, "Pad": 2, "Concat": 4, "Reshape": 5,
	"Add": 1, "Sub": 1, "Mul": 1, "Div": 1, "Sum": 6, "Gemm": 6, "PRelu": 6, "Cast": 6,
}

// spend charges n elements of a constant about to be folded against the
// budget, so that a small file cannot make Import allocate without bound.
func (im *importer) spend(n int) error {
	if n > model.MaxTensorElements {
		return errors.New("a folded constant of " + strconv.Itoa(n) + " elements is more than the limit " + strconv.Itoa(model.MaxTensorElements))
	}
	if im.budget -= 8 * int64(n); im.budget < 0 {
		return errors.New("constants folded at import grow far beyond the model's size")
	}
	return nil
}

func (im *importer) note(s string) {
	if !im.notes[s] {
		im.notes[s] = true
		im.rep.Notes = append(im.rep.Notes, s)
	}
}

// fresh returns an unused IR name based on base and takes it.
func (im *importer) fresh(base string) string {
	if base == "" {
		base = "v"
	}
	name := base
	for i := 1; im.taken[name]; i++ {
		name = base + "_" + strconv.Itoa(i)
	}
	im.taken[name] = true
	return name
}

// inputs declares the graph inputs that are not initializers.
func (im *importer) inputs() error {
	for _, out := range im.m.graph.outputs {
		im.taken[out.name] = true // reserved: the final values take these names
	}
	for _, in := range im.m.graph.inputs {
		if in.name == "" {
			return errors.New("onnx: a graph input has no name")
		}
		if v := im.vals[in.name]; v != nil {
			if v.init == nil && v.c == nil {
				return errors.New("onnx: graph input " + strconv.Quote(in.name) + " is declared twice")
			}
			if im.m.irVersion >= 4 && v.init != nil {
				im.note("input " + strconv.Quote(in.name) + " has an initializer: imported as that constant, not as an input")
			}
			continue // an initializer listed as input (IR < 4) or a bound input: a constant
		}
		label := "input " + strconv.Quote(in.name)
		v := &value{}
		im.vals[in.name] = v
		shape, why := inputShape(in)
		if why != "" {
			v.err = errors.New(label + " " + why)
			im.rep.Refuse(in.name, "(graph input)", why)
			continue
		}
		if im.taken[in.name] && !isOutput(im.m.graph, in.name) {
			return errors.New("onnx: " + label + ": name already used")
		}
		im.taken[in.name] = true
		im.g.Inputs = append(im.g.Inputs, model.ValueInfo{Name: in.name, Shape: shape, DType: model.Float32})
		if im.fixBatch && len(shape) > 0 && shape[0] == -1 {
			shape[0] = 1
		}
		s := append([]int(nil), shape...)
		b := noBatch
		if len(s) > 0 && s[0] == -1 {
			s[0], b.dim = 1, 0
		}
		im.eshape[in.name] = s
		*v = value{name: in.name, shape: s, batch: b, input: true}
	}
	return nil
}

func isOutput(g *graphProto, name string) bool {
	for _, o := range g.outputs {
		if o.name == name {
			return true
		}
	}
	return false
}

// inputShape checks a graph input's type and returns its IR shape, or why it
// cannot be an input.
func inputShape(in *valueInfo) ([]int, string) {
	switch {
	case in.notTensor:
		return nil, "is not a tensor (sequences, maps and optionals are not supported)"
	case in.elemType != dtFloat:
		return nil, "has element type " + dtName(in.elemType) + "; the IR runs float32 inputs only"
	case !in.hasShape:
		return nil, "has no shape; edgenn needs fixed input sizes (the first may be a free batch)"
	case len(in.dims) > model.MaxRank:
		return nil, "has rank " + strconv.Itoa(len(in.dims)) + ", more than " + strconv.Itoa(model.MaxRank)
	}
	shape := make([]int, len(in.dims))
	total := 1
	for i, d := range in.dims {
		switch {
		case d < 0 && i == 0:
			shape[i] = -1
			continue
		case d < 0:
			p := in.params[i]
			if p == "" {
				p = "?"
			}
			return nil, "has a symbolic dimension " + strconv.Itoa(i) + " (" + strconv.Quote(p) + "); only the first may be free"
		case d == 0 || d > model.MaxDim:
			return nil, "has dimension " + strconv.Itoa(i) + " of size " + strconv.FormatInt(d, 10)
		}
		shape[i] = int(d)
		if total *= int(d); total > model.MaxTensorElements {
			return nil, "is too large"
		}
	}
	return shape, ""
}

// label names a node for reports and errors.
func label(n *nodeProto) string {
	if n.name != "" {
		return n.name
	}
	s := n.opType + "#" + strconv.Itoa(n.index)
	if len(n.outputs) > 0 && n.outputs[0] != "" {
		s += " (" + n.outputs[0] + ")"
	}
	return s
}

// mapNode maps one node, recording a refusal in the report when it cannot.
func (im *importer) mapNode(n *nodeProto) {
	im.cur = n
	op := n.opType
	if n.domain != "" && n.domain != "ai.onnx" {
		op = n.domain + "." + op
	}
	h := handlers[op]
	if v, ok := legacyOpset[op]; h != nil && im.opset < MinOpset && (!ok || v > im.opset) {
		why := "the operator-set-" + strconv.FormatInt(im.opset, 10) + " definition of this op is not supported (opsets " + strconv.Itoa(MinOpset) + ".." + strconv.Itoa(MaxOpset) + " are)"
		im.rep.Refuse(label(n), op, why)
		for _, o := range n.outputs {
			if o != "" {
				im.vals[o] = &value{err: upstream{label(n)}}
			}
		}
		return
	}
	for _, o := range n.outputs {
		if o != "" && im.vals[o] != nil {
			im.rep.Refuse(label(n), op, "output "+strconv.Quote(o)+" is already defined (a graph input, initializer or earlier node output)")
			return
		}
	}
	in := make([]*value, len(n.inputs))
	var inErr error
	for i, name := range n.inputs {
		if name == "" {
			continue
		}
		v, err := im.value(name)
		if err != nil {
			inErr = err
			break
		}
		in[i] = v
	}
	var outs []*value
	err := inErr
	switch {
	case h == nil:
		why := "no mapping for this op"
		if n.domain != "" && n.domain != "ai.onnx" {
			why = "operator domain " + strconv.Quote(n.domain) + " is not supported"
		}
		err = errors.New(why)
		im.rep.Refuse(label(n), op, why)
	case inErr != nil:
		// An input is missing because an earlier node was refused: that node
		// is in the report; this one may be fine.
		if _, bad := inErr.(upstream); !bad {
			im.rep.Refuse(label(n), op, inErr.Error())
		}
	default:
		outs, err = h(im, n, in)
		if err != nil {
			im.rep.Refuse(label(n), op, err.Error())
		}
	}
	if err != nil {
		up := upstream{label(n)}
		for _, o := range n.outputs {
			if o != "" {
				im.vals[o] = &value{err: up}
			}
		}
		return
	}
	allConst := true
	for i, o := range n.outputs {
		if o == "" {
			continue
		}
		if i >= len(outs) || outs[i] == nil {
			im.vals[o] = &value{err: errors.New("output " + strconv.Itoa(i) + " of " + op + " node " + strconv.Quote(label(n)) + " is not supported")}
			continue
		}
		if outs[i].c == nil {
			allConst = false
		}
		im.vals[o] = outs[i]
	}
	if allConst && op != "Identity" {
		im.rep.Folded = append(im.rep.Folded, op+" "+strconv.Quote(label(n)))
	} else {
		im.rep.Map(op)
	}
}

// upstream marks a value lost because the node that makes it was refused.
type upstream struct{ node string }

func (u upstream) Error() string { return "depends on refused node " + strconv.Quote(u.node) }

// value returns the value an ONNX name stands for.
func (im *importer) value(name string) (*value, error) {
	v := im.vals[name]
	if v == nil {
		return nil, errors.New("input " + strconv.Quote(name) + " is not defined before the node (nodes must be in topological order)")
	}
	if v.init != nil {
		c, err := constantOf(v.init)
		if err != nil {
			v.err = errors.New("initializer " + strconv.Quote(name) + ": " + err.Error())
		} else {
			v.c, v.shape, v.batch = c, c.shape, noBatch
		}
		v.init = nil
	}
	if v.err != nil {
		return nil, v.err
	}
	return v, nil
}

// ---- emitting IR nodes ----

// emit adds an IR node and returns its output's name and shape. Its shape
// comes from model's own inference, so the IR's rules are checked node by
// node.
func (im *importer) emit(op string, inputs []string, attrs model.Attrs, hint string) (string, []int, error) {
	name := im.fresh(hint)
	b := model.NewBuilder("infer")
	seen := map[string]bool{}
	for _, in := range inputs {
		if in == "" || seen[in] {
			continue
		}
		seen[in] = true
		b.Input(in, im.eshape[in])
	}
	if len(attrs) == 0 {
		attrs = nil
	}
	b.Node(op, inputs, attrs, name)
	if err := b.Err(); err != nil {
		return "", nil, errors.New(strings.TrimPrefix(err.Error(), `builder "infer": `))
	}
	shape := b.Shape(name)
	im.g.Nodes = append(im.g.Nodes, &model.Node{Op: op, Name: name, Inputs: append([]string(nil), inputs...), Outputs: []string{name}, Attrs: attrs})
	im.eshape[name] = shape
	return name, shape, nil
}

// out returns the hint for the IR node that makes ONNX output i.
func out(n *nodeProto, i int) string {
	if i < len(n.outputs) && n.outputs[i] != "" {
		return n.outputs[i]
	}
	return label(n)
}

// dyn makes a value for IR value name in layout lay; its ONNX shape follows
// from the IR shape.
func (im *importer) dyn(name string, lay layout, b batchInfo) *value {
	e := im.eshape[name]
	s := append([]int(nil), e...)
	if lay == nhwcLayout {
		s = []int{e[0], e[3], e[1], e[2]}
	}
	return &value{name: name, shape: s, lay: lay, batch: b}
}

// constTensor adds c as an IR float32 tensor (re-laid to NHWC when nhwc) and
// returns its name.
func (im *importer) constTensor(c *constant, nhwc bool, hint string) (string, error) {
	if name, ok := im.tensors[tensorKey{c, nhwc}]; ok {
		return name, nil
	}
	if !isFloat(c.dt) {
		return "", errors.New("a " + dtName(c.dt) + " constant cannot be a tensor of the IR (float32 only)")
	}
	if c.size() == 0 {
		return "", errors.New("a constant has no elements (shape " + model.ShapeString(c.shape) + ")")
	}
	if err := checkIRShape(c.shape); err != nil {
		return "", err
	}
	t := c
	if nhwc {
		t = nchwToNHWC(c)
	}
	im.bytes += int64(4 * t.size())
	if im.bytes > model.MaxTotalBytes {
		return "", errors.New("constants hold more than " + strconv.Itoa(model.MaxTotalBytes) + " bytes")
	}
	name := im.fresh(hint)
	im.g.Tensors = append(im.g.Tensors, &model.Tensor{Name: name, DType: model.Float32, Shape: append([]int(nil), t.shape...), Data: t.f})
	im.eshape[name] = t.shape
	im.tensors[tensorKey{c, nhwc}] = name
	return name, nil
}

// weights adds an IR tensor made at import (re-laid weights).
func (im *importer) weights(shape []int, data []float32, hint string) (string, error) {
	return im.constTensor(&constant{dt: dtFloat, shape: shape, f: data}, false, hint)
}

func checkIRShape(s []int) error {
	for _, d := range s {
		if d < 1 {
			return errors.New("shape " + model.ShapeString(s) + " has an empty dimension; the IR has no empty tensors")
		}
	}
	return nil
}

// Permutations between the ONNX NCHW order and the IR's NHWC.
var (
	toNHWC = []int{0, 2, 3, 1}
	toNCHW = []int{0, 3, 1, 2}
	// nhwcAxis[a] is where ONNX axis a of an NCHW value sits in NHWC.
	nhwcAxis = []int{0, 3, 1, 2}
)

// permIsReshape reports whether permuting a tensor of shape s by perm leaves
// its memory order unchanged (only size-1 axes move).
func permIsReshape(s, perm []int) bool {
	last := -1
	for _, p := range perm {
		if s[p] == 1 {
			continue
		}
		if p < last {
			return false
		}
		last = p
	}
	return true
}

func permute(s, perm []int) []int {
	out := make([]int, len(perm))
	for i, p := range perm {
		out[i] = s[p]
	}
	return out
}

// literal is an IR Reshape target for an ONNX shape: the free batch, where
// it is, becomes -1.
func literal(s []int, b batchInfo) []int {
	out := append([]int(nil), s...)
	if b.dim >= 0 && b.dim < len(out) {
		out[b.dim] = -1
	}
	return out
}

// reshape adds a Reshape of IR value src to the ONNX-order shape s.
func (im *importer) reshape(src string, s []int, b batchInfo, hint string) (string, error) {
	if b.mix {
		return "", errors.New("the free batch dimension is mixed into another dimension; export the model with a fixed batch size")
	}
	name, _, err := im.emit(model.OpReshape, []string{src}, model.Attrs{"shape": literal(s, b)}, hint)
	return name, err
}

// plain returns the IR name of v in ONNX order, adding a conversion the
// first time one is needed.
func (im *importer) plain(v *value) (string, error) {
	if v.c != nil {
		return im.constTensor(v.c, false, "const")
	}
	if v.lay == plainLayout {
		return v.name, nil
	}
	if v.plainName != "" {
		return v.plainName, nil
	}
	var name string
	var err error
	switch v.lay {
	case nhwcLayout:
		e := im.eshape[v.name]
		if permIsReshape(e, toNCHW) && !v.batch.mix {
			name, err = im.reshape(v.name, v.shape, v.batch, v.name+"/nchw")
		} else {
			name, _, err = im.emit(model.OpTranspose, []string{v.name}, model.Attrs{"perm": toNCHW}, v.name+"/nchw")
		}
	case flatLayout:
		c, h, w := v.chw[0], v.chw[1], v.chw[2]
		var r, t string
		if r, err = im.reshape(v.name, []int{v.shape[0], h, w, c}, v.batch, v.name+"/nhwc"); err != nil {
			return "", err
		}
		if t, _, err = im.emit(model.OpTranspose, []string{r}, model.Attrs{"perm": toNCHW}, v.name+"/nchw"); err != nil {
			return "", err
		}
		name, _, err = im.emit(model.OpFlatten, []string{t}, nil, v.name+"/flat")
	}
	if err != nil {
		return "", err
	}
	v.plainName = name
	return name, nil
}

// asNHWC returns the IR name of rank-4 v in NHWC order.
func (im *importer) asNHWC(v *value) (string, error) {
	if len(v.shape) != 4 {
		return "", errors.New("internal: NHWC of a rank-" + strconv.Itoa(len(v.shape)) + " value")
	}
	if v.c != nil {
		return im.constTensor(v.c, true, "const")
	}
	if v.lay == nhwcLayout {
		return v.name, nil
	}
	if v.nhwcName != "" {
		return v.nhwcName, nil
	}
	src, err := im.plain(v)
	if err != nil {
		return "", err
	}
	var name string
	if permIsReshape(v.shape, toNHWC) && !v.batch.mix {
		b := v.batch
		if b.dim >= 0 {
			b.dim = nhwcAxis[b.dim]
		}
		name, err = im.reshape(src, permute(v.shape, toNHWC), b, src+"/nhwc")
	} else {
		name, _, err = im.emit(model.OpTranspose, []string{src}, model.Attrs{"perm": toNHWC}, src+"/nhwc")
	}
	if err != nil {
		return "", err
	}
	if v.input {
		im.note("input " + strconv.Quote(v.name) + " stays NCHW for the caller; the graph moves it to NHWC inside")
	}
	v.nhwcName = name
	return name, nil
}

// ---- graph outputs and the final checks ----

func (im *importer) outputs() error {
	claimed := map[string]bool{}
	for _, o := range im.m.graph.outputs {
		v, err := im.value(o.name)
		if err != nil {
			if _, up := err.(upstream); up {
				continue // the refused node is in the report
			}
			if im.vals[o.name] == nil {
				return errors.New("onnx: graph output " + strconv.Quote(o.name) + " is not produced by any node")
			}
			im.rep.Refuse(o.name, "(graph output)", err.Error())
			continue
		}
		if v.c != nil && !isFloat(v.c.dt) {
			im.rep.Refuse(o.name, "(graph output)", "is a "+dtName(v.c.dt)+" constant; the IR returns float32 outputs only")
			continue
		}
		x, err := im.plain(v)
		if err != nil {
			im.rep.Refuse(o.name, "(graph output)", err.Error())
			continue
		}
		if v.lay != plainLayout && v.c == nil {
			im.note("output " + strconv.Quote(o.name) + " is moved back to the ONNX layout at the end of the graph")
		}
		switch {
		case x == o.name:
		case im.producer(x) != nil && !claimed[x] && !im.isGraphInput(x):
			im.rename(x, o.name)
			x = o.name
		default:
			zeros := make([]int, len(im.eshape[x]))
			b := model.NewBuilder("infer")
			b.Input(x, im.eshape[x])
			b.Node(model.OpReshape, []string{x}, model.Attrs{"shape": zeros}, o.name)
			if err := b.Err(); err != nil {
				return errors.New("onnx: output " + strconv.Quote(o.name) + ": " + err.Error())
			}
			im.g.Nodes = append(im.g.Nodes, &model.Node{Op: model.OpReshape, Name: o.name, Inputs: []string{x}, Outputs: []string{o.name}, Attrs: model.Attrs{"shape": zeros}})
			im.eshape[o.name] = im.eshape[x]
			x = o.name
		}
		claimed[x] = true
		im.g.Outputs = append(im.g.Outputs, model.ValueInfo{Name: o.name, DType: model.Float32})
	}
	if len(im.m.graph.outputs) == 0 {
		return errors.New("onnx: graph has no outputs")
	}
	return nil
}

func (im *importer) producer(name string) *model.Node {
	for _, n := range im.g.Nodes {
		if n.Outputs[0] == name {
			return n
		}
	}
	return nil
}

func (im *importer) isGraphInput(name string) bool {
	for _, in := range im.g.Inputs {
		if in.Name == name {
			return true
		}
	}
	return false
}

// rename gives IR value from (a node output) the name to.
func (im *importer) rename(from, to string) {
	for _, n := range im.g.Nodes {
		if n.Outputs[0] == from {
			n.Outputs[0] = to
			if n.Name == from {
				n.Name = to
			}
		}
		for i, in := range n.Inputs {
			if in == from {
				n.Inputs[i] = to
			}
		}
	}
	im.eshape[to] = im.eshape[from]
	for _, v := range im.vals {
		if v.name == from {
			v.name = to
		}
		if v.plainName == from {
			v.plainName = to
		}
		if v.nhwcName == from {
			v.nhwcName = to
		}
	}
}

// finish declares output shapes (with -1 for a free batch), records what was
// re-laid, and validates the graph.
func (im *importer) finish() error {
	g := im.g
	ops := make([]string, 0, len(im.relaid))
	for op := range im.relaid {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		im.rep.Folded = append(im.rep.Folded, "weights of "+strconv.Itoa(im.relaid[op])+" "+op+" re-laid at import")
	}
	if len(g.Metadata) == 0 {
		g.Metadata = nil
	}
	s1, err := model.InferShapes(g, 1)
	if err != nil {
		return errors.New("onnx: " + err.Error())
	}
	s2, err := model.InferShapes(g, 2)
	if err != nil && hasFreeBatch(g) {
		// The graph works at batch 1 only (fixed sizes in its reshapes):
		// fix the batch rather than refuse the model.
		for i := range g.Inputs {
			if len(g.Inputs[i].Shape) > 0 && g.Inputs[i].Shape[0] == -1 {
				g.Inputs[i].Shape[0] = 1
			}
		}
		im.note("the model's batch dimension is symbolic but its graph only works at batch 1; imported with batch 1")
		s2 = s1
	} else if err != nil {
		return errors.New("onnx: " + err.Error())
	}
	for i := range g.Outputs {
		a, c := s1[g.Outputs[i].Name], s2[g.Outputs[i].Name]
		shape := append([]int(nil), a...)
		for j := range a {
			if a[j] != c[j] {
				if j != 0 {
					shape = nil
					break
				}
				shape[0] = -1
			}
		}
		g.Outputs[i].Shape = shape
	}
	if err := g.Validate(); err != nil {
		return errors.New("onnx: " + err.Error())
	}
	return nil
}

func hasFreeBatch(g *model.Graph) bool {
	for _, in := range g.Inputs {
		if len(in.Shape) > 0 && in.Shape[0] == -1 {
			return true
		}
	}
	return false
}

var (
	posInf = float32(math.Inf(1))
	negInf = float32(math.Inf(-1))
)
