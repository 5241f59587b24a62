package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/edgenn/edgenn/internal/naive"
)

// pool64 is pooling in float64 over real cells (max, or the average with
// PoolParams's divisor), one loop nest per definition.
func pool64(p PoolParams, n int, x []float64, avg bool) []float64 {
	oh, ow := p.OutSize()
	c := p.C
	y := make([]float64, n*oh*ow*c)
	for b := range n {
		for oy := range oh {
			for ox := range ow {
				for j := range c {
					acc, cnt, best := 0.0, 0, math.Inf(-1)
					for ky := range p.KH {
						for kx := range p.KW {
							iy, ix := oy*p.StrideH-p.PadTop+ky, ox*p.StrideW-p.PadLeft+kx
							if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
								continue
							}
							v := x[((b*p.H+iy)*p.W+ix)*c+j]
							acc += v
							best = max(best, v)
							cnt++
						}
					}
					if p.CountIncludePad {
						cnt = p.KH * p.KW
					}
					o := ((b*oh+oy)*ow+ox)*c + j
					if avg {
						y[o] = acc / float64(cnt)
					} else {
						y[o] = best
					}
				}
			}
		}
	}
	return y
}

// distinctVec returns n values at least 0.01 apart in random order, so that
// a finite-difference step never changes which cell holds a window's max.
func distinctVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i, k := range r.Perm(n) {
		v[i] = float32(k)*0.01 - float32(n)*0.005
	}
	return v
}

func TestPoolGrad(t *testing.T) {
	forEachGradImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		for _, q := range poolCases(r) {
			for _, inc := range []bool{false, true} {
				p := toPoolParams(q, inc)
				n := q.N
				oh, ow := p.OutSize()
				x := distinctVec(r, n*p.H*p.W*p.C)
				dy := randVec(r, n*oh*ow*p.C)
				dx := randVec(r, len(x)) // garbage: the kernels overwrite
				for _, avg := range []bool{false, true} {
					if avg {
						AvgPoolGrad(p, n, dy, dx)
					} else {
						if inc {
							continue // CountIncludePad does not touch MaxPool
						}
						MaxPoolGrad(p, n, x, dy, dx)
					}
					f := func(v []float64) float64 { return dot64(dy, pool64(p, n, v, avg)) }
					x64 := to64(x)
					for _, i := range fdCoords(r, len(x), 40) {
						checkGrad(t, "pool grad fd", i, dx[i], fdAt(f, x64, i), 1e-5, 1)
					}
					// Every element against the gradient written out: a cell
					// gets dy/count from each window it lies in (avg), or dy
					// from each window whose max it is.
					want := make([]float64, len(x))
					y := pool64(p, n, x64, false)
					for b := range n {
						for oy := range oh {
							for ox := range ow {
								for j := range p.C {
									o := ((b*oh+oy)*ow+ox)*p.C + j
									cnt := 0
									var cells []int
									for ky := range p.KH {
										for kx := range p.KW {
											iy, ix := oy*p.StrideH-p.PadTop+ky, ox*p.StrideW-p.PadLeft+kx
											if iy >= 0 && iy < p.H && ix >= 0 && ix < p.W {
												cells = append(cells, ((b*p.H+iy)*p.W+ix)*p.C+j)
												cnt++
											}
										}
									}
									if inc {
										cnt = p.KH * p.KW
									}
									for _, i := range cells {
										if avg {
											want[i] += float64(dy[o]) / float64(cnt)
										} else if x64[i] == y[o] {
											want[i] += float64(dy[o])
										}
									}
								}
							}
						}
					}
					for i := range want {
						checkGrad(t, "pool grad", i, dx[i], want[i], 1e-5, 1)
					}
				}
			}
		}
	})
}

// TestMaxPoolGradTies holds MaxPoolGrad to the forward's choice among equal
// values: the first maximum in scan order, and +0 over an earlier -0.
func TestMaxPoolGradTies(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	for _, q := range poolCases(r) {
		p := toPoolParams(q, false)
		n := q.N
		oh, ow := p.OutSize()
		x := make([]float32, n*p.H*p.W*p.C)
		for i := range x {
			x[i] = float32(r.IntN(3)) // many ties
		}
		dy := make([]float32, n*oh*ow*p.C)
		for i := range dy {
			dy[i] = float32(i + 1) // tells the windows apart
		}
		dx := make([]float32, len(x))
		MaxPoolGrad(p, n, x, dy, dx)
		want := make([]float32, len(x))
		for b := range n {
			for oy := range oh {
				for ox := range ow {
					for j := range p.C {
						at, best := -1, float32(0)
						for ky := range p.KH {
							for kx := range p.KW {
								iy, ix := oy*p.StrideH-p.PadTop+ky, ox*p.StrideW-p.PadLeft+kx
								if iy < 0 || iy >= p.H || ix < 0 || ix >= p.W {
									continue
								}
								i := ((b*p.H+iy)*p.W+ix)*p.C + j
								if at < 0 || x[i] > best {
									at, best = i, x[i]
								}
							}
						}
						want[at] += dy[((b*oh+oy)*ow+ox)*p.C+j]
					}
				}
			}
		}
		checkExact(t, "maxpool grad ties", dx, want)
	}
	// Signed zeros and NaN: max(-0, +0) is +0, the first NaN wins.
	p := PoolParams{H: 1, W: 3, C: 1, KH: 1, KW: 3, StrideH: 1, StrideW: 1}
	nan := float32(math.NaN())
	for _, c := range []struct{ x, want []float32 }{
		{[]float32{float32(math.Copysign(0, -1)), 0, -1}, []float32{0, 1, 0}},
		{[]float32{0, float32(math.Copysign(0, -1)), -1}, []float32{1, 0, 0}},
		{[]float32{1, nan, nan}, []float32{0, 1, 0}},
	} {
		dx := make([]float32, 3)
		MaxPoolGrad(p, 1, c.x, []float32{1}, dx)
		checkExact(t, "maxpool grad zeros/NaN", dx, c.want)
	}
}

func TestGlobalAvgPoolGrad(t *testing.T) {
	forEachGradImpl(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, s := range [][3]int{{1, 1, 1}, {2, 7, 3}, {1, 49, 5}, {3, 4, 70}, {2, 1, 9}} {
			n, hw, c := s[0], s[1], s[2]
			x, dy := randVec(r, n*hw*c), randVec(r, n*c)
			dx := randVec(r, n*hw*c)
			GlobalAvgPoolGrad(n, hw, c, dy, dx)
			gap := func(v []float64) float64 {
				var l float64
				for b := range n {
					for j := range c {
						var sum float64
						for q := range hw {
							sum += v[(b*hw+q)*c+j]
						}
						l += float64(dy[b*c+j]) * sum / float64(hw)
					}
				}
				return l
			}
			x64 := to64(x)
			for _, i := range fdCoords(r, len(x), 60) {
				checkGrad(t, "gap grad fd", i, dx[i], fdAt(gap, x64, i), 1e-6, 0.1)
			}
			for i := range dx {
				b, j := i/(hw*c), i%c
				if want := float32(float64(dy[b*c+j]) / float64(hw)); dx[i] != want {
					t.Fatalf("gap grad [%d] = %v, want %v", i, dx[i], want)
				}
			}
		}
	})
}

// TestPoolGradSIMDMatchesScalar holds the SIMD average-pool gradient to
// its scalar twin bit for bit.
func TestPoolGradSIMDMatchesScalar(t *testing.T) {
	if !haveGradSIMD {
		t.Skip("no SIMD in this build")
	}
	r := rand.New(rand.NewPCG(13, 14))
	for _, q := range poolCases(r) {
		for _, inc := range []bool{false, true} {
			p := toPoolParams(q, inc)
			oh, ow := p.OutSize()
			dy := randVec(r, q.N*oh*ow*p.C)
			a, b := make([]float32, q.N*p.H*p.W*p.C), make([]float32, q.N*p.H*p.W*p.C)
			gradHotSIMD.avgPoolGrad(p, q.N, dy, a)
			gradHotScalar.avgPoolGrad(p, q.N, dy, b)
			checkExact(t, "avgpool grad simd vs scalar", a, b)
		}
	}
}

func TestPoolGradNoAllocs(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	q := naive.Pool2D{N: 2, H: 9, W: 9, C: 17, KH: 3, KW: 2, SH: 2, SW: 3, PT: 2, PL: 1}
	p := toPoolParams(q, false)
	oh, ow := p.OutSize()
	x, dy, dx := randVec(r, 2*9*9*17), randVec(r, 2*oh*ow*17), make([]float32, 2*9*9*17)
	checkNoAllocs(t, "MaxPoolGrad", func() { MaxPoolGrad(p, 2, x, dy, dx) })
	checkNoAllocs(t, "AvgPoolGrad", func() { AvgPoolGrad(p, 2, dy, dx) })
	checkNoAllocs(t, "GlobalAvgPoolGrad", func() { GlobalAvgPoolGrad(2, 81, 17, x[:34], dx) })
}

func BenchmarkPoolGrad(b *testing.B) {
	r := rand.New(rand.NewPCG(19, 20))
	// LeNet's 2x2/2 pools and a 3x3/1 padded one.
	for _, q := range []naive.Pool2D{
		{N: 8, H: 28, W: 28, C: 6, KH: 2, KW: 2, SH: 2, SW: 2},
		{N: 8, H: 10, W: 10, C: 16, KH: 2, KW: 2, SH: 2, SW: 2},
		{N: 1, H: 28, W: 28, C: 32, KH: 3, KW: 3, SH: 1, SW: 1, PT: 1, PB: 1, PL: 1, PR: 1},
	} {
		p := toPoolParams(q, false)
		oh, ow := p.OutSize()
		dy, dx := randVec(r, q.N*oh*ow*q.C), make([]float32, q.N*q.H*q.W*q.C)
		for _, impl := range []struct {
			name string
			k    gradKernels
		}{{"scalar", gradHotScalar}, {"simd", gradHotSIMD}} {
			if impl.name == "simd" && !haveGradSIMD {
				continue
			}
			b.Run(impl.name+"/avg"+layoutDims([]int{q.H, q.W, q.C, q.KH, q.SH}), func(b *testing.B) {
				saved := gradHot
				gradHot = impl.k
				defer func() { gradHot = saved }()
				for b.Loop() {
					AvgPoolGrad(p, q.N, dy, dx)
				}
			})
		}
	}
}
