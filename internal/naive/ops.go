package naive

import (
	"math"
	"slices"
)

// Plain references for the elementwise, pooling, reduction and layout
// kernels: one loop nest per definition, index arithmetic spelled out,
// float64 arithmetic where the kernels round once. They allocate freely and
// panic on inconsistent input; they exist for tests.

// Strides returns the row-major strides of shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	st := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = st
		st *= shape[i]
	}
	return s
}

// Count returns the number of elements of shape (1 for rank 0).
func Count(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Unravel returns the multi-index of flat offset i in shape.
func Unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		idx[d] = i % shape[d]
		i /= shape[d]
	}
	return idx
}

// BroadcastShape returns the NumPy broadcast of shapes a and b, or false.
func BroadcastShape(a, b []int) ([]int, bool) {
	r := max(len(a), len(b))
	out := make([]int, r)
	for i := range r {
		da, db := 1, 1
		if j := i - r + len(a); j >= 0 {
			da = a[j]
		}
		if j := i - r + len(b); j >= 0 {
			db = b[j]
		}
		switch {
		case da == db || db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, false
		}
	}
	return out, true
}

// Binary applies f elementwise to a (shape aShape) and b (shape bShape)
// with NumPy broadcasting and returns the output and its shape.
func Binary(f func(x, y float32) float32, aShape []int, a []float32, bShape []int, b []float32) ([]float32, []int) {
	out, ok := BroadcastShape(aShape, bShape)
	if !ok {
		panic("naive.Binary: shapes do not broadcast")
	}
	at := func(shape []int, v []float32, idx []int) float32 {
		off := 0
		st := Strides(shape)
		for d := range shape {
			i := idx[len(idx)-len(shape)+d]
			if shape[d] == 1 {
				i = 0
			}
			off += i * st[d]
		}
		return v[off]
	}
	y := make([]float32, Count(out))
	for i := range y {
		idx := Unravel(i, out)
		y[i] = f(at(aShape, a, idx), at(bShape, b, idx))
	}
	return y, out
}

// Softmax is softmax over the middle axis of [outer, axis, inner], in float64.
func Softmax(x []float32, outer, axis, inner int) []float32 {
	y := make([]float32, len(x))
	for o := range outer {
		for in := range inner {
			at := func(k int) int { return (o*axis+k)*inner + in }
			m := math.Inf(-1)
			for k := range axis {
				m = max(m, float64(x[at(k)]))
			}
			var s float64
			for k := range axis {
				s += math.Exp(float64(x[at(k)]) - m)
			}
			for k := range axis {
				y[at(k)] = float32(math.Exp(float64(x[at(k)])-m) / s)
			}
		}
	}
	return y
}

// Pool2D describes a pooling window over [N,H,W,C].
type Pool2D struct {
	N, H, W, C, KH, KW, SH, SW, PT, PB, PL, PR int
	CountIncludePad                            bool
}

// Out returns the output height and width (floor mode).
func (p Pool2D) Out() (oh, ow int) {
	return (p.H+p.PT+p.PB-p.KH)/p.SH + 1, (p.W+p.PL+p.PR-p.KW)/p.SW + 1
}

// MaxPool is max pooling of x [N,H,W,C] over real cells only.
func MaxPool(p Pool2D, x []float32) []float32 {
	return pool2D(p, x, false)
}

// AvgPool is average pooling of x [N,H,W,C], the sum in float64.
func AvgPool(p Pool2D, x []float32) []float32 {
	return pool2D(p, x, true)
}

func pool2D(p Pool2D, x []float32, avg bool) []float32 {
	oh, ow := p.Out()
	y := make([]float32, p.N*oh*ow*p.C)
	for n := range p.N {
		for oy := range oh {
			for ox := range ow {
				for c := range p.C {
					m := math.Inf(-1)
					var s float64
					cnt := 0
					for ky := range p.KH {
						for kx := range p.KW {
							iy, ix := oy*p.SH-p.PT+ky, ox*p.SW-p.PL+kx
							if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
								continue
							}
							v := float64(x[((n*p.H+iy)*p.W+ix)*p.C+c])
							m = max(m, v)
							s += v
							cnt++
						}
					}
					if p.CountIncludePad {
						cnt = p.KH * p.KW
					}
					o := ((n*oh+oy)*ow+ox)*p.C + c
					if avg {
						y[o] = float32(s / float64(cnt))
					} else {
						y[o] = float32(m)
					}
				}
			}
		}
	}
	return y
}

// Mean averages x of shape shape over axes (non-negative, sorted or not; empty
// means all) in float64, returning the output with reduced axes kept as 1.
func Mean(x []float32, shape, axes []int) ([]float32, []int) {
	red := make([]bool, len(shape))
	if len(axes) == 0 {
		for i := range red {
			red[i] = true
		}
	}
	for _, a := range axes {
		red[a] = true
	}
	out := slices.Clone(shape)
	for i := range out {
		if red[i] {
			out[i] = 1
		}
	}
	sum := make([]float64, Count(out))
	ost := Strides(out)
	for i, v := range x {
		idx := Unravel(i, shape)
		o := 0
		for d := range idx {
			if !red[d] {
				o += idx[d] * ost[d]
			}
		}
		sum[o] += float64(v)
	}
	k := float64(len(x) / len(sum))
	y := make([]float32, len(sum))
	for i, s := range sum {
		y[i] = float32(s / k)
	}
	return y, out
}

// Pad pads x of shape shape by pads (begins then ends) in mode "constant",
// "reflect" or "edge".
func Pad(x []float32, shape, pads []int, mode string, value float32) ([]float32, []int) {
	r := len(shape)
	out := make([]int, r)
	for d := range r {
		out[d] = shape[d] + pads[d] + pads[r+d]
	}
	st := Strides(shape)
	y := make([]float32, Count(out))
	for i := range y {
		idx := Unravel(i, out)
		off, inside := 0, true
		for d := range r {
			k := idx[d] - pads[d]
			n := shape[d]
			if k < 0 || k >= n {
				switch mode {
				case "constant":
					inside = false
				case "edge":
					k = min(max(k, 0), n-1)
				case "reflect":
					if k < 0 {
						k = -k
					} else {
						k = 2*(n-1) - k
					}
				}
			}
			off += k * st[d]
		}
		if inside {
			y[i] = x[off]
		} else {
			y[i] = value
		}
	}
	return y, out
}

// Concat joins xs (shapes shapes) along axis (non-negative).
func Concat(xs [][]float32, shapes [][]int, axis int) ([]float32, []int) {
	out := slices.Clone(shapes[0])
	out[axis] = 0
	for _, s := range shapes {
		out[axis] += s[axis]
	}
	y := make([]float32, Count(out))
	for i := range y {
		idx := Unravel(i, out)
		k := idx[axis]
		for j, s := range shapes {
			if k < s[axis] {
				idx[axis] = k
				off := 0
				st := Strides(s)
				for d := range idx {
					off += idx[d] * st[d]
				}
				y[i] = xs[j][off]
				break
			}
			k -= s[axis]
		}
	}
	return y, out
}

// Transpose permutes x of shape shape: output axis i is input axis perm[i].
func Transpose(x []float32, shape, perm []int) ([]float32, []int) {
	out := make([]int, len(shape))
	for i, p := range perm {
		out[i] = shape[p]
	}
	st := Strides(shape)
	y := make([]float32, len(x))
	for i := range y {
		idx := Unravel(i, out)
		off := 0
		for d, p := range perm {
			off += idx[d] * st[p]
		}
		y[i] = x[off]
	}
	return y, out
}

// resizeSrc is the source coordinate of output index o, per coordinate mode.
func resizeSrc(o, in, out int, coord string, bilinear bool) float64 {
	switch coord {
	case "align_corners":
		if out == 1 {
			return 0
		}
		return float64(o) * float64(in-1) / float64(out-1)
	case "asymmetric":
		return float64(o) * float64(in) / float64(out)
	}
	s := (float64(o) + 0.5) * float64(in) / float64(out)
	if bilinear {
		s -= 0.5
	}
	return s
}

// ResizeBilinear resizes x [n,h,w,c] to [n,oh,ow,c] bilinearly with edge
// clamping, weights w0*x0 + w1*x1 in float64 (ONNX reference form).
func ResizeBilinear(x []float32, n, h, w, c, oh, ow int, coord string) []float32 {
	y := make([]float32, n*oh*ow*c)
	clamp := func(i, n int) int { return min(max(i, 0), n-1) }
	for b := range n {
		for oy := range oh {
			sy := resizeSrc(oy, h, oh, coord, true)
			y0 := math.Floor(sy)
			fy := sy - y0
			for ox := range ow {
				sx := resizeSrc(ox, w, ow, coord, true)
				x0 := math.Floor(sx)
				fx := sx - x0
				for ch := range c {
					at := func(iy, ix int) float64 {
						return float64(x[((b*h+clamp(iy, h))*w+clamp(ix, w))*c+ch])
					}
					iy, ix := int(y0), int(x0)
					v := (1-fy)*((1-fx)*at(iy, ix)+fx*at(iy, ix+1)) + fy*((1-fx)*at(iy+1, ix)+fx*at(iy+1, ix+1))
					y[((b*oh+oy)*ow+ox)*c+ch] = float32(v)
				}
			}
		}
	}
	return y
}

// ResizeNearest resizes x [n,h,w,c] to [n,oh,ow,c] taking the nearest cell
// with TF.js rounding: floor for half_pixel (of (o+0.5)*in/out) and
// asymmetric, round half up for align_corners, clamped to the input.
func ResizeNearest(x []float32, n, h, w, c, oh, ow int, coord string) []float32 {
	idx := func(o, in, out int) int {
		s := resizeSrc(o, in, out, coord, false)
		var k float64
		if coord == "align_corners" {
			k = math.Floor(s + 0.5)
		} else {
			k = math.Floor(s)
		}
		return min(max(int(k), 0), in-1)
	}
	y := make([]float32, n*oh*ow*c)
	for b := range n {
		for oy := range oh {
			for ox := range ow {
				iy, ix := idx(oy, h, oh), idx(ox, w, ow)
				copy(y[((b*oh+oy)*ow+ox)*c:][:c], x[((b*h+iy)*w+ix)*c:][:c])
			}
		}
	}
	return y
}

// BatchNorm is inference batch normalisation over the last axis of c
// channels, in float64: (x-mean)*scale/sqrt(var+eps)+bias.
func BatchNorm(x []float32, c int, scale, bias, mean, variance []float32, eps float32) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		j := i % c
		y[i] = float32((float64(v)-float64(mean[j]))*float64(scale[j])/math.Sqrt(float64(variance[j])+float64(eps)) + float64(bias[j]))
	}
	return y
}

// Affine computes y[i,j] = sum_k x[i,k]*w[k,j] + b[j] in float64 for x
// [rows,k] and w [k,n] (a dense layer, or a convolution whose patches are
// the rows of x and whose HWIO weights are w).
func Affine(x, w, b []float32, rows, k, n int) []float32 {
	y := make([]float32, rows*n)
	for i := range rows {
		for j := range n {
			s := float64(b[j])
			for l := range k {
				s += float64(x[i*k+l]) * float64(w[l*n+j])
			}
			y[i*n+j] = float32(s)
		}
	}
	return y
}
