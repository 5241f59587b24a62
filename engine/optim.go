package engine

import "math"

// Optimizer updates parameters from their gradients. SGD and Adam are the
// implementations; the zero value of each is not usable (LR must be set).
type Optimizer interface {
	// update applies one step to p; step counts from 1 and scale multiplies
	// the learning rate (a schedule's factor).
	update(p *param, step int, scale float32)
	valid() string // "" or what is wrong
}

// SGD is stochastic gradient descent with optional momentum, Nesterov
// momentum and L2 weight decay (added to the gradient):
//
//	g += WeightDecay*w; v = Momentum*v + g; w -= LR*(Nesterov ? g + Momentum*v : v)
type SGD struct {
	LR, Momentum, WeightDecay float32
	Nesterov                  bool
}

func (o SGD) valid() string {
	switch {
	case !(o.LR > 0):
		return "SGD needs LR > 0"
	case o.Momentum < 0 || o.Momentum >= 1:
		return "SGD momentum must be in [0, 1)"
	case o.Nesterov && o.Momentum == 0:
		return "Nesterov needs momentum"
	}
	return ""
}

func (o SGD) update(p *param, _ int, scale float32) {
	lr := o.LR * scale
	w, g := p.w, p.g[:len(p.w)]
	if o.Momentum == 0 {
		for i := range w {
			w[i] -= lr * (g[i] + o.WeightDecay*w[i])
		}
		return
	}
	v := p.m[:len(w)]
	for i := range w {
		gi := g[i] + o.WeightDecay*w[i]
		v[i] = o.Momentum*v[i] + gi
		if o.Nesterov {
			w[i] -= lr * (gi + o.Momentum*v[i])
		} else {
			w[i] -= lr * v[i]
		}
	}
}

// Adam is the Adam optimiser with bias correction; with Decoupled it is
// AdamW (weight decay applied to the weights, not added to the gradient).
// Zero Beta1, Beta2 and Epsilon take the usual 0.9, 0.999 and 1e-7 (the
// TensorFlow.js default).
type Adam struct {
	LR, Beta1, Beta2, Epsilon, WeightDecay float32
	Decoupled                              bool
}

func (o Adam) valid() string {
	if !(o.LR > 0) {
		return "Adam needs LR > 0"
	}
	if o.Beta1 < 0 || o.Beta1 >= 1 || o.Beta2 < 0 || o.Beta2 >= 1 {
		return "Adam betas must be in [0, 1)"
	}
	return ""
}

func (o Adam) update(p *param, step int, scale float32) {
	b1, b2, eps := o.Beta1, o.Beta2, o.Epsilon
	if b1 == 0 {
		b1 = 0.9
	}
	if b2 == 0 {
		b2 = 0.999
	}
	if eps == 0 {
		eps = 1e-7
	}
	c1 := 1 - math.Pow(float64(b1), float64(step))
	c2 := 1 - math.Pow(float64(b2), float64(step))
	lr := float32(float64(o.LR*scale) * math.Sqrt(c2) / c1)
	w, g, m, v := p.w, p.g[:len(p.w)], p.m[:len(p.w)], p.v[:len(p.w)]
	for i := range w {
		gi := g[i]
		if !o.Decoupled {
			gi += o.WeightDecay * w[i]
		}
		m[i] = b1*m[i] + (1-b1)*gi
		v[i] = b2*v[i] + (1-b2)*gi*gi
		if o.Decoupled {
			w[i] -= o.LR * scale * o.WeightDecay * w[i]
		}
		w[i] -= lr * m[i] / (float32(math.Sqrt(float64(v[i]))) + eps)
	}
}
