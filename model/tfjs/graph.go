package tfjs

import (
	"encoding/json"
	"errors"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/edgenn/edgenn/model"
)

// ImportGraphModel imports the TensorFlow.js graph model whose model.json is
// called modelJSON in fsys (its weight shards are read from beside it). The
// report says which TF ops were mapped, what was folded at import and what
// was lowered; when some nodes cannot be mapped the error lists every one of
// them (report.Unsupported holds them too) and the graph is nil. The report
// is nil only when model.json cannot be read at all.
func ImportGraphModel(fsys fs.FS, modelJSON string) (*model.Graph, *model.ImportReport, error) {
	mf, err := readModelFile(fsys, modelJSON)
	if err != nil {
		return nil, nil, err
	}
	return importGraph(fsys, modelJSON, mf)
}

// gval is a TF tensor during import: a run-time IR value or a constant.
type gval struct {
	name    string  // the TF tensor name
	ir      string  // the IR value, when computed at run time
	c       *tensor // the value, when known at import
	batched bool    // dimension 0 is the free batch dimension
	bad     bool    // depends on a node that could not be mapped
}

type graphImporter struct {
	e         *emitter
	report    *model.ImportReport
	weights   map[string]*tensor
	vals      map[string]*gval
	freeBatch bool     // some input has a free batch dimension
	inputs    []string // the IR inputs
	// foldBudget bounds the elements folding may create, so that a small
	// hostile file cannot make the importer allocate without limit:
	// constant chains of real models are about the size of their weights.
	foldBudget int
}

func importGraph(fsys fs.FS, name string, mf *modelFile) (*model.Graph, *model.ImportReport, error) {
	report := &model.ImportReport{Format: FormatGraph}
	var topo graphTopology
	if err := json.Unmarshal(mf.ModelTopology, &topo); err != nil {
		return nil, report, fileErr(name, "modelTopology: "+err.Error())
	}
	if len(topo.Node) == 0 {
		return nil, report, fileErr(name, "modelTopology has no nodes")
	}
	if len(topo.Node) > 4*model.MaxNodes {
		return nil, report, fileErr(name, strconv.Itoa(len(topo.Node))+" nodes, more than the importer takes")
	}
	if len(mf.ModelInitializer) > 0 && string(mf.ModelInitializer) != "null" && string(mf.ModelInitializer) != "{}" {
		report.Notes = append(report.Notes, "modelInitializer (hash-table set-up) ignored")
	}
	nodes := make(map[string]*nodeDef, len(topo.Node))
	for i := range topo.Node {
		n := &topo.Node[i]
		if n.Name == "" {
			return nil, report, fileErr(name, "node "+strconv.Itoa(i)+" ("+n.Op+") has no name")
		}
		if nodes[n.Name] != nil {
			return nil, report, fileErr(name, "node "+strconv.Quote(n.Name)+" is defined twice")
		}
		nodes[n.Name] = n
	}

	inputs, outputs, err := graphIO(mf, topo.Node, nodes)
	if err != nil {
		return nil, report, fileErr(name, err.Error())
	}
	order, err := topoOrder(outputs, nodes)
	if err != nil {
		return nil, report, fileErr(name, err.Error())
	}
	weights, notes, err := loadWeights(fsys, name, mf.WeightsManifest)
	if err != nil {
		return nil, report, err
	}
	report.Notes = append(report.Notes, notes...)

	gi := &graphImporter{
		e:          newEmitter(strings.TrimSuffix(path.Base(name), ".json"), report),
		report:     report,
		weights:    weights,
		vals:       map[string]*gval{},
		foldBudget: 1 << 20,
	}
	for _, w := range weights {
		gi.foldBudget += 2 * w.size()
	}
	metadata(gi.e.b, "graph", name, mf)
	// Inputs first, in signature order, so the graph takes them in that order.
	needed := map[string]bool{}
	for _, n := range order {
		needed[n.Name] = true
	}
	for _, in := range inputs {
		if !needed[in] {
			report.Notes = append(report.Notes, "input "+strconv.Quote(in)+" is not used by the outputs and was left out")
		}
		if needed[in] {
			if err := gi.placeholder(nodes[in], mf.Signature); err != nil {
				if r, ok := isRefusal(err); ok {
					report.Refuse(in, "Placeholder", r.why)
					gi.vals[in] = &gval{bad: true}
					continue
				}
				return nil, report, fileErr(name, err.Error())
			}
		}
	}
	for _, n := range order {
		if n.Op == "Placeholder" || n.Op == "PlaceholderWithDefault" {
			if gi.vals[n.Name] == nil {
				// Needed but not in the signature: an input all the same,
				// fed by name as TF.js does.
				if err := gi.placeholder(n, mf.Signature); err != nil {
					if r, ok := isRefusal(err); ok {
						report.Refuse(n.Name, n.Op, r.why)
						gi.vals[n.Name] = &gval{bad: true}
						continue
					}
					return nil, report, fileErr(name, err.Error())
				}
			}
			continue
		}
		if err := gi.importNode(n); err != nil {
			return nil, report, fileErr(name, "node "+strconv.Quote(n.Name)+" ("+n.Op+"): "+err.Error())
		}
	}
	if err := report.Err(); err != nil {
		return nil, report, err
	}
	var outs []output
	for _, o := range outputs {
		v := gi.vals[o]
		if v == nil {
			return nil, report, fileErr(name, "output "+strconv.Quote(o)+" is not an output of its node")
		}
		if v.ir == "" {
			return nil, report, fileErr(name, "output "+strconv.Quote(o)+" is a constant; edgenn outputs are computed values")
		}
		outs = append(outs, output{v.ir, o})
	}
	if len(gi.inputs) == 1 {
		if s := gi.e.shape(gi.inputs[0]); len(s) == 4 {
			gi.e.b.Metadata("input_size", strconv.Itoa(s[2])+"x"+strconv.Itoa(s[1])) // width x height
		}
	}
	gi.hints(outs)
	g, err := gi.e.finish(outs)
	if err != nil {
		return nil, report, fileErr(name, err.Error())
	}
	return g, report, nil
}

// graphIO returns the model's inputs (placeholder node names) and outputs
// (tensor keys), from the signature when there is one, else as TF.js finds
// them: placeholders, and nodes nothing consumes.
func graphIO(mf *modelFile, all []nodeDef, nodes map[string]*nodeDef) (inputs, outputs []string, err error) {
	var sig struct {
		Inputs  json.RawMessage `json:"inputs"`
		Outputs json.RawMessage `json:"outputs"`
	}
	if len(mf.Signature) > 0 {
		_ = json.Unmarshal(mf.Signature, &sig)
	}
	entries := func(raw json.RawMessage) ([]string, error) {
		if len(raw) == 0 {
			return nil, nil
		}
		var m map[string]struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, errors.New("signature: " + err.Error())
		}
		var out []string
		for _, k := range orderedKeys(raw) {
			t := m[k].Name
			if t == "" {
				t = k
			}
			if nodes[nodeOf(t)] == nil {
				return nil, errors.New("signature names " + strconv.Quote(t) + ", which no node defines")
			}
			out = append(out, valueKey(t))
		}
		return out, nil
	}
	if inputs, err = entries(sig.Inputs); err != nil {
		return nil, nil, err
	}
	if outputs, err = entries(sig.Outputs); err != nil {
		return nil, nil, err
	}
	for i, in := range inputs {
		inputs[i] = nodeOf(in)
	}
	if len(inputs) == 0 {
		for i := range all {
			if all[i].Op == "Placeholder" {
				inputs = append(inputs, all[i].Name)
			}
		}
	}
	if len(outputs) == 0 {
		consumed := map[string]bool{}
		for i := range all {
			for _, in := range all[i].Input {
				consumed[nodeOf(strings.TrimPrefix(in, "^"))] = true
			}
		}
		for i := range all {
			switch all[i].Op {
			case "Const", "NoOp", "Placeholder":
				continue
			}
			if !consumed[all[i].Name] {
				outputs = append(outputs, all[i].Name)
			}
		}
	}
	if len(outputs) == 0 {
		return nil, nil, errors.New("the graph has no outputs")
	}
	return inputs, outputs, nil
}

// topoOrder returns the nodes the outputs depend on (through data inputs), in
// an order where every node comes after its inputs.
func topoOrder(outputs []string, nodes map[string]*nodeDef) ([]*nodeDef, error) {
	const (
		unseen = iota
		open
		done
	)
	state := map[string]int{}
	var order []*nodeDef
	type frame struct {
		n    *nodeDef
		ins  []string
		next int
	}
	for _, o := range outputs {
		root := nodes[nodeOf(o)]
		if root == nil {
			return nil, errors.New("output " + strconv.Quote(o) + " names no node")
		}
		if state[root.Name] != unseen {
			continue
		}
		stack := []frame{{n: root, ins: root.dataInputs()}}
		state[root.Name] = open
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next == len(f.ins) {
				state[f.n.Name] = done
				order = append(order, f.n)
				stack = stack[:len(stack)-1]
				continue
			}
			in := nodeOf(f.ins[f.next])
			f.next++
			m := nodes[in]
			if m == nil {
				return nil, errors.New("node " + strconv.Quote(f.n.Name) + " (" + f.n.Op + "): input " + strconv.Quote(in) + " names no node")
			}
			switch state[in] {
			case open:
				return nil, errors.New("node " + strconv.Quote(in) + " (" + m.Op + ") is in a cycle")
			case unseen:
				state[in] = open
				stack = append(stack, frame{n: m, ins: m.dataInputs()})
			}
		}
	}
	return order, nil
}

// placeholder declares a graph input from a Placeholder node (its shape
// attribute, else the signature's).
func (gi *graphImporter) placeholder(n *nodeDef, sig json.RawMessage) error {
	if n == nil {
		return errors.New("signature input names no node")
	}
	if n.Op != "Placeholder" && n.Op != "PlaceholderWithDefault" {
		return errors.New("input " + strconv.Quote(n.Name) + " is a " + n.Op + ", not a Placeholder")
	}
	if dt := n.dtype("dtype"); dt != "" && dt != "DT_FLOAT" {
		return refuse("input of type " + dt + "; edgenn inputs are float32")
	}
	var sp *shapeProto
	if a, ok := n.Attr["shape"]; ok && a.Shape != nil {
		sp = a.Shape
	}
	if sp == nil || sp.UnknownRank {
		sp = signatureShape(sig, n.Name)
	}
	if sp == nil || sp.UnknownRank {
		return errors.New("input " + strconv.Quote(n.Name) + " has no known shape")
	}
	if len(sp.Dim) > model.MaxRank {
		return errors.New("input " + strconv.Quote(n.Name) + " has rank " + strconv.Itoa(len(sp.Dim)))
	}
	shape := make([]int, len(sp.Dim))
	for i, d := range sp.Dim {
		switch {
		case d.Size == -1 && i == 0:
			shape[i] = -1
			gi.freeBatch = true
		case d.Size < 1 || d.Size > model.MaxDim:
			return refuse("input " + strconv.Quote(n.Name) + " has dimension " + strconv.Itoa(i) + " = " +
				strconv.FormatInt(int64(d.Size), 10) + "; edgenn needs every dimension but the batch fixed")
		default:
			shape[i] = int(d.Size)
		}
	}
	ir := gi.e.input(n.Name, shape)
	if err := gi.e.err(); err != nil {
		return err
	}
	gi.vals[n.Name] = &gval{ir: ir, batched: len(shape) > 0 && shape[0] == -1}
	gi.inputs = append(gi.inputs, ir)
	gi.report.Map("Placeholder")
	return nil
}

func signatureShape(sig json.RawMessage, node string) *shapeProto {
	var s struct {
		Inputs map[string]struct {
			Name        string      `json:"name"`
			TensorShape *shapeProto `json:"tensorShape"`
		} `json:"inputs"`
	}
	if json.Unmarshal(sig, &s) != nil {
		return nil
	}
	for k, v := range s.Inputs {
		if nodeOf(k) == node || nodeOf(v.Name) == node {
			return v.TensorShape
		}
	}
	return nil
}

// importNode maps one node: folds it when its inputs are constants, else
// emits IR nodes. A refusal is recorded and the node's outputs are marked
// bad, so that its consumers are skipped without being reported.
func (gi *graphImporter) importNode(n *nodeDef) error {
	keys := n.dataInputs()
	in := make([]*gval, len(keys))
	bad := false
	for i, k := range keys {
		v := gi.vals[k]
		if v == nil {
			gi.report.Refuse(n.Name, n.Op, "input "+strconv.Quote(k)+" is an output its producer does not have")
			gi.markBad(n)
			return nil
		}
		in[i] = v
		bad = bad || v.bad
	}
	if bad {
		// Not mapped, since an input is missing; still listed when the op
		// itself has no mapping, so that the report is complete.
		if !graphOps[n.Op] {
			gi.report.Refuse(n.Name, n.Op, "no mapping to edgenn ops")
		}
		gi.markBad(n)
		return nil
	}
	outs, folded, err := gi.mapNode(n, in)
	if err == nil {
		err = gi.e.err()
	}
	if err != nil {
		if r, ok := isRefusal(err); ok {
			gi.report.Refuse(n.Name, n.Op, r.why)
			gi.markBad(n)
			return nil
		}
		return err
	}
	for k, v := range outs {
		key := n.Name
		if k > 0 {
			key += ":" + strconv.Itoa(k)
		}
		if v.name == "" {
			v.name = key
		}
		gi.vals[key] = v
	}
	if folded {
		gi.report.Folded = append(gi.report.Folded, n.Op+" "+strconv.Quote(n.Name))
	} else {
		gi.report.Map(n.Op)
	}
	return nil
}

func (gi *graphImporter) markBad(n *nodeDef) {
	gi.vals[n.Name] = &gval{bad: true}
	for k := 1; k < 8; k++ {
		gi.vals[n.Name+":"+strconv.Itoa(k)] = &gval{bad: true}
	}
}

// hints records what the graph shows about its outputs for post-processing:
// an output reshaped from an NHWC map [1,H,W,C] into [1, H*W*k, C/k] is a
// grid of anchors (detectors such as BlazeFace), k per cell.
func (gi *graphImporter) hints(outs []output) {
	var inH, inW int
	if len(gi.inputs) == 1 {
		if s := gi.e.shape(gi.inputs[0]); len(s) == 4 {
			inH, inW = s[1], s[2]
		}
	}
	for _, o := range outs {
		p := gi.e.prod[o.v]
		if p == nil || p.Op != model.OpReshape {
			continue
		}
		src, dst := gi.e.shape(p.Inputs[0]), gi.e.shape(o.v)
		if len(src) != 4 || len(dst) != 3 || src[0] != 1 || dst[0] != 1 {
			continue
		}
		cells := src[1] * src[2]
		if dst[1]%cells != 0 || dst[1]*dst[2] != cells*src[3] {
			continue
		}
		h := strconv.Itoa(src[1]) + "x" + strconv.Itoa(src[2]) + " cells, " + strconv.Itoa(dst[1]/cells) + " per cell, " + strconv.Itoa(dst[2]) + " values each"
		if inH > 0 && inH%src[1] == 0 && inW%src[2] == 0 {
			h += ", stride " + strconv.Itoa(inH/src[1]) + "x" + strconv.Itoa(inW/src[2])
		}
		gi.e.b.Metadata("grid."+o.name, h)
	}
}
