//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, for the reasons given in gemm_simd.go.

package kernels

import (
	"simd/archsimd"
	"unsafe"
)

func init() { softmaxRow = softmaxRowSIMD }

// expfSIMD is Expf on four lanes: the same float32 operations in the same
// order (wasm's f32x4.min/max propagate NaN as Go's min/max do, f32x4.nearest
// rounds ties to even as math.RoundToEven, and a NaN lane reaches the
// polynomial and stays NaN), so each lane equals Expf bit for bit, up to the
// payload of a NaN.
func expfSIMD(x archsimd.Float32x4) archsimd.Float32x4 {
	x = x.Max(archsimd.BroadcastFloat32x4(expLo)).Min(archsimd.BroadcastFloat32x4(expHi))
	n := x.Mul(archsimd.BroadcastFloat32x4(expLog2e)).Round()
	r := x.Sub(n.Mul(archsimd.BroadcastFloat32x4(expC1)))
	r = r.Sub(n.Mul(archsimd.BroadcastFloat32x4(expC2)))
	p := archsimd.BroadcastFloat32x4(expP0)
	p = p.Mul(r).Add(archsimd.BroadcastFloat32x4(expP1))
	p = p.Mul(r).Add(archsimd.BroadcastFloat32x4(expP2))
	p = p.Mul(r).Add(archsimd.BroadcastFloat32x4(expP3))
	p = p.Mul(r).Add(archsimd.BroadcastFloat32x4(expP4))
	p = p.Mul(r).Add(archsimd.BroadcastFloat32x4(expP5))
	z := r.Mul(r)
	e := p.Mul(z).Add(r).Add(archsimd.BroadcastFloat32x4(1))
	ni := n.ConvertToInt32()
	n1 := ni.ShiftAllRight(1)
	n2 := ni.Sub(n1)
	bias := archsimd.BroadcastInt32x4(127)
	e = e.Mul(n1.Add(bias).ShiftAllLeft(23).ToBits().BitsToFloat32())
	return e.Mul(n2.Add(bias).ShiftAllLeft(23).ToBits().BitsToFloat32())
}

// softmaxRowSIMD computes what softmaxRowScalar does, four elements at a
// time: the maximum (order does not matter to max), the exps by expfSIMD,
// lane j's exp added to float64 partial sum j (so e_i goes to sum i%4 in
// order of i, as in the twin), and one float32 division per element. It
// checks the extent of xs and ys once, then addresses them with unsafe.Add.
func softmaxRowSIMD(xs, ys []float32) {
	n := len(xs)
	// Invariant for the unsafe addressing below: xs and ys hold n >= 1
	// values; vectors are loaded and stored at i <= n-4 only.
	ys = ys[:n]
	xp, yp := unsafe.Pointer(unsafe.SliceData(xs)), unsafe.Pointer(unsafe.SliceData(ys))
	n4 := n &^ 3
	m := xs[0]
	if n4 > 0 {
		mv := softmaxLoad(xp)
		for i := 4; i < n4; i += 4 {
			mv = mv.Max(softmaxLoad(unsafe.Add(xp, i*4)))
		}
		m = max(m, mv.GetElem(0), mv.GetElem(1), mv.GetElem(2), mv.GetElem(3))
	}
	for _, v := range xs[n4:] {
		m = max(m, v)
	}
	var a0, a1, a2, a3 float64
	vm := archsimd.BroadcastFloat32x4(m)
	for i := 0; i < n4; i += 4 {
		e := expfSIMD(softmaxLoad(unsafe.Add(xp, i*4)).Sub(vm))
		e.StoreArray((*[4]float32)(unsafe.Add(yp, i*4)))
		a0 += float64(e.GetElem(0))
		a1 += float64(e.GetElem(1))
		a2 += float64(e.GetElem(2))
		a3 += float64(e.GetElem(3))
	}
	acc := [4]float64{a0, a1, a2, a3}
	for i := n4; i < n; i++ {
		e := Expf(xs[i] - m)
		ys[i] = e
		acc[i&3] += float64(e)
	}
	s := float32((acc[0] + acc[1]) + (acc[2] + acc[3]))
	vs := archsimd.BroadcastFloat32x4(s)
	for i := 0; i < n4; i += 4 {
		p := unsafe.Add(yp, i*4)
		softmaxLoad(p).Div(vs).StoreArray((*[4]float32)(p))
	}
	for i := n4; i < n; i++ {
		ys[i] /= s
	}
}

// softmaxLoad loads the 4 float32s at p.
func softmaxLoad(p unsafe.Pointer) archsimd.Float32x4 {
	return archsimd.LoadFloat32x4Array((*[4]float32)(p))
}
