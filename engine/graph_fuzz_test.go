package engine

import (
	"math/rand"
	"testing"

	"github.com/edgenn/edgenn/model"
)

// FuzzOneOp is a differential fuzzer: the fuzz input picks an op, a small
// input shape and the op's attributes; a graph the Builder accepts must
// compile, run without panicking and agree with the naive interpreter.
func FuzzOneOp(f *testing.F) {
	for i := 0; i < 256; i++ { // the seed corpus: every op, many shapes
		f.Add(uint8(i), uint8(i*7), uint8(i*13), uint8(i*29), uint64(i))
	}
	f.Fuzz(func(t *testing.T, op, a1, a2, a3 uint8, seed uint64) {
		r := rand.New(rand.NewSource(int64(seed)))
		h, w, c := 1+int(a1%9), 1+int(a2%9), 1+int(a3%7)
		b := model.NewBuilder("fuzz")
		x := b.Input("x", []int{-1, h, w, c})
		pick := func(v ...string) string { return v[r.Intn(len(v))] }
		pair := func(lo, hi int) []int { return []int{lo + r.Intn(hi-lo+1), lo + r.Intn(hi-lo+1)} }
		padAttrs := func(a model.Attrs) model.Attrs {
			a["padding"] = pick("SAME", "VALID", "EXPLICIT")
			if a["padding"] == "EXPLICIT" {
				a["pads"] = []int{r.Intn(3), r.Intn(3), r.Intn(3), r.Intn(3)}
			}
			return a
		}
		var y string
		switch op % 9 {
		case 0, 1: // Conv2D, grouped or depthwise sometimes
			group := 1
			if r.Intn(2) == 0 {
				group = c
			}
			oc := group * (1 + r.Intn(3))
			if group == 1 {
				oc = 1 + r.Intn(9)
			}
			k := pair(1, 5)
			a := padAttrs(model.Attrs{"strides": pair(1, 3), "dilations": pair(1, 2), "group": group,
				"activation": pick("", "relu", "relu6", "hardswish")})
			wt := b.Tensor("w", []int{k[0], k[1], c / group, oc}, randData(r, k[0]*k[1]*(c/group)*oc, -1, 1))
			bias := b.Tensor("b", []int{oc}, randData(r, oc, -1, 1))
			y = b.Node(model.OpConv2D, []string{x, wt, bias}, a, "conv")
		case 2:
			k := pair(1, 3)
			a := padAttrs(model.Attrs{"kernel": k, "strides": pair(1, 3), "count_include_pad": r.Intn(2)})
			if a["padding"] == "EXPLICIT" {
				a["pads"] = []int{r.Intn(k[0]), r.Intn(k[0]), r.Intn(k[1]), r.Intn(k[1])}
			}
			y = b.Node(pick(model.OpMaxPool, model.OpAvgPool), []string{x}, a, "pool")
		case 3:
			pads := make([]int, 8)
			for i := 1; i < 8; i++ {
				if i != 4 {
					pads[i] = r.Intn(3)
				}
			}
			y = b.Node(model.OpPad, []string{x}, model.Attrs{"pads": pads, "mode": pick("constant", "reflect", "edge"), "value": float32(0.5)}, "pad")
		case 4:
			y = b.Node(model.OpResize, []string{x}, model.Attrs{"size": pair(1, 12), "mode": pick("nearest", "bilinear"),
				"coord": pick("half_pixel", "align_corners", "asymmetric")}, "resize")
		case 5:
			perm := append([]int{0}, 1+r.Intn(3))
			for _, p := range r.Perm(3) {
				if p+1 != perm[1] {
					perm = append(perm, p+1)
				}
			}
			y = b.Node(model.OpTranspose, []string{x}, model.Attrs{"perm": perm}, "t")
		case 6:
			shape := []int{[]int{1, h}[r.Intn(2)], []int{1, w}[r.Intn(2)], []int{1, c}[r.Intn(2)]}
			other := b.Tensor("k", shape, randData(r, model.NumElements(shape), 0.5, 2))
			y = b.Node(pick(model.OpAdd, model.OpSub, model.OpMul, model.OpDiv), []string{x, other}, nil, "bin")
		case 7:
			axes := [][]int{{1}, {2}, {3}, {1, 2}, {2, 3}, {1, 3}, {-1}}[r.Intn(7)]
			y = b.Node(model.OpMean, []string{x}, model.Attrs{"axes": axes, "keepdims": r.Intn(2)}, "mean")
		case 8:
			y = b.Node(model.OpConcat, []string{x, x}, model.Attrs{"axis": 1 + r.Intn(3)}, "cat")
		}
		b.Output(y, "out")
		g, err := b.Build()
		if err != nil {
			return // an invalid combination, refused with an error
		}
		s, err := NewSession(g)
		if err != nil {
			t.Fatalf("valid graph did not compile: %v", err)
		}
		for _, batch := range []int{1, 2} {
			in := randData(r, batch*h*w*c, -2, 2)
			got, err := s.Run(in)
			if err != nil {
				t.Fatal(err)
			}
			closeEnough(t, g.Nodes[0].Op, got[0], naiveRun(t, g, batch, in)["out"], 1e-4)
		}
	})
}
