package tfjs

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/edgenn/edgenn/model"
)

// ImportLayersModel imports the TensorFlow.js layers model (a Keras
// Sequential or functional model, as tfjs-layers saves it or the converter
// writes it from Keras) whose model.json is called modelJSON in fsys. Each
// layer becomes the IR nodes that compute what TF.js computes for it; the
// report and the error behave as ImportGraphModel's.
func ImportLayersModel(fsys fs.FS, modelJSON string) (*model.Graph, *model.ImportReport, error) {
	mf, err := readModelFile(fsys, modelJSON)
	if err != nil {
		return nil, nil, err
	}
	return importLayers(fsys, modelJSON, mf)
}

// kerasModel is a model config: {class_name, config}.
type kerasModel struct {
	ClassName string          `json:"class_name"`
	Config    json.RawMessage `json:"config"`
}

type kerasLayer struct {
	ClassName    string          `json:"class_name"`
	Name         string          `json:"name"`
	Config       json.RawMessage `json:"config"`
	InboundNodes json.RawMessage `json:"inbound_nodes"`
}

// layerConfig holds every config field the mapped layers read.
type layerConfig struct {
	Name            string          `json:"name"`
	BatchInputShape []*int          `json:"batch_input_shape"`
	BatchShape      []*int          `json:"batch_shape"`
	Filters         int             `json:"filters"`
	KernelSize      json.RawMessage `json:"kernel_size"`
	Strides         json.RawMessage `json:"strides"`
	Padding         json.RawMessage `json:"padding"`
	DataFormat      string          `json:"data_format"`
	DilationRate    json.RawMessage `json:"dilation_rate"`
	Activation      json.RawMessage `json:"activation"`
	UseBias         *bool           `json:"use_bias"`
	Groups          int             `json:"groups"`
	Units           int             `json:"units"`
	Axis            json.RawMessage `json:"axis"`
	Epsilon         *float64        `json:"epsilon"`
	Momentum        *float64        `json:"momentum"`
	Center          *bool           `json:"center"`
	Scale           *bool           `json:"scale"`
	MaxValue        *float64        `json:"max_value"`
	NegativeSlope   *float64        `json:"negative_slope"`
	Threshold       *float64        `json:"threshold"`
	Alpha           *float64        `json:"alpha"`
	PoolSize        json.RawMessage `json:"pool_size"`
	Keepdims        bool            `json:"keepdims"`
	TargetShape     []int           `json:"target_shape"`
	Rate            float64         `json:"rate"`
	Dims            []int           `json:"dims"`
	Size            json.RawMessage `json:"size"`
	Interpolation   string          `json:"interpolation"`
}

type layersImporter struct {
	e       *emitter
	report  *model.ImportReport
	weights map[string]*tensor
}

func importLayers(fsys fs.FS, name string, mf *modelFile) (*model.Graph, *model.ImportReport, error) {
	report := &model.ImportReport{Format: FormatLayers}
	var top struct {
		ModelConfig *kerasModel `json:"model_config"`
		kerasModel
	}
	if err := json.Unmarshal(mf.ModelTopology, &top); err != nil {
		return nil, report, fileErr(name, "modelTopology: "+err.Error())
	}
	km := &top.kerasModel
	if top.ModelConfig != nil {
		km = top.ModelConfig
	}
	weights, notes, err := loadWeights(fsys, name, mf.WeightsManifest)
	if err != nil {
		return nil, report, err
	}
	report.Notes = append(report.Notes, notes...)
	li := &layersImporter{
		e:       newEmitter(strings.TrimSuffix(path.Base(name), ".json"), report),
		report:  report,
		weights: weights,
	}
	metadata(li.e.b, "layers", name, mf)
	var outs []output
	switch km.ClassName {
	case "Sequential":
		outs, err = li.sequential(km.Config)
	case "Model", "Functional":
		outs, err = li.functional(km.Config)
	default:
		err = errors.New("model class " + strconv.Quote(km.ClassName) + " (want Sequential, Model or Functional)")
	}
	if err != nil {
		return nil, report, fileErr(name, err.Error())
	}
	if err := report.Err(); err != nil {
		return nil, report, err
	}
	g, err := li.e.finish(outs)
	if err != nil {
		return nil, report, fileErr(name, err.Error())
	}
	return g, report, nil
}

// inputShape turns a Keras batch shape ([null, 28, 28, 1]) into an IR input
// shape with a free batch dimension.
func inputShape(cfg *layerConfig) ([]int, error) {
	s := cfg.BatchInputShape
	if s == nil {
		s = cfg.BatchShape
	}
	if s == nil {
		return nil, errors.New("layer " + strconv.Quote(cfg.Name) + " has no batch_input_shape")
	}
	if len(s) > model.MaxRank {
		return nil, errors.New("layer " + strconv.Quote(cfg.Name) + ": input rank " + strconv.Itoa(len(s)))
	}
	out := make([]int, len(s))
	for i, d := range s {
		switch {
		case d == nil && i == 0:
			out[i] = -1
		case d == nil || *d < 1 || *d > model.MaxDim:
			return nil, errors.New("layer " + strconv.Quote(cfg.Name) + ": input dimension " + strconv.Itoa(i) + " is not a fixed size; edgenn needs every dimension but the batch fixed")
		default:
			out[i] = *d
		}
	}
	return out, nil
}

func (li *layersImporter) sequential(raw json.RawMessage) ([]output, error) {
	var layers []kerasLayer
	if err := json.Unmarshal(raw, &layers); err != nil {
		var c struct {
			Layers []kerasLayer `json:"layers"`
		}
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, errors.New("Sequential config: " + err.Error())
		}
		layers = c.Layers
	}
	if len(layers) == 0 {
		return nil, errors.New("Sequential model has no layers")
	}
	cfgs := make([]*layerConfig, len(layers))
	for i := range layers {
		var err error
		if cfgs[i], err = parseLayer(&layers[i]); err != nil {
			return nil, err
		}
	}
	shape, err := inputShape(cfgs[0])
	if err != nil {
		return nil, err
	}
	inName := cfgs[0].Name + "_input" // as tfjs-layers and Keras name it
	if layers[0].ClassName == "InputLayer" {
		inName = cfgs[0].Name
		layers, cfgs = layers[1:], cfgs[1:]
		if len(layers) == 0 {
			return nil, errors.New("Sequential model has no layers besides its input")
		}
	}
	x := li.e.input(inName, shape)
	if err := li.e.err(); err != nil {
		return nil, err
	}
	li.report.Map("InputLayer")
	bad := false
	for i := range layers {
		y, err := li.layer(&layers[i], cfgs[i], []string{x})
		if err != nil {
			return nil, err
		}
		if y == "" {
			bad = true
			break // the rest depends on a layer that could not be mapped
		}
		x = y
	}
	if bad {
		// Report the remaining layers' classes too, so the list is complete.
		for i := range layers {
			if !li.mappable(layers[i].ClassName) && !li.refused(cfgs[i].Name) {
				li.report.Refuse(cfgs[i].Name, layers[i].ClassName, "no mapping to edgenn ops")
			}
		}
		return nil, nil
	}
	return []output{{x, cfgs[len(cfgs)-1].Name}}, nil
}

func (li *layersImporter) refused(name string) bool {
	for _, u := range li.report.Unsupported {
		if u.Node == name {
			return true
		}
	}
	return false
}

// tensorRef is one (layer, node index, tensor index) reference.
type tensorRef struct {
	layer       string
	node, index int
}

func (r tensorRef) key() string {
	return r.layer + "#" + strconv.Itoa(r.node) + "#" + strconv.Itoa(r.index)
}

// parseRefs reads Keras 2 inbound nodes ([[["conv", 0, 0, {}], ...], ...])
// or Keras 3 ones ([{"args": [...keras_history...]}]): one list of input
// references per call of the layer.
func parseRefs(raw json.RawMessage) ([][]tensorRef, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var calls []json.RawMessage
	if err := json.Unmarshal(raw, &calls); err != nil {
		return nil, errors.New("inbound_nodes: " + err.Error())
	}
	out := make([][]tensorRef, len(calls))
	for i, c := range calls {
		refs, err := findRefs(c, 0)
		if err != nil {
			return nil, err
		}
		out[i] = refs
	}
	return out, nil
}

// findRefs collects [layer, node, tensor(, kwargs)] triples and Keras 3
// keras_history entries anywhere in v, in order.
func findRefs(v json.RawMessage, depth int) ([]tensorRef, error) {
	if depth > 16 {
		return nil, errors.New("inbound_nodes nested too deeply")
	}
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return nil, nil
	}
	switch v[0] {
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return nil, errors.New("inbound_nodes: " + err.Error())
		}
		if len(items) >= 3 {
			var l string
			var n, t int
			if json.Unmarshal(items[0], &l) == nil && json.Unmarshal(items[1], &n) == nil && json.Unmarshal(items[2], &t) == nil {
				return []tensorRef{{l, n, t}}, nil
			}
		}
		var out []tensorRef
		for _, it := range items {
			r, err := findRefs(it, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, r...)
		}
		return out, nil
	case '{':
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(v, &obj); err != nil {
			return nil, errors.New("inbound_nodes: " + err.Error())
		}
		if h, ok := obj["keras_history"]; ok {
			return findRefs(h, depth+1)
		}
		var out []tensorRef
		for _, k := range []string{"args", "config"} {
			if x, ok := obj[k]; ok {
				r, err := findRefs(x, depth+1)
				if err != nil {
					return nil, err
				}
				out = append(out, r...)
			}
		}
		return out, nil
	}
	return nil, nil
}

func (li *layersImporter) functional(raw json.RawMessage) ([]output, error) {
	var c struct {
		Layers       []kerasLayer    `json:"layers"`
		InputLayers  json.RawMessage `json:"input_layers"`
		OutputLayers json.RawMessage `json:"output_layers"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, errors.New("model config: " + err.Error())
	}
	ins, err := findRefs(c.InputLayers, 0)
	if err != nil {
		return nil, err
	}
	outRefs, err := findRefs(c.OutputLayers, 0)
	if err != nil {
		return nil, err
	}
	if len(ins) == 0 || len(outRefs) == 0 {
		return nil, errors.New("model config names no input_layers or output_layers")
	}
	byName := map[string]int{}
	cfgs := make([]*layerConfig, len(c.Layers))
	calls := make([][][]tensorRef, len(c.Layers))
	for i := range c.Layers {
		l := &c.Layers[i]
		if cfgs[i], err = parseLayer(l); err != nil {
			return nil, err
		}
		if _, dup := byName[cfgs[i].Name]; dup {
			return nil, errors.New("layer " + strconv.Quote(cfgs[i].Name) + " is defined twice")
		}
		byName[cfgs[i].Name] = i
		if calls[i], err = parseRefs(l.InboundNodes); err != nil {
			return nil, errors.New("layer " + strconv.Quote(cfgs[i].Name) + ": " + err.Error())
		}
	}
	vals := map[string]string{} // tensor key -> IR value ("" when bad)
	for _, r := range ins {
		i, ok := byName[r.layer]
		if !ok || c.Layers[i].ClassName != "InputLayer" {
			return nil, errors.New("input_layers names " + strconv.Quote(r.layer) + ", which is not an InputLayer")
		}
		shape, err := inputShape(cfgs[i])
		if err != nil {
			return nil, err
		}
		vals[r.key()] = li.e.input(r.layer, shape)
		if err := li.e.err(); err != nil {
			return nil, err
		}
		li.report.Map("InputLayer")
	}
	// Run each call of each layer once all its inputs exist: Kahn's
	// algorithm over the calls, so the layers may come in any order.
	type call struct {
		layer, k int
		refs     []tensorRef
	}
	var all []call
	var missing, ready []int
	waiting := map[string][]int{} // tensor key -> the calls waiting for it
	for i := range c.Layers {
		if c.Layers[i].ClassName == "InputLayer" {
			continue
		}
		for k, refs := range calls[i] {
			id := len(all)
			all = append(all, call{i, k, refs})
			m := 0
			seen := map[string]bool{}
			for _, r := range refs {
				key := r.key()
				if _, ok := vals[key]; ok || seen[key] {
					continue
				}
				seen[key] = true
				waiting[key] = append(waiting[key], id)
				m++
			}
			missing = append(missing, m)
			if m == 0 {
				ready = append(ready, id)
			}
		}
	}
	for len(ready) > 0 {
		cl := all[ready[0]]
		ready = ready[1:]
		l, cfg := &c.Layers[cl.layer], cfgs[cl.layer]
		args := make([]string, len(cl.refs))
		bad := false
		for j, r := range cl.refs {
			args[j] = vals[r.key()]
			bad = bad || args[j] == ""
		}
		var y string
		if bad {
			if !li.mappable(l.ClassName) && !li.refused(cfg.Name) {
				li.report.Refuse(cfg.Name, l.ClassName, "no mapping to edgenn ops")
			}
		} else {
			var err error
			if y, err = li.layer(l, cfg, args); err != nil {
				return nil, err
			}
		}
		key := tensorRef{cfg.Name, cl.k, 0}.key()
		vals[key] = y
		for _, w := range waiting[key] {
			if missing[w]--; missing[w] == 0 {
				ready = append(ready, w)
			}
		}
		delete(waiting, key)
	}
	for id, m := range missing {
		if m > 0 {
			return nil, errors.New("layer " + strconv.Quote(cfgs[all[id].layer].Name) + " call " + strconv.Itoa(all[id].k) + ": an input is never computed (cycle or unknown layer)")
		}
	}
	var outs []output
	for _, r := range outRefs {
		v, ok := vals[r.key()]
		if !ok {
			return nil, errors.New("output_layers names " + strconv.Quote(r.layer) + ", which is never computed")
		}
		if v == "" {
			continue
		}
		outs = append(outs, output{v, r.layer})
	}
	return outs, nil
}

func parseLayer(l *kerasLayer) (*layerConfig, error) {
	cfg := &layerConfig{}
	if len(l.Config) > 0 {
		if err := json.Unmarshal(l.Config, cfg); err != nil {
			return nil, errors.New("layer " + strconv.Quote(l.Name) + " (" + l.ClassName + "): config: " + err.Error())
		}
	}
	if cfg.Name == "" {
		cfg.Name = l.Name
	}
	if cfg.Name == "" {
		return nil, errors.New("a " + l.ClassName + " layer has no name")
	}
	return cfg, nil
}

// mappable lists the layer classes layer maps (some configurations of them
// may still be refused).
func (li *layersImporter) mappable(class string) bool {
	switch class {
	case "InputLayer", "Conv2D", "Convolution2D", "DepthwiseConv2D", "SeparableConv2D", "SeparableConvolution2D",
		"Dense", "BatchNormalization", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
		"ZeroPadding2D", "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D",
		"GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPooling2D", "GlobalMaxPool2D",
		"Add", "Subtract", "Multiply", "Average", "Concatenate", "Flatten", "Reshape", "Permute",
		"Dropout", "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout", "UpSampling2D":
		return true
	}
	return false
}

// layer maps one call of a layer on the IR values args and returns its
// output, or "" when the layer was refused (recorded in the report).
func (li *layersImporter) layer(l *kerasLayer, cfg *layerConfig, args []string) (string, error) {
	y, err := li.mapLayer(l.ClassName, cfg, args)
	if err == nil {
		err = li.e.err()
	}
	if err != nil {
		if r, ok := isRefusal(err); ok {
			li.report.Refuse(cfg.Name, l.ClassName, r.why)
			return "", nil
		}
		return "", errors.New("layer " + strconv.Quote(cfg.Name) + " (" + l.ClassName + "): " + err.Error())
	}
	li.report.Map(l.ClassName)
	return y, nil
}

// weight returns the weight w of layer (for instance "conv1/kernel"), also
// found under a name scope ("model/conv1/kernel") or with a ":0" suffix.
func (li *layersImporter) weight(layer, w string) (*tensor, error) {
	full := layer + "/" + w
	if t := li.weights[full]; t != nil {
		return t, nil
	}
	if t := li.weights[full+":0"]; t != nil {
		return t, nil
	}
	var found *tensor
	n := 0
	for k, t := range li.weights {
		k = strings.TrimSuffix(k, ":0")
		if strings.HasSuffix(k, "/"+full) {
			found = t
			n++
		}
	}
	if n == 1 {
		return found, nil
	}
	return nil, errors.New("weight " + strconv.Quote(full) + " is not in the weights manifest")
}

// weightOf fetches a weight and checks its shape.
func (li *layersImporter) weightOf(layer, w string, shape []int) (*tensor, error) {
	t, err := li.weight(layer, w)
	if err != nil {
		return nil, err
	}
	if t.isInt || model.ShapeString(t.shape) != model.ShapeString(shape) {
		return nil, errors.New("weight " + strconv.Quote(layer+"/"+w) + " has shape " + model.ShapeString(t.shape) + ", want " + model.ShapeString(shape))
	}
	return t, nil
}

func (li *layersImporter) tensorName(t *tensor, layer, w string, shape []int) (string, error) {
	return li.e.constant(t, layer+"/"+w, shape)
}

// pair reads an int-or-pair config value (kernel_size, strides...).
func pair(raw json.RawMessage, def int, what string) ([2]int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return [2]int{def, def}, nil
	}
	var n int
	if json.Unmarshal(raw, &n) == nil {
		raw = json.RawMessage("[" + strconv.Itoa(n) + "," + strconv.Itoa(n) + "]")
	}
	var p []int
	if err := json.Unmarshal(raw, &p); err != nil || len(p) != 2 || p[0] < 1 || p[1] < 1 || p[0] > model.MaxDim || p[1] > model.MaxDim {
		return [2]int{}, refuse("bad " + what + " " + quoteShort(string(raw)))
	}
	return [2]int{p[0], p[1]}, nil
}

// activationName reads a Keras activation: a string, or Keras 3's
// {"class_name": "function", "config": "relu"}.
func activationName(raw json.RawMessage) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		var o struct {
			Config json.RawMessage `json:"config"`
		}
		if json.Unmarshal(raw, &o) != nil || json.Unmarshal(o.Config, &s) != nil {
			return "", refuse("activation " + quoteShort(string(raw)))
		}
	}
	switch strings.ToLower(strings.ReplaceAll(s, "_", "")) {
	case "linear", "":
		return "", nil
	case "relu":
		return "relu", nil
	case "relu6":
		return "relu6", nil
	case "sigmoid":
		return "sigmoid", nil
	case "tanh":
		return "tanh", nil
	case "softmax":
		return "softmax", nil
	case "elu":
		return "elu", nil
	case "hardsigmoid":
		return "hardsigmoid", nil
	case "swish", "silu":
		return "swish", nil
	}
	return "", refuse("activation " + strconv.Quote(s) + " has no exact lowering to edgenn ops")
}

func convPadding(raw json.RawMessage, a model.Attrs) error {
	var p string
	if len(raw) > 0 && json.Unmarshal(raw, &p) != nil {
		return refuse("bad padding " + quoteShort(string(raw)))
	}
	switch p {
	case "", "valid":
	case "same":
		a["padding"] = "SAME"
	default:
		return refuse("padding " + strconv.Quote(p))
	}
	return nil
}

func channelsLast(cfg *layerConfig) error {
	if cfg.DataFormat != "" && cfg.DataFormat != "channels_last" {
		return refuse("data_format " + cfg.DataFormat + " (only channels_last)")
	}
	return nil
}

func (li *layersImporter) mapLayer(class string, cfg *layerConfig, args []string) (string, error) {
	e := li.e
	name := cfg.Name
	if len(args) == 0 {
		return "", refuse("no input")
	}
	x := args[0]
	xs := e.shape(x)
	switch class {
	case "Conv2D", "Convolution2D", "DepthwiseConv2D", "SeparableConv2D", "SeparableConvolution2D":
		return li.conv(class, cfg, x, xs)
	case "Dense":
		return li.dense(cfg, x, xs)
	case "BatchNormalization":
		return li.batchNorm(cfg, x, xs)
	case "Activation":
		act, err := activationName(cfg.Activation)
		if err != nil {
			return "", err
		}
		return li.activate(x, act, name)
	case "ReLU":
		if cfg.Threshold != nil && *cfg.Threshold != 0 || cfg.NegativeSlope != nil && *cfg.NegativeSlope != 0 {
			return "", refuse("threshold and negative_slope (Keras applies them, TF.js ignores them)")
		}
		switch {
		case cfg.MaxValue == nil:
			return e.node(model.OpRelu, []string{x}, nil, name), nil
		case *cfg.MaxValue == 6:
			return e.node(model.OpRelu6, []string{x}, nil, name), nil
		}
		return e.node(model.OpClip, []string{x}, model.Attrs{"min": float32(0), "max": float32(*cfg.MaxValue)}, name), nil
	case "LeakyReLU":
		alpha := float32(0.3)
		if cfg.Alpha != nil {
			alpha = float32(*cfg.Alpha)
		} else if cfg.NegativeSlope != nil {
			alpha = float32(*cfg.NegativeSlope)
		}
		return e.node(model.OpLeakyRelu, []string{x}, model.Attrs{"alpha": alpha}, name), nil
	case "ELU":
		alpha := float32(1)
		if cfg.Alpha != nil {
			alpha = float32(*cfg.Alpha)
		}
		return e.elu(x, alpha, name), nil
	case "PReLU":
		t, err := li.weight(name, "alpha")
		if err != nil {
			return "", err
		}
		s, err := li.tensorName(t, name, "alpha", nil)
		if err != nil {
			return "", err
		}
		return e.node(model.OpPRelu, []string{x, s}, nil, name), nil
	case "Softmax":
		a := model.Attrs{}
		if ax, ok := intAxis(cfg.Axis); ok && ax != -1 {
			a["axis"] = ax
		}
		return e.node(model.OpSoftmax, []string{x}, a, name), nil
	case "ZeroPadding2D":
		if err := channelsLast(cfg); err != nil {
			return "", err
		}
		p, err := zeroPadding(cfg.Padding)
		if err != nil {
			return "", err
		}
		if len(xs) != 4 {
			return "", refuse("input " + model.ShapeString(xs) + " is not 4-D")
		}
		return e.node(model.OpPad, []string{x}, model.Attrs{"pads": []int{0, p[0], p[2], 0, 0, p[1], p[3], 0}}, name), nil
	case "MaxPooling2D", "MaxPool2D", "AveragePooling2D", "AvgPool2D":
		if err := channelsLast(cfg); err != nil {
			return "", err
		}
		k, err := pair(cfg.PoolSize, 2, "pool_size")
		if err != nil {
			return "", err
		}
		st, err := pair(cfg.Strides, 0, "strides")
		if err != nil {
			return "", err
		}
		if st[0] == 0 {
			st = k
		}
		a := model.Attrs{"kernel": k[:]}
		if st != k {
			a["strides"] = st[:]
		}
		if err := convPadding(cfg.Padding, a); err != nil {
			return "", err
		}
		op := model.OpMaxPool
		if strings.HasPrefix(class, "Av") {
			op = model.OpAvgPool
		}
		return e.node(op, []string{x}, a, name), nil
	case "GlobalAveragePooling2D", "GlobalAvgPool2D":
		if err := channelsLast(cfg); err != nil {
			return "", err
		}
		a := model.Attrs{}
		if cfg.Keepdims {
			a["keepdims"] = 1
		}
		return e.node(model.OpGlobalAvgPool, []string{x}, a, name), nil
	case "GlobalMaxPooling2D", "GlobalMaxPool2D":
		if err := channelsLast(cfg); err != nil {
			return "", err
		}
		if len(xs) != 4 {
			return "", refuse("input " + model.ShapeString(xs) + " is not 4-D")
		}
		// A max pool over the whole map, then the 1x1 axes dropped.
		p := e.node(model.OpMaxPool, []string{x}, model.Attrs{"kernel": []int{xs[1], xs[2]}}, name+"/pool")
		if cfg.Keepdims {
			return e.node(model.OpReshape, []string{p}, model.Attrs{"shape": []int{0, 1, 1, xs[3]}}, name), nil
		}
		return e.node(model.OpReshape, []string{p}, model.Attrs{"shape": []int{0, xs[3]}}, name), nil
	case "Add", "Subtract", "Multiply", "Average":
		op := map[string]string{"Add": model.OpAdd, "Subtract": model.OpSub, "Multiply": model.OpMul, "Average": model.OpAdd}[class]
		if len(args) < 2 || class == "Subtract" && len(args) != 2 {
			return "", refuse(strconv.Itoa(len(args)) + " inputs")
		}
		y := x
		for k, v := range args[1:] {
			part := name
			if k < len(args)-2 || class == "Average" {
				part = name + "/" + strconv.Itoa(k+1)
			}
			y = e.node(op, []string{y, v}, nil, part)
		}
		if class == "Average" {
			y = e.node(model.OpMul, []string{y, e.scalar(float32(1 / float64(len(args))))}, nil, name)
		}
		return y, nil
	case "Concatenate":
		ax, ok := intAxis(cfg.Axis)
		if !ok {
			ax = -1
		}
		return e.node(model.OpConcat, args, model.Attrs{"axis": ax}, name), nil
	case "Flatten":
		return e.node(model.OpFlatten, []string{x}, nil, name), nil
	case "Reshape":
		shape := append([]int{0}, cfg.TargetShape...) // 0 copies the batch
		for _, d := range cfg.TargetShape {
			if d == 0 || d < -1 {
				return "", refuse("target_shape " + model.ShapeString(cfg.TargetShape))
			}
		}
		return e.node(model.OpReshape, []string{x}, model.Attrs{"shape": shape}, name), nil
	case "Permute":
		perm := []int{0}
		for _, d := range cfg.Dims {
			perm = append(perm, d)
		}
		return e.node(model.OpTranspose, []string{x}, model.Attrs{"perm": perm}, name), nil
	case "Dropout":
		if !(cfg.Rate >= 0 && cfg.Rate < 1) {
			return "", refuse("rate " + strconv.FormatFloat(cfg.Rate, 'g', -1, 64))
		}
		return e.node(model.OpDropout, []string{x}, model.Attrs{"rate": float32(cfg.Rate)}, name), nil
	case "SpatialDropout2D", "GaussianNoise", "GaussianDropout", "AlphaDropout":
		li.report.Notes = append(li.report.Notes, class+" "+strconv.Quote(name)+" is the identity at inference and was dropped")
		return x, nil
	case "UpSampling2D":
		if err := channelsLast(cfg); err != nil {
			return "", err
		}
		sz, err := pair(cfg.Size, 2, "size")
		if err != nil {
			return "", err
		}
		if len(xs) != 4 {
			return "", refuse("input " + model.ShapeString(xs) + " is not 4-D")
		}
		mode := cfg.Interpolation
		if mode == "" {
			mode = "nearest"
		}
		if mode != "nearest" && mode != "bilinear" {
			return "", refuse("interpolation " + strconv.Quote(mode))
		}
		// tfjs-layers resizes with neither align_corners nor half-pixel centres.
		return e.node(model.OpResize, []string{x}, model.Attrs{"size": []int{xs[1] * sz[0], xs[2] * sz[1]}, "mode": mode, "coord": "asymmetric"}, name), nil
	case "Sequential", "Model", "Functional":
		return "", refuse("nested models are not supported; save the inner model's layers inline")
	}
	return "", refuse("no mapping to edgenn ops")
}

// activate applies a Keras activation as standalone node(s) named name.
func (li *layersImporter) activate(x, act, name string) (string, error) {
	if act == "" {
		return x, nil
	}
	return li.e.activation(x, act, 1, name)
}

func intAxis(raw json.RawMessage) (int, bool) {
	var a int
	if json.Unmarshal(raw, &a) == nil {
		return a, true
	}
	var l []int
	if json.Unmarshal(raw, &l) == nil && len(l) == 1 {
		return l[0], true
	}
	return 0, false
}

// zeroPadding reads ZeroPadding2D's padding as top, bottom, left, right.
func zeroPadding(raw json.RawMessage) ([4]int, error) {
	var n int
	if json.Unmarshal(raw, &n) == nil && n >= 0 && n <= model.MaxDim {
		return [4]int{n, n, n, n}, nil
	}
	var p []int
	if json.Unmarshal(raw, &p) == nil && len(p) == 2 && p[0] >= 0 && p[1] >= 0 && p[0] <= model.MaxDim && p[1] <= model.MaxDim {
		return [4]int{p[0], p[0], p[1], p[1]}, nil
	}
	var pp [][]int
	if json.Unmarshal(raw, &pp) == nil && len(pp) == 2 && len(pp[0]) == 2 && len(pp[1]) == 2 {
		out := [4]int{pp[0][0], pp[0][1], pp[1][0], pp[1][1]}
		for _, v := range out {
			if v < 0 || v > model.MaxDim {
				return [4]int{}, refuse("bad padding " + quoteShort(string(raw)))
			}
		}
		return out, nil
	}
	return [4]int{}, refuse("bad padding " + quoteShort(string(raw)))
}

func (li *layersImporter) conv(class string, cfg *layerConfig, x string, xs []int) (string, error) {
	e := li.e
	name := cfg.Name
	if err := channelsLast(cfg); err != nil {
		return "", err
	}
	if len(xs) != 4 {
		return "", refuse("input " + model.ShapeString(xs) + " is not 4-D NHWC")
	}
	cin := xs[3]
	k, err := pair(cfg.KernelSize, 0, "kernel_size")
	if err != nil {
		return "", err
	}
	st, err := pair(cfg.Strides, 1, "strides")
	if err != nil {
		return "", err
	}
	dl, err := pair(cfg.DilationRate, 1, "dilation_rate")
	if err != nil {
		return "", err
	}
	a := model.Attrs{}
	if st != [2]int{1, 1} {
		a["strides"] = st[:]
	}
	if dl != [2]int{1, 1} {
		a["dilations"] = dl[:]
	}
	if err := convPadding(cfg.Padding, a); err != nil {
		return "", err
	}
	act, err := activationName(cfg.Activation)
	if err != nil {
		return "", err
	}
	useBias := cfg.UseBias == nil || *cfg.UseBias
	switch class {
	case "DepthwiseConv2D":
		dw, err := li.weight(name, "depthwise_kernel")
		if err != nil {
			return "", err
		}
		if len(dw.shape) != 4 || dw.shape[0] != k[0] || dw.shape[1] != k[1] || dw.shape[2] != cin || dw.shape[3] < 1 {
			return "", errors.New("depthwise_kernel has shape " + model.ShapeString(dw.shape) + " for a " + strconv.Itoa(k[0]) + "x" + strconv.Itoa(k[1]) + " kernel over " + strconv.Itoa(cin) + " channels")
		}
		cout := cin * dw.shape[3] // the multiplier comes from the weight: tfjs-layers does not always save it
		if cin > 1 {
			a["group"] = cin
		}
		return li.convNode(a, x, dw, "depthwise_kernel", []int{k[0], k[1], 1, cout}, useBias, cout, act, name)
	case "SeparableConv2D", "SeparableConvolution2D":
		dw, err := li.weight(name, "depthwise_kernel")
		if err != nil {
			return "", err
		}
		if len(dw.shape) != 4 || dw.shape[0] != k[0] || dw.shape[1] != k[1] || dw.shape[2] != cin || dw.shape[3] < 1 {
			return "", errors.New("depthwise_kernel has shape " + model.ShapeString(dw.shape) + " for a " + strconv.Itoa(k[0]) + "x" + strconv.Itoa(k[1]) + " kernel over " + strconv.Itoa(cin) + " channels")
		}
		mid := cin * dw.shape[3]
		pw, err := li.weightOf(name, "pointwise_kernel", []int{1, 1, mid, cfg.Filters})
		if err != nil {
			return "", err
		}
		if cin > 1 {
			a["group"] = cin
		}
		dv, err := li.tensorName(dw, name, "depthwise_kernel", []int{k[0], k[1], 1, mid})
		if err != nil {
			return "", err
		}
		y := e.node(model.OpConv2D, []string{x, dv}, a, name+"/depthwise")
		return li.convNode(model.Attrs{}, y, pw, "pointwise_kernel", nil, useBias, cfg.Filters, act, name)
	}
	groups := max(cfg.Groups, 1)
	if cin%groups != 0 || cfg.Filters < 1 {
		return "", refuse("groups " + strconv.Itoa(groups) + " and filters " + strconv.Itoa(cfg.Filters) + " do not fit " + strconv.Itoa(cin) + " input channels")
	}
	if groups > 1 {
		a["group"] = groups
	}
	w, err := li.weightOf(name, "kernel", []int{k[0], k[1], cin / groups, cfg.Filters})
	if err != nil {
		return "", err
	}
	return li.convNode(a, x, w, "kernel", nil, useBias, cfg.Filters, act, name)
}

// convNode emits a Conv2D with its bias and activation (fused when the IR
// can, else as nodes after it).
func (li *layersImporter) convNode(a model.Attrs, x string, w *tensor, wname string, wshape []int, useBias bool, cout int, act, name string) (string, error) {
	e := li.e
	wv, err := li.tensorName(w, name, wname, wshape)
	if err != nil {
		return "", err
	}
	inputs := []string{x, wv}
	if useBias {
		b, err := li.weightOf(name, "bias", []int{cout})
		if err != nil {
			return "", err
		}
		bv, err := li.tensorName(b, name, "bias", nil)
		if err != nil {
			return "", err
		}
		inputs = append(inputs, bv)
	}
	if fusable(act) {
		activationAttrs(a, act, 0)
		return e.node(model.OpConv2D, inputs, a, name), nil
	}
	y := e.node(model.OpConv2D, inputs, a, name+"/conv")
	return li.activate(y, act, name)
}

func (li *layersImporter) dense(cfg *layerConfig, x string, xs []int) (string, error) {
	e := li.e
	name := cfg.Name
	if len(xs) < 2 || cfg.Units < 1 {
		return "", refuse("input " + model.ShapeString(xs) + " and units " + strconv.Itoa(cfg.Units))
	}
	act, err := activationName(cfg.Activation)
	if err != nil {
		return "", err
	}
	w, err := li.weightOf(name, "kernel", []int{xs[len(xs)-1], cfg.Units})
	if err != nil {
		return "", err
	}
	wv, err := li.tensorName(w, name, "kernel", nil)
	if err != nil {
		return "", err
	}
	var bv string
	if cfg.UseBias == nil || *cfg.UseBias {
		b, err := li.weightOf(name, "bias", []int{cfg.Units})
		if err != nil {
			return "", err
		}
		if bv, err = li.tensorName(b, name, "bias", nil); err != nil {
			return "", err
		}
	}
	if len(xs) == 2 {
		inputs := []string{x, wv}
		if bv != "" {
			inputs = append(inputs, bv)
		}
		if fusable(act) {
			a := model.Attrs{}
			activationAttrs(a, act, 0)
			return e.node(model.OpDense, inputs, a, name), nil
		}
		return li.activate(e.node(model.OpDense, inputs, nil, name+"/dense"), act, name)
	}
	// Dense over the last axis of a higher-rank input: MatMul, then the bias.
	last := func(done bool, part string) string {
		if done {
			return name
		}
		return name + "/" + part
	}
	y := e.node(model.OpMatMul, []string{x, wv}, nil, last(bv == "" && act == "", "matmul"))
	if bv != "" {
		y = e.node(model.OpAdd, []string{y, bv}, nil, last(act == "", "bias"))
	}
	return li.activate(y, act, name)
}

func (li *layersImporter) batchNorm(cfg *layerConfig, x string, xs []int) (string, error) {
	name := cfg.Name
	if len(xs) < 2 {
		return "", refuse("input " + model.ShapeString(xs) + " has no channel axis")
	}
	if ax, ok := intAxis(cfg.Axis); len(cfg.Axis) > 0 && (!ok || ax != -1 && ax != len(xs)-1) {
		return "", refuse("axis " + quoteShort(string(cfg.Axis)) + " (only the last axis)")
	}
	c := xs[len(xs)-1]
	get := func(w string, on *bool, def float32) (string, error) {
		if on != nil && !*on {
			v := make([]float32, c)
			for i := range v {
				v[i] = def
			}
			return li.e.constant(&tensor{shape: []int{c}, f: v}, name+"/"+w, nil)
		}
		t, err := li.weightOf(name, w, []int{c})
		if err != nil {
			return "", err
		}
		return li.tensorName(t, name, w, nil)
	}
	gamma, err := get("gamma", cfg.Scale, 1)
	if err != nil {
		return "", err
	}
	beta, err := get("beta", cfg.Center, 0)
	if err != nil {
		return "", err
	}
	mean, err := get("moving_mean", nil, 0)
	if err != nil {
		return "", err
	}
	variance, err := get("moving_variance", nil, 1)
	if err != nil {
		return "", err
	}
	a := model.Attrs{"epsilon": float32(1e-3)}
	if cfg.Epsilon != nil {
		a["epsilon"] = float32(*cfg.Epsilon)
	}
	if cfg.Momentum != nil && *cfg.Momentum >= 0 && *cfg.Momentum <= 1 {
		a["momentum"] = float32(*cfg.Momentum)
	}
	return li.e.node(model.OpBatchNorm, []string{x, gamma, beta, mean, variance}, a, name), nil
}
