//go:build goexperiment.simd && go1.27

package kernels

import "simd/archsimd"

func init() {
	hot.vecMax, hotSIMD.vecMax = vecMaxSIMD, vecMaxSIMD
	hot.vecAdd, hotSIMD.vecAdd = vecAddSIMD, vecAddSIMD
	hot.vecDiv, hotSIMD.vecDiv = vecDivSIMD, vecDivSIMD
	hot.gap, hotSIMD.gap = globalAvgPoolSIMD, globalAvgPoolSIMD
	haveSIMD = true
}

func vecMaxSIMD(y, x []float32) {
	n := len(y)
	x = x[:n]
	i := 0
	for ; i <= n-4; i += 4 {
		archsimd.LoadFloat32x4(y[i:]).Max(archsimd.LoadFloat32x4(x[i:])).Store(y[i:])
	}
	for ; i < n; i++ {
		y[i] = max(y[i], x[i])
	}
}

func vecAddSIMD(y, x []float32) {
	n := len(y)
	x = x[:n]
	i := 0
	for ; i <= n-4; i += 4 {
		archsimd.LoadFloat32x4(y[i:]).Add(archsimd.LoadFloat32x4(x[i:])).Store(y[i:])
	}
	for ; i < n; i++ {
		y[i] += x[i]
	}
}

func vecDivSIMD(y []float32, d float32) {
	n := len(y)
	vd := archsimd.BroadcastFloat32x4(d)
	i := 0
	for ; i <= n-4; i += 4 {
		archsimd.LoadFloat32x4(y[i:]).Div(vd).Store(y[i:])
	}
	for ; i < n; i++ {
		y[i] /= d
	}
}

// globalAvgPoolSIMD sums four channels at a time down the positions, in the
// same order per channel as globalAvgPoolScalar (float32 within a block of
// gapBlock positions, float64 across blocks), so the two agree bit for bit.
func globalAvgPoolSIMD(n, hw, c int, x, y []float32) {
	x, y = x[:n*hw*c], y[:n*c]
	fhw := float64(hw)
	c4 := c &^ 3
	for b := range n {
		xb := x[b*hw*c : (b+1)*hw*c]
		yb := y[b*c : (b+1)*c]
		for j := 0; j < c4; j += 4 {
			var a0, a1, a2, a3 float64
			for r0 := 0; r0 < hw; r0 += gapBlock {
				p := archsimd.BroadcastFloat32x4(0)
				for r := r0; r < min(r0+gapBlock, hw); r++ {
					p = p.Add(archsimd.LoadFloat32x4(xb[r*c+j:]))
				}
				a0 += float64(p.GetElem(0))
				a1 += float64(p.GetElem(1))
				a2 += float64(p.GetElem(2))
				a3 += float64(p.GetElem(3))
			}
			yb[j] = float32(a0 / fhw)
			yb[j+1] = float32(a1 / fhw)
			yb[j+2] = float32(a2 / fhw)
			yb[j+3] = float32(a3 / fhw)
		}
		for j := c4; j < c; j++ {
			var a float64
			for r0 := 0; r0 < hw; r0 += gapBlock {
				var p float32
				for r := r0; r < min(r0+gapBlock, hw); r++ {
					p += xb[r*c+j]
				}
				a += float64(p)
			}
			yb[j] = float32(a / fhw)
		}
	}
}
