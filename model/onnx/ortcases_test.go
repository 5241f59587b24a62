package onnx

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Hand-made models for the paths the anchor models do not take: NCHW axes
// (Concat, Softmax before and after opset 13, ReduceMean, Pad, Transpose)
// met in NHWC, Reshape/Flatten/Squeeze of NHWC values, Gemm and MatMul
// variants, broadcasting against NHWC values, Resize modes, a Shape chain
// over a free batch, 1-D windows, and an opset-7 model. Their bytes are
// committed in testdata/ort (written by this file when
// EDGENN_WRITE_ONNX_CASES=1), ONNX Runtime runs them
// (scripts/onnxrefs/ort_ref.js, from scripts/fetch_onnx_refs.sh), and
// TestORTCases holds edgenn to its outputs.

type ortCase struct {
	name   string
	inputs []ortInput
	build  func(m *modelBuilder)
	opset  int64
}

type ortInput struct {
	Name  string `json:"name"`
	Shape []int  `json:"shape"` // the shape ONNX Runtime runs (a free batch as 2)
	decl  []int  // the declared shape (-1: the free batch)
}

func in(name string, decl ...int) ortInput {
	run := append([]int(nil), decl...)
	for i, d := range run {
		if d < 0 {
			run[i] = 2
		}
	}
	return ortInput{Name: name, Shape: run, decl: decl}
}

func ortCases() []ortCase {
	return []ortCase{
		{name: "conv_concat_softmax", opset: 13, inputs: []ortInput{in("x", 1, 3, 8, 8)}, build: func(m *modelBuilder) {
			c1 := m.node("Conv", []string{"x", m.weights("w1", 0.5, 4, 3, 3, 3), m.weights("b1", 0.1, 4)}, "c1", aInts("pads", 1, 1, 1, 1))
			r1 := m.node("Relu", []string{c1}, "r1")
			c2 := m.node("Conv", []string{"x", m.weights("w2", 0.5, 2, 3, 1, 1)}, "c2")
			cat := m.node("Concat", []string{r1, c2}, "cat", aInt("axis", 1))
			m.node("Softmax", []string{cat}, "softmax_c", aInt("axis", 1))
			m.node("Softmax", []string{cat}, "softmax_w", aInt("axis", -1))
			m.node("Concat", []string{r1, r1}, "concat_w", aInt("axis", 3))
			m.output("softmax_c")
			m.output("softmax_w")
			m.output("concat_w")
		}},
		{name: "softmax_opset11", opset: 11, inputs: []ortInput{in("x", 1, 2, 3, 4)}, build: func(m *modelBuilder) {
			c := m.node("Conv", []string{"x", m.weights("w", 0.8, 3, 2, 1, 1)}, "c")
			m.node("Softmax", []string{c}, "softmax_1", aInt("axis", 1))
			m.node("Softmax", []string{c}, "softmax_2", aInt("axis", 2))
			m.node("Softmax", []string{c}, "softmax_3", aInt("axis", 3))
			m.output("softmax_1")
			m.output("softmax_2")
			m.output("softmax_3")
		}},
		{name: "pad_pool_reduce", opset: 13, inputs: []ortInput{in("x", 1, 3, 9, 7)}, build: func(m *modelBuilder) {
			c := m.node("Conv", []string{"x", m.weights("w", 0.5, 4, 3, 3, 3)}, "c", aInts("strides", 2, 2), aStr("auto_pad", "SAME_UPPER"))
			p1 := m.node("Pad", []string{c, m.initInts("pads1", 0, 0, 1, 2, 0, 0, 2, 1)}, "p1", aStr("mode", "reflect"))
			p2 := m.node("Pad", []string{p1, m.initInts("pads2", 0, 0, 1, 0, 0, 0, 0, 1)}, "p2", aStr("mode", "edge"))
			p3 := m.node("Pad", []string{p2, m.initInts("pads3", 0, 1, 0, 0, 0, 1, 0, 0), m.init("v", nil, []float32{0.5})}, "p3")
			mp := m.node("MaxPool", []string{p3}, "mp", aInts("kernel_shape", 3, 3), aInts("strides", 2, 2), aInt("ceil_mode", 1))
			ap := m.node("AveragePool", []string{p2}, "ap", aInts("kernel_shape", 2, 3), aInts("pads", 1, 1, 0, 1), aInt("count_include_pad", 1))
			m.node("ReduceMean", []string{mp}, "mean_hw", aInts("axes", 2, 3), aInt("keepdims", 0))
			m.node("ReduceMean", []string{ap}, "mean_c", aInts("axes", 1))
			m.node("ReduceMean", []string{ap}, "mean_h", aInts("axes", 2), aInt("keepdims", 0))
			m.output("mean_hw")
			m.output("mean_c")
			m.output("mean_h")
			m.output("p3")
		}},
		{name: "nhwc_model", opset: 13, inputs: []ortInput{in("x", 1, 8, 8, 3)}, build: func(m *modelBuilder) {
			t := m.node("Transpose", []string{"x"}, "t", aInts("perm", 0, 3, 1, 2))
			c := m.node("Conv", []string{t, m.weights("w", 0.5, 4, 3, 3, 3), m.weights("b", 0.1, 4)}, "c", aInts("pads", 1, 1, 1, 1))
			r := m.node("Relu", []string{c}, "r")
			m.node("Transpose", []string{r}, "y", aInts("perm", 0, 2, 3, 1))
			g := m.node("GlobalAveragePool", []string{r}, "g")
			f := m.node("Flatten", []string{g}, "f")
			m.node("Gemm", []string{f, m.weights("fc", 0.5, 3, 4), m.weights("fcb", 0.1, 3)}, "z", aInt("transB", 1))
			m.output("y")
			m.output("z")
		}},
		{name: "reshape_matmul", opset: 13, inputs: []ortInput{in("x", 1, 4, 6, 6)}, build: func(m *modelBuilder) {
			c := m.node("Conv", []string{"x", m.weights("w", 0.5, 8, 4, 1, 1)}, "c")
			r := m.node("Reshape", []string{c, m.initInts("s", 1, 8, 36)}, "r")
			t := m.node("Transpose", []string{r}, "t", aInts("perm", 0, 2, 1))
			mm := m.node("MatMul", []string{t, m.weights("mw", 0.5, 8, 5)}, "mm")
			m.node("Add", []string{mm, m.weights("mb", 0.1, 5)}, "seq")
			m.node("Flatten", []string{c}, "flat2", aInt("axis", 2))
			r2 := m.node("Reshape", []string{c, m.initInts("s2", 1, 288)}, "r2")
			m.node("MatMul", []string{r2, m.weights("mw2", 0.1, 288, 3)}, "fc")
			f1 := m.node("Flatten", []string{c}, "flat1")
			fr := m.node("Relu", []string{f1}, "flat_relu")
			m.node("Softmax", []string{fr}, "flat_softmax")
			m.node("MatMul", []string{fr, m.weights("mw3", 0.1, 288, 2)}, "flat_fc")
			m.output("seq")
			m.output("flat2")
			m.output("fc")
			m.output("flat1")
			m.output("flat_softmax")
			m.output("flat_fc")
		}},
		{name: "squeeze_unsqueeze", opset: 13, inputs: []ortInput{in("x", 1, 5, 4, 4)}, build: func(m *modelBuilder) {
			c := m.node("Conv", []string{"x", m.weights("w", 0.5, 6, 5, 3, 3)}, "c")
			g := m.node("GlobalAveragePool", []string{c}, "g")
			s := m.node("Squeeze", []string{g, m.initInts("axes", 2, 3)}, "s")
			u := m.node("Unsqueeze", []string{s, m.initInts("uaxes", 1)}, "u")
			m.node("Mul", []string{u, m.weights("k", 1, 1, 1, 6)}, "y")
			gm := m.node("GlobalMaxPool", []string{c}, "gm")
			m.node("Squeeze", []string{gm}, "sq")
			m.output("y")
			m.output("sq")
		}},
		{name: "norm_activations", opset: 14, inputs: []ortInput{in("x", 1, 3, 6, 6)}, build: func(m *modelBuilder) {
			c := m.node("Conv", []string{"x", m.weights("w", 0.6, 4, 3, 3, 3)}, "c", aInts("pads", 1, 1, 1, 1))
			v := m.init("var", []int{4}, []float32{0.5, 1, 1.5, 2})
			bn := m.node("BatchNormalization", []string{c, m.weights("scale", 1, 4), m.weights("bias", 0.2, 4), m.weights("mean", 0.3, 4), v}, "bn", aFloat("epsilon", 1e-3))
			pr := m.node("PRelu", []string{bn, m.weights("slope", 0.5, 4, 1, 1)}, "pr")
			m.node("HardSigmoid", []string{pr}, "hsig", aFloat("alpha", 0.3), aFloat("beta", 0.4))
			hs := m.node("HardSwish", []string{c}, "hs")
			cl := m.node("Clip", []string{hs, m.init("lo", nil, []float32{-0.2}), m.init("hi", nil, []float32{0.7})}, "cl")
			lr := m.node("LeakyRelu", []string{cl}, "lr", aFloat("alpha", 0.2))
			sg := m.node("Sigmoid", []string{lr}, "sg")
			m.node("Tanh", []string{sg}, "th")
			r6 := m.node("Clip", []string{c, m.init("zero", nil, []float32{0}), m.init("six", nil, []float32{6})}, "r6")
			d := m.node("Dropout", []string{r6}, "d")
			m.node("Identity", []string{d}, "id")
			mx := m.node("Max", []string{c, m.init("a", nil, []float32{0.1})}, "mx")
			m.node("Min", []string{mx, m.init("b", []int{1}, []float32{0.5})}, "mn")
			m.output("hsig")
			m.output("th")
			m.output("id")
			m.output("mn")
		}},
		{name: "resize", opset: 13, inputs: []ortInput{in("x", 1, 2, 4, 5)}, build: func(m *modelBuilder) {
			c := m.node("Conv", []string{"x", m.weights("w", 0.7, 3, 2, 1, 1)}, "c")
			none := m.init("roi", []int{0}, nil)
			m.node("Resize", []string{c, none, m.init("s2", []int{4}, []float32{1, 1, 2, 2})}, "nearest2")
			m.node("Resize", []string{c, none, m.init("s3", []int{4}, []float32{1, 1, 2, 3})}, "linear", aStr("mode", "linear"))
			m.node("Resize", []string{c, none, "", m.initInts("sz", 1, 3, 7, 9)}, "corners", aStr("mode", "linear"), aStr("coordinate_transformation_mode", "align_corners"))
			m.node("Resize", []string{c, none, m.init("s4", []int{4}, []float32{1, 1, 3, 2})}, "asym", aStr("coordinate_transformation_mode", "asymmetric"), aStr("nearest_mode", "floor"))
			m.output("nearest2")
			m.output("linear")
			m.output("corners")
			m.output("asym")
		}},
		{name: "free_batch_shape_chain", opset: 13, inputs: []ortInput{in("x", -1, 3, 6, 6)}, build: func(m *modelBuilder) {
			c := m.node("Conv", []string{"x", m.weights("w", 0.5, 4, 3, 3, 3)}, "c", aInts("strides", 2, 2), aInts("pads", 1, 1, 1, 1))
			r := m.node("Relu", []string{c}, "r")
			sh := m.node("Shape", []string{r}, "sh")
			m.inits = append(m.inits, tInt64("zero", []int{}, []int64{0}))
			g := m.node("Gather", []string{sh, "zero"}, "g")
			u := m.node("Unsqueeze", []string{g, m.initInts("ax", 0)}, "u")
			cat := m.node("Concat", []string{u, m.initInts("rest", -1)}, "cat", aInt("axis", 0))
			rs := m.node("Reshape", []string{r, cat}, "rs")
			m.node("Gemm", []string{rs, m.weights("fc", 0.2, 36, 5), m.weights("fcb", 0.1, 5)}, "y")
			m.output("y")
		}},
		{name: "gemm_matmul", opset: 13, inputs: []ortInput{in("a", 3, 6), in("b", 6, 4), in("at", 6, 3), in("x3", 2, 3, 6)}, build: func(m *modelBuilder) {
			m.node("Gemm", []string{"a", "b", m.weights("c", 1, 3, 4)}, "g1", aFloat("alpha", 0.5), aFloat("beta", 2))
			m.node("Gemm", []string{"a", m.weights("wt", 0.5, 4, 6), m.weights("c4", 1, 4)}, "g2", aInt("transB", 1), aFloat("alpha", 1.5), aFloat("beta", 0.5))
			m.node("Gemm", []string{"at", m.weights("w", 0.5, 6, 4)}, "g3", aInt("transA", 1))
			m.node("MatMul", []string{"a", "b"}, "m1")
			m.node("MatMul", []string{"x3", m.weights("w3", 0.5, 6, 4)}, "m2")
			for _, o := range []string{"g1", "g2", "g3", "m1", "m2"} {
				m.output(o)
			}
		}},
		{name: "broadcast_nhwc", opset: 13, inputs: []ortInput{in("x", 1, 4, 5, 6), in("y", 5, 6)}, build: func(m *modelBuilder) {
			c := m.node("Conv", []string{"x", m.weights("w", 0.5, 4, 4, 1, 1)}, "c")
			s1 := m.node("Add", []string{c, "y"}, "s1")
			s2 := m.node("Mul", []string{s1, m.weights("k", 1, 4, 1, 1)}, "s2")
			s3 := m.node("Sub", []string{m.weights("k2", 1, 1, 1, 1, 6), s2}, "s3")
			m.node("Div", []string{s3, m.init("two", nil, []float32{2})}, "out1")
			m.node("Add", []string{c, "x"}, "out2")
			m.output("out1")
			m.output("out2")
		}},
		{name: "folded_chains", opset: 13, inputs: []ortInput{in("x", 1, 2, 3, 3)}, build: func(m *modelBuilder) {
			c := m.node("Conv", []string{"x", m.weights("w", 0.5, 4, 2, 1, 1)}, "c")
			k := m.node("ConstantOfShape", []string{m.initInts("ks", 1, 4, 1, 1)}, "k", aTensor("value", tFloat("", []int{1}, []float32{0.25})))
			a := m.node("Add", []string{c, k}, "a")
			ca := m.node("Cast", []string{a}, "ca", aInt("to", dtFloat))
			s := m.node("Sum", []string{ca, c, c}, "s")
			m.node("Concat", []string{s, m.weights("extra", 1, 1, 1, 3, 3)}, "out1", aInt("axis", 1))
			sh := m.node("Shape", []string{"x"}, "sh")
			sl := m.node("Slice", []string{sh, m.initInts("st", 0), m.initInts("en", 2)}, "sl")
			cat := m.node("Concat", []string{sl, m.initInts("m1", -1)}, "cat", aInt("axis", 0))
			m.node("Reshape", []string{c, cat}, "out2")
			m.output("out1")
			m.output("out2")
		}},
		{name: "opset7", opset: 7, inputs: []ortInput{in("x", 1, 2, 4, 4)}, build: func(m *modelBuilder) {
			c := m.node("Conv", []string{"x", m.weights("w", 0.5, 3, 2, 3, 3), m.weights("b", 0.1, 3)}, "c")
			bn := m.node("BatchNormalization", []string{c, m.weights("scale", 1, 3), m.weights("bias", 0.2, 3), m.weights("mean", 0.3, 3), m.init("var", []int{3}, []float32{1, 2, 3})}, "bn")
			cl := m.node("Clip", []string{bn}, "cl", aFloat("min", -0.5), aFloat("max", 0.5))
			d := m.node("Dropout", []string{cl}, "d", aFloat("ratio", 0.3))
			up := m.node("Upsample", []string{d}, "up", aFloats("scales", 1, 1, 2, 2))
			p := m.node("Pad", []string{up}, "p", aInts("pads", 0, 0, 1, 1, 0, 0, 1, 1), aStr("mode", "reflect"))
			f := m.node("Flatten", []string{p}, "f")
			m.node("Softmax", []string{f}, "y")
			sq := m.node("Squeeze", []string{m.node("GlobalAveragePool", []string{c}, "gap")}, "sq", aInts("axes", 2, 3))
			m.node("Unsqueeze", []string{sq}, "z", aInts("axes", 0))
			m.output("y")
			m.output("z")
		}},
		{name: "opset21", opset: 21, inputs: []ortInput{in("x", 1, 3, 5, 6)}, build: func(m *modelBuilder) {
			c := m.node("Conv", []string{"x", m.weights("w", 0.5, 4, 3, 3, 3)}, "c", aStr("auto_pad", "SAME_LOWER"), aInts("strides", 2, 2))
			p := m.node("Pad", []string{c, m.initInts("pads", 1, 2, 0, 1), m.init("pv", nil, []float32{-1}), m.initInts("paxes", 1, 3)}, "p")
			m.node("ReduceMean", []string{p, m.initInts("raxes", -1, 1)}, "rm", aInt("keepdims", 0))
			m.node("Resize", []string{c, "", "", m.initInts("rsz", 6, 9)}, "rs", aInts("axes", 2, 3), aStr("mode", "linear"), aStr("coordinate_transformation_mode", "pytorch_half_pixel"))
			sh := m.node("Shape", []string{c}, "sh", aInt("start", -2))
			cat := m.node("Concat", []string{m.initInts("lead", 1, 4), sh}, "cat", aInt("axis", 0))
			r := m.node("Reshape", []string{c, cat}, "r", aInt("allowzero", 0))
			m.node("Flatten", []string{r}, "f", aInt("axis", -2))
			m.output("rm")
			m.output("rs")
			m.output("f")
		}},
		{name: "conv1d", opset: 13, inputs: []ortInput{in("x", 1, 3, 10)}, build: func(m *modelBuilder) {
			c := m.node("Conv", []string{"x", m.weights("w", 0.5, 4, 3, 3), m.weights("b", 0.1, 4)}, "c", aInts("pads", 1, 1), aInts("strides", 2))
			mp := m.node("MaxPool", []string{c}, "mp", aInts("kernel_shape", 2), aInts("strides", 1))
			m.node("AveragePool", []string{mp}, "y", aInts("kernel_shape", 2), aInts("pads", 1, 0))
			m.node("GlobalMaxPool", []string{c}, "gmax")
			m.node("GlobalAveragePool", []string{c}, "gavg")
			m.output("y")
			m.output("gmax")
			m.output("gavg")
		}},
	}
}

func (c ortCase) model() []byte {
	m := newModel(c.name, c.opset)
	for _, i := range c.inputs {
		m.input(i.Name, i.decl...)
	}
	c.build(m)
	return m.bytes()
}

// TestORTCaseFiles keeps testdata/ort in step with ortCases: the committed
// models are what the code above writes.
func TestORTCaseFiles(t *testing.T) {
	write := os.Getenv("EDGENN_WRITE_ONNX_CASES") == "1"
	type entry struct {
		Model  string     `json:"model"`
		Inputs []ortInput `json:"inputs"`
	}
	var manifest []entry
	for _, c := range ortCases() {
		data := c.model()
		path := filepath.Join("testdata", "ort", c.name+".onnx")
		manifest = append(manifest, entry{Model: c.name + ".onnx", Inputs: c.inputs})
		if write {
			if err := os.WriteFile(path, data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, data) {
			t.Errorf("%s is missing or stale: run EDGENN_WRITE_ONNX_CASES=1 go test ./model/onnx -run TestORTCaseFiles, then scripts/fetch_onnx_refs.sh", path)
		}
	}
	js, err := json.MarshalIndent(manifest, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	js = append(js, '\n')
	path := filepath.Join("testdata", "ort", "manifest.json")
	if write {
		if err := os.WriteFile(path, js, 0o644); err != nil {
			t.Fatal(err)
		}
	} else if old, err := os.ReadFile(path); err != nil || !bytes.Equal(old, js) {
		t.Errorf("%s is missing or stale: run EDGENN_WRITE_ONNX_CASES=1 go test ./model/onnx -run TestORTCaseFiles", path)
	}
}

// TestORTCases imports each hand-made model and holds every output to ONNX
// Runtime Web's on the same inputs: within 1e-4.
func TestORTCases(t *testing.T) {
	for _, c := range ortCases() {
		t.Run(c.name, func(t *testing.T) {
			var ref struct {
				Inputs  []string `json:"inputs"`
				Outputs []struct {
					Name string `json:"name"`
					File string `json:"file"`
					Dims []int  `json:"dims"`
				} `json:"outputs"`
			}
			if err := json.Unmarshal(readFile(t, refPath(t, "ort", "cases", c.name+".json")), &ref); err != nil {
				t.Fatal(err)
			}
			g, rep, err := Import(readFile(t, filepath.Join("testdata", "ort", c.name+".onnx")))
			if err != nil {
				t.Fatal(err)
			}
			if len(g.Inputs) != len(c.inputs) || len(ref.Inputs) != len(c.inputs) {
				t.Fatalf("%d graph inputs, %d reference inputs, want %d", len(g.Inputs), len(ref.Inputs), len(c.inputs))
			}
			var feed [][]float32
			for i, gi := range g.Inputs {
				if gi.Name != c.inputs[i].Name || !equal(gi.Shape, c.inputs[i].decl) {
					t.Errorf("input %d is %s %v, want %s %v (the source's interface)", i, gi.Name, gi.Shape, c.inputs[i].Name, c.inputs[i].decl)
				}
				x := readFloats(t, refPath(t, "ort", "cases", ref.Inputs[i]))
				if len(x) != numel(c.inputs[i].Shape) {
					t.Fatalf("input %s has %d values, want %v", gi.Name, len(x), c.inputs[i].Shape)
				}
				feed = append(feed, x)
			}
			outs, err := runGraph(g, feed...)
			if err != nil {
				t.Fatal(err)
			}
			if len(outs) != len(ref.Outputs) {
				t.Fatalf("%d outputs, ONNX Runtime gave %d", len(outs), len(ref.Outputs))
			}
			worst := 0.0
			for i, o := range ref.Outputs {
				if g.Outputs[i].Name != o.Name {
					t.Errorf("output %d is %s, want %s", i, g.Outputs[i].Name, o.Name)
				}
				want := readFloats(t, refPath(t, "ort", "cases", o.File))
				d, scale := maxDiff(outs[i], want)
				worst = max(worst, d)
				if !(d <= 1e-4) {
					t.Errorf("output %s: max abs diff %g vs ONNX Runtime (values up to %g)\n got %v\nwant %v", o.Name, d, scale, head(outs[i]), head(want))
				}
				if s := g.Outputs[i].Shape; s != nil && numel(s) > 0 && s[0] != -1 && !equal(s, o.Dims) {
					t.Errorf("output %s declared %v, ONNX Runtime's is %v", o.Name, s, o.Dims)
				}
			}
			t.Logf("max abs diff vs onnxruntime-web %s over %d outputs; mapped %v", strconv.FormatFloat(worst, 'g', 3, 64), len(outs), rep.Mapped)
		})
	}
}
