package engine

import (
	"errors"

	"github.com/edgenn/edgenn/kernels"
	"github.com/edgenn/edgenn/model"
)

// gradDst returns where a node writes the gradient of its input in: a
// trained parameter's gradient goes through a private buffer that finish
// copies or (when another node already wrote it) adds into the parameter's;
// other values are as gradInto.
func (t *Trainer) gradDst(in string, needs map[string]bool, uses map[string]int) (dst []float32, finish func()) {
	p := t.byName[in]
	if p == nil {
		return t.gradInto(in, needs, uses)
	}
	d := make([]float32, len(p.g))
	return d, func() {
		if p.written {
			for j, v := range d {
				p.g[j] += v
			}
		} else {
			copy(p.g, d)
		}
		p.written = true
	}
}

// gradInto returns where a node writes the gradient of its input in: the
// value's own gradient buffer when the node is its only reader, else a
// private buffer whose contents finish adds into the shared, pre-zeroed one.
// It returns nil when in needs no gradient.
func (t *Trainer) gradInto(in string, needs map[string]bool, uses map[string]int) (dst []float32, finish func()) {
	if !needs[in] {
		return nil, nil
	}
	g := t.grad[in]
	if uses[in] == 1 {
		return g, nil
	}
	if !t.zeroed(g) {
		t.zero = append(t.zero, g)
	}
	tmp := make([]float32, len(g))
	return tmp, func() {
		for i, v := range tmp {
			g[i] += v
		}
	}
}

func (t *Trainer) zeroed(g []float32) bool {
	for _, z := range t.zero {
		if &z[0] == &g[0] {
			return true
		}
	}
	return false
}

// fusedAct is the fused activation of a Conv2D or Dense node as the
// Trainer runs it. The backward pass needs the activation's input where its
// output does not determine the derivative: ReLU, ReLU6 and LeakyReLU with
// alpha >= 0 keep their sign and range (y > 0 exactly where x > 0, 0 < y < 6
// exactly where 0 < x < 6), so y stands in for x, and Sigmoid and Tanh are
// differentiated from y by definition; HardSwish, Clip and a negative-alpha
// LeakyReLU run the layer into pre and activate from there.
type fusedAct struct {
	ep  kernels.Epilogue // the activation alone
	pre []float32        // the pre-activation, or nil when y stands in
}

// splitAct returns the epilogue the layer's kernel applies (bias, and the
// activation unless it is applied separately) and the fusedAct to finish
// and differentiate it.
func splitAct(n *model.Node, bias, y []float32) (kernels.Epilogue, fusedAct, error) {
	ep, err := epilogue(n.Attrs, bias)
	if err != nil {
		return ep, fusedAct{}, err
	}
	fa := fusedAct{ep: kernels.Epilogue{Act: ep.Act, Alpha: ep.Alpha, Lo: ep.Lo, Hi: ep.Hi}}
	switch {
	case ep.Act == kernels.ActHardSwish, ep.Act == kernels.ActClip, ep.Act == kernels.ActLeakyReLU && ep.Alpha < 0:
		fa.pre = make([]float32, len(y))
		ep.Act = kernels.ActNone
	}
	return ep, fa, nil
}

// out is where the layer's kernel writes.
func (f *fusedAct) out(y []float32) []float32 {
	if f.pre != nil {
		return f.pre
	}
	return y
}

// finish applies a separately run activation.
func (f *fusedAct) finish(y []float32) {
	if f.pre != nil {
		copy(y, f.pre)
		kernels.ActivateInPlace(y, f.ep)
	}
}

// grad turns the gradient of y into the gradient of the pre-activation, in
// place.
func (f *fusedAct) grad(y, dy []float32) {
	x := y
	if f.pre != nil {
		x = f.pre
	}
	kernels.ActivationGrad(f.ep, x, y, dy, dy)
}

// weightParams returns a Conv2D's or Dense's weights and optional bias as
// the trainer holds them, with their params (nil where frozen).
func (t *Trainer) weightParams(n *model.Node) (w, b []float32, pw, pb *param) {
	w, pw = t.act[n.Inputs[1]], t.byName[n.Inputs[1]]
	if len(n.Inputs) > 2 && n.Inputs[2] != "" {
		b, pb = t.act[n.Inputs[2]], t.byName[n.Inputs[2]]
	}
	return w, b, pw, pb
}

// biasGrad writes (or, when the bias is shared and already written, adds)
// the gradient of a trained bias: dy summed over its rows.
func biasGrad(pb *param, rows, oc int, dy []float32) {
	if pb != nil {
		kernels.BiasGrad(rows, oc, dy, pb.g, pb.written)
		pb.written = true
	}
}

// bind builds the training node for n: forward and backward closures over
// the trainer's buffers. It returns the scratch the node needs.
func (t *Trainer) bind(n *model.Node, shapes map[string][]int, needs map[string]bool, uses map[string]int) (*tnode, int, error) {
	tn := &tnode{n: n}
	in := func(i int) []float32 { return t.act[n.Inputs[i]] }
	sh := func(i int) []int { return shapes[n.Inputs[i]] }
	y, dy := t.act[n.Outputs[0]], t.grad[n.Outputs[0]]
	batch := t.opts.Batch
	nop := func() {}
	tn.backward = nop
	if dy == nil { // nothing trained upstream of here: forward only
		defer func() { tn.backward = nop }()
	}
	switch n.Op {
	case model.OpConv2D:
		if len(n.Inputs) > 3 && n.Inputs[3] != "" {
			return nil, 0, errors.New("a Conv2D with a residual input (the engine's inference fusion) cannot be trained; train the graph with its Add node")
		}
		xs, ws := sh(0), sh(1)
		pt, pb, pl, pr, _, _, err := model.ConvPads(n, xs[1], xs[2], ws[0], ws[1])
		if err != nil {
			return nil, 0, err
		}
		st, dl := n.Attrs.Ints("strides", []int{1, 1}), n.Attrs.Ints("dilations", []int{1, 1})
		p := kernels.ConvParams{H: xs[1], W: xs[2], C: xs[3], KH: ws[0], KW: ws[1], OC: ws[3],
			StrideH: st[0], StrideW: st[1], DilationH: dl[0], DilationW: dl[1],
			PadTop: pt, PadBottom: pb, PadLeft: pl, PadRight: pr, Group: n.Attrs.Int("group", 1)}
		w, b, pw, pbias := t.weightParams(n)
		ep, fa, err := splitAct(n, b, y)
		if err != nil {
			return nil, 0, err
		}
		conv, err := kernels.NewConv2D(p, w, ep)
		if err != nil {
			return nil, 0, err
		}
		cg, err := kernels.NewConv2DGrad(p)
		if err != nil {
			return nil, 0, err
		}
		x := in(0)
		fs, bs := conv.ScratchLen(), cg.ScratchLen()
		ky := fa.out(y)
		tn.forward = func() {
			conv.Run(batch, x, ky, t.scratch[:fs])
			fa.finish(y)
		}
		if pw != nil || pbias != nil {
			tn.sync = func() { conv.SetWeights(w, b) }
		}
		dx, finish := t.gradInto(n.Inputs[0], needs, uses)
		rows := batch * (len(y) / batch / p.OC)
		tn.backward = func() {
			fa.grad(y, dy)
			biasGrad(pbias, rows, p.OC, dy)
			if pw != nil {
				cg.FilterGrad(batch, x, dy, pw.g, t.scratch[:bs], pw.written)
				pw.written = true
			}
			if dx != nil {
				cg.InputGrad(batch, dy, w, dx, t.scratch[:bs])
				if finish != nil {
					finish()
				}
			}
		}
		return tn, max(fs, bs), nil

	case model.OpDense:
		k, m := sh(1)[0], sh(1)[1]
		w, b, pw, pbias := t.weightParams(n)
		ep, fa, err := splitAct(n, b, y)
		if err != nil {
			return nil, 0, err
		}
		d, err := kernels.NewDense(k, m, w, ep)
		if err != nil {
			return nil, 0, err
		}
		x, rows := in(0), sh(0)[0]
		fs := d.ScratchLen()
		ky := fa.out(y)
		tn.forward = func() {
			d.Run(rows, x, ky, t.scratch[:fs])
			fa.finish(y)
		}
		if pw != nil || pbias != nil {
			tn.sync = func() { d.SetWeights(w, b) }
		}
		dx, finish := t.gradInto(n.Inputs[0], needs, uses)
		tn.backward = func() {
			fa.grad(y, dy)
			biasGrad(pbias, rows, m, dy)
			if pw != nil {
				kernels.DenseWeightGrad(rows, k, m, x, dy, pw.g, pw.written)
				pw.written = true
			}
			if dx != nil {
				kernels.DenseInputGrad(rows, k, m, dy, w, dx)
				if finish != nil {
					finish()
				}
			}
		}
		return tn, fs, nil

	case model.OpMaxPool, model.OpAvgPool:
		xs := sh(0)
		pt, pb, pl, pr, _, _, err := model.PoolPads(n, xs[1], xs[2])
		if err != nil {
			return nil, 0, err
		}
		k := n.Attrs.Ints("kernel", nil)
		st := n.Attrs.Ints("strides", k)
		p := kernels.PoolParams{H: xs[1], W: xs[2], C: xs[3], KH: k[0], KW: k[1], StrideH: st[0], StrideW: st[1],
			PadTop: pt, PadBottom: pb, PadLeft: pl, PadRight: pr, CountIncludePad: n.Attrs.Int("count_include_pad", 0) != 0}
		if err := p.Validate(); err != nil {
			return nil, 0, err
		}
		x := in(0)
		dx, finish := t.gradInto(n.Inputs[0], needs, uses)
		isMax := n.Op == model.OpMaxPool
		if isMax {
			tn.forward = func() { kernels.MaxPool(p, batch, x, y) }
		} else {
			tn.forward = func() { kernels.AvgPool(p, batch, x, y) }
		}
		if dx != nil {
			tn.backward = func() {
				if isMax {
					kernels.MaxPoolGrad(p, batch, x, dy, dx)
				} else {
					kernels.AvgPoolGrad(p, batch, dy, dx)
				}
				if finish != nil {
					finish()
				}
			}
		}
		return tn, 0, nil

	case model.OpGlobalAvgPool:
		xs := sh(0)
		x := in(0)
		hw, c := xs[1]*xs[2], xs[3]
		tn.forward = func() { kernels.GlobalAvgPool(batch, hw, c, x, y) }
		if dx, finish := t.gradInto(n.Inputs[0], needs, uses); dx != nil {
			tn.backward = func() {
				kernels.GlobalAvgPoolGrad(batch, hw, c, dy, dx)
				if finish != nil {
					finish()
				}
			}
		}
		return tn, 0, nil

	case model.OpFlatten, model.OpReshape:
		x := in(0)
		tn.forward = func() { copy(y, x) }
		if dx, finish := t.gradInto(n.Inputs[0], needs, uses); dx != nil {
			tn.backward = func() {
				copy(dx, dy)
				if finish != nil {
					finish()
				}
			}
		}
		return tn, 0, nil

	case model.OpRelu, model.OpRelu6, model.OpLeakyRelu, model.OpSigmoid, model.OpTanh, model.OpHardSwish, model.OpClip:
		ep := unaryEpilogue(n)
		x := in(0)
		tn.forward = func() {
			copy(y, x)
			kernels.ActivateInPlace(y, ep)
		}
		if dx, finish := t.gradInto(n.Inputs[0], needs, uses); dx != nil {
			tn.backward = func() {
				kernels.ActivationGrad(ep, x, y, dy, dx)
				if finish != nil {
					finish()
				}
			}
		}
		return tn, 0, nil

	case model.OpAdd, model.OpSub, model.OpMul, model.OpDiv:
		op := map[string]kernels.BinaryOp{model.OpAdd: kernels.BinAdd, model.OpSub: kernels.BinSub, model.OpMul: kernels.BinMul, model.OpDiv: kernels.BinDiv}[n.Op]
		fw, err := kernels.NewBinary(op, sh(0), sh(1))
		if err != nil {
			return nil, 0, err
		}
		bg, err := kernels.NewBinaryGrad(op, sh(0), sh(1))
		if err != nil {
			return nil, 0, err
		}
		a, b := in(0), in(1)
		ep, fa, err := splitAct(n, nil, y) // a fused activation, as the compiler or an importer writes it
		if err != nil {
			return nil, 0, err
		}
		ky := fa.out(y)
		tn.forward = func() {
			fw.Run(a, b, ky)
			if ep.Act != kernels.ActNone {
				kernels.ActivateInPlace(ky, ep)
			}
			fa.finish(y)
		}
		var dst [2][]float32
		var fin [2]func()
		for i := range 2 {
			dst[i], fin[i] = t.gradDst(n.Inputs[i], needs, uses)
		}
		tn.backward = func() {
			fa.grad(y, dy)
			bg.Run(a, b, dy, dst[0], dst[1])
			for i := range fin {
				if fin[i] != nil {
					fin[i]()
				}
			}
		}
		return tn, 0, nil
	}
	return t.bindMore(tn, n, shapes, needs, uses)
}
