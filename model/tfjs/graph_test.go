package tfjs

import (
	"encoding/binary"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/edgenn/edgenn/model"
)

var lowerX = []float32{-3, -0.5, 0, 0.5, 3, 8}

// TestLowerings checks the ops the IR lacks against their definitions:
// each becomes the IR ops listed (after the pruning of pattern leftovers)
// and computes the same values.
func TestLowerings(t *testing.T) {
	f32 := func(f func(float64) float64) []float32 {
		out := make([]float32, len(lowerX))
		for i, v := range lowerX {
			out[i] = float32(f(float64(v)))
		}
		return out
	}
	cases := []struct {
		name  string
		build func(m *graphModel, x string) string
		ops   []string
		want  []float32
		tol   float64
	}{
		{"Minimum(Relu(x),6)->Relu6", func(m *graphModel, x string) string {
			return m.node("y", "Minimum", []string{m.node("r", "Relu", []string{x}, nil), m.konst("six", nil, 6)}, nil)
		}, []string{model.OpRelu6}, f32(func(v float64) float64 { return math.Min(math.Max(v, 0), 6) }), 0},
		{"Maximum(x,0)->Relu", func(m *graphModel, x string) string {
			return m.node("y", "Maximum", []string{m.konst("zero", []int{1, 1, 1, 1}, 0), x}, nil)
		}, []string{model.OpRelu}, f32(func(v float64) float64 { return math.Max(v, 0) }), 0},
		{"Maximum(x,-1)->Clip", func(m *graphModel, x string) string {
			return m.node("y", "Maximum", []string{x, m.konst("lo", nil, -1)}, nil)
		}, []string{model.OpClip}, f32(func(v float64) float64 { return math.Max(v, -1) }), 0},
		{"Minimum(x,[2.5]*6)->Clip", func(m *graphModel, x string) string {
			return m.node("y", "Minimum", []string{x, m.konst("hi", []int{6}, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5)}, nil)
		}, []string{model.OpClip}, f32(func(v float64) float64 { return math.Min(v, 2.5) }), 0},
		{"Maximum(x,0.1*x)->LeakyRelu", func(m *graphModel, x string) string {
			return m.node("y", "Maximum", []string{m.node("ax", "Mul", []string{m.konst("a", nil, 0.1), x}, nil), x}, nil)
		}, []string{model.OpLeakyRelu}, f32(func(v float64) float64 { return math.Max(v, float64(float32(0.1)*float32(v))) }), 0},
		{"Elu", func(m *graphModel, x string) string {
			return m.node("y", "Elu", []string{x}, nil)
		}, nil, f32(func(v float64) float64 {
			if v > 0 {
				return v
			}
			return math.Expm1(v)
		}), 2e-7},
		{"Square", func(m *graphModel, x string) string {
			return m.node("y", "Square", []string{x}, nil)
		}, []string{model.OpMul}, f32(func(v float64) float64 { return v * v }), 0},
		{"Neg", func(m *graphModel, x string) string {
			return m.node("y", "Neg", []string{x}, nil)
		}, []string{model.OpMul}, f32(func(v float64) float64 { return -v }), 0},
		{"LeakyRelu default alpha 0.2", func(m *graphModel, x string) string {
			return m.node("y", "LeakyRelu", []string{x}, nil)
		}, []string{model.OpLeakyRelu}, f32(func(v float64) float64 { return math.Max(v, float64(float32(0.2)*float32(v))) }), 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &graphModel{}
			x := m.input("x", 1, 1, 1, 6)
			c.build(m, x)
			g, outs := run(t, m.files(t, "y"), lowerX)
			if c.ops != nil && !slices.Equal(ops(g), c.ops) {
				t.Errorf("ops %v, want %v", ops(g), c.ops)
			}
			for i, w := range c.want {
				if d := math.Abs(float64(outs[0][i] - w)); d > c.tol {
					t.Errorf("x=%g: got %g, want %g", lowerX[i], outs[0][i], w)
				}
			}
		})
	}
}

// TestUnsupportedListsAll: every node that cannot be mapped is reported,
// with why, not only the first; a node downstream of one is reported only
// when its own op has no mapping.
func TestUnsupportedListsAll(t *testing.T) {
	m := &graphModel{}
	x := m.input("x", 1, 4, 4, 2)
	a := m.node("after_sin", "Relu", []string{m.node("sin", "Sin", []string{x}, nil)}, nil)
	b := m.node("max2", "Maximum", []string{x, m.node("r", "Relu", []string{x}, nil)}, nil)
	c := m.node("mirror", "MirrorPad", []string{x, m.ints("p", []int{4, 2}, 0, 0, 1, 1, 1, 1, 0, 0)}, map[string]any{"mode": aS("SYMMETRIC")})
	d := m.node("cumsum", "Cumsum", []string{m.node("erf", "Erf", []string{x}, nil), m.ints("ax", nil, 1)}, nil)
	e := m.node("nchw", "MaxPool", []string{x}, map[string]any{"data_format": aS("NCHW"), "padding": aS("VALID"), "ksize": aInts(1, 1, 2, 2), "strides": aInts(1, 1, 2, 2)})
	g, rep, err := Import(m.files(t, a, b, c, d, e), "model.json")
	if err == nil || g != nil {
		t.Fatalf("got graph %v, err %v", g != nil, err)
	}
	want := map[string]string{"sin": "Sin", "max2": "Maximum", "mirror": "MirrorPad", "erf": "Erf", "cumsum": "Cumsum", "nchw": "MaxPool"}
	got := map[string]string{}
	for _, u := range rep.Unsupported {
		got[u.Node] = u.Op
		if u.Why == "" {
			t.Errorf("%s (%s): no reason given", u.Node, u.Op)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unsupported %v, want %v", rep.Unsupported, want)
	}
	for n, op := range want {
		if got[n] != op {
			t.Errorf("node %q: reported as %q, want %q", n, got[n], op)
		}
		if !strings.Contains(err.Error(), `"`+n+`"`) {
			t.Errorf("error does not name %q: %v", n, err)
		}
	}
	if !strings.Contains(err.Error(), "6 unsupported") {
		t.Errorf("error: %v", err)
	}
}

// TestFoldedChain: constant chains (a filter computed by Reshape and
// Transpose, a bias by Add) are computed at import, and the values hold.
func TestFoldedChain(t *testing.T) {
	m := &graphModel{}
	x := m.input("x", -1, 1, 1, 2)
	w := m.node("w", "Transpose", []string{
		m.node("w4", "Reshape", []string{m.konst("wflat", []int{2}, 3, 4), m.ints("s", []int{4}, 1, 1, 1, 2)}, nil),
		m.ints("perm", []int{4}, 0, 1, 3, 2)}, nil)
	bias := m.node("bias", "AddV2", []string{m.konst("b1", []int{1}, 0.25), m.konst("b2", nil, 0.25)}, nil)
	m.node("y", "_FusedConv2D", []string{x, w, bias}, map[string]any{
		"padding": aS("VALID"), "strides": aInts(1, 1, 1, 1), "fused_ops": aStrs("BiasAdd", "Relu"), "num_args": aI(1)})
	fsys := m.files(t)
	g, rep, err := Import(fsys, "model.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Folded) != 3 {
		t.Errorf("folded %v, want the Reshape, Transpose and Add", rep.Folded)
	}
	if !slices.Equal(ops(g), []string{model.OpConv2D}) {
		t.Errorf("ops %v", ops(g))
	}
	_, outs := run(t, fsys, []float32{1, 2, -1, -2})
	if !slices.Equal(outs[0], []float32{11.5, 0}) { // relu(3*1+4*2+0.5), relu(-11+0.5)
		t.Errorf("got %v", outs[0])
	}
}

// TestQuantisedWeights decodes uint8, uint16 and float16 weights as TF.js's
// io.decodeWeights does: v*scale+min rounded once to float32, halves exact.
func TestQuantisedWeights(t *testing.T) {
	m := &graphModel{}
	x := m.input("x", 1, 5)
	q8 := m.raw("q8", []int{5}, "float32", map[string]any{"dtype": "uint8", "min": -1.0, "scale": 0.1}, []byte{0, 1, 10, 20, 255})
	var b16 []byte
	for _, v := range []uint16{0, 1, 65535, 3, 4} {
		b16 = binary.LittleEndian.AppendUint16(b16, v)
	}
	q16 := m.raw("q16", []int{5}, "float32", map[string]any{"dtype": "uint16", "min": 0.5, "scale": 0.001}, b16)
	var bh []byte
	for _, v := range []uint16{0x3c00, 0xc000, 0x7bff, 0x0001, 0x8400} {
		bh = binary.LittleEndian.AppendUint16(bh, v)
	}
	f16 := m.raw("f16", []int{5}, "float32", map[string]any{"dtype": "float16"}, bh)
	a := m.node("a", "AddV2", []string{x, q8}, nil)
	b := m.node("b", "AddV2", []string{x, q16}, nil)
	c := m.node("c", "AddV2", []string{x, f16}, nil)
	_, outs := run(t, m.files(t, a, b, c), make([]float32, 5))
	want := [][]float32{
		{float32(-1.0), float32(0.1 - 1), float32(10*0.1 - 1), float32(20*0.1 - 1), float32(255*0.1 - 1)},
		{0.5, float32(0.001 + 0.5), float32(65535*0.001 + 0.5), float32(3*0.001 + 0.5), float32(4*0.001 + 0.5)},
		{1, -2, 65504, 1.0 / (1 << 24), -1.0 / (1 << 14)},
	}
	for k := range want {
		if !slices.Equal(outs[k], want[k]) {
			t.Errorf("output %d: got %v, want %v", k, outs[k], want[k])
		}
	}
	// int32 weights quantised: Math.round, halves upward.
	min, scale := -2.5, 1.0
	tn := decodeWeight(&weightSpec{Name: "i", Shape: []int{4}, DType: "int32", Quantization: &quantization{DType: "uint8", Min: &min, Scale: &scale}}, []byte{0, 1, 2, 5})
	if !slices.Equal(tn.i, []int64{-2, -1, 0, 3}) {
		t.Errorf("int32 from uint8: got %v", tn.i)
	}
}

func TestHalfToFloat(t *testing.T) {
	for _, c := range []struct {
		h    uint16
		want float32
	}{{0x0000, 0}, {0x3c00, 1}, {0x3555, 0.333251953125}, {0xfbff, -65504}, {0x0400, 1.0 / (1 << 14)},
		{0x03ff, 1023.0 / (1 << 24)}, {0x7c00, float32(math.Inf(1))}, {0xfc00, float32(math.Inf(-1))}} {
		if got := halfToFloat(c.h); got != c.want {
			t.Errorf("halfToFloat(%#04x) = %g, want %g", c.h, got, c.want)
		}
	}
	if v := halfToFloat(0x7e00); !math.IsNaN(float64(v)) {
		t.Errorf("halfToFloat(NaN) = %g", v)
	}
	if b := math.Float32bits(halfToFloat(0x8000)); b != 0x80000000 {
		t.Errorf("negative zero: %#x", b)
	}
}

// TestFreeBatchLayoutOps: Squeeze, ExpandDims and Reshape keep the free
// batch dimension free, so the graph runs at any batch size.
func TestFreeBatchLayoutOps(t *testing.T) {
	m := &graphModel{}
	x := m.input("x", -1, 1, 1, 3)
	s := m.node("sq", "Squeeze", []string{x}, map[string]any{"squeeze_dims": aInts(1, 2)})
	e := m.node("ex", "ExpandDims", []string{s, m.ints("ax", nil, 0)}, nil)
	r := m.node("rs", "Reshape", []string{e, m.ints("shape", []int{2}, -1, 3)}, nil)
	m.node("y", "Mul", []string{r, m.konst("two", nil, 2)}, nil)
	fsys := m.files(t)
	g, outs := run(t, fsys, []float32{1, 2, 3, 4, 5, 6})
	if got := g.Outputs[0].Shape; !slices.Equal(got, []int{-1, 3}) {
		t.Errorf("output shape %v, want [-1 3]", got)
	}
	if !slices.Equal(outs[0], []float32{2, 4, 6, 8, 10, 12}) {
		t.Errorf("got %v", outs[0])
	}
}
