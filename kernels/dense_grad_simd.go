//go:build goexperiment.simd && go1.27 && wasm

// Built for wasm only, like gemm_simd.go (see there why not amd64).

package kernels

import "simd/archsimd"

func init() {
	denseDot4 = denseDot4SIMD
	denseAxpy4 = denseAxpy4SIMD
}

// denseDot4SIMD is denseDot4Scalar with the four partial sums of each row
// in the lanes of one vector: the same products, the same order.
func denseDot4SIMD(w, d0, d1, d2, d3 []float32) (s0, s1, s2, s3 float32) {
	n := len(w)
	d0, d1, d2, d3 = d0[:n], d1[:n], d2[:n], d3[:n]
	var c0, c1, c2, c3 archsimd.Float32x4
	j := 0
	for ; j+4 <= n; j += 4 {
		wv := archsimd.LoadFloat32x4Array((*[4]float32)(w[j : j+4]))
		c0 = c0.Add(archsimd.LoadFloat32x4Array((*[4]float32)(d0[j : j+4])).Mul(wv))
		c1 = c1.Add(archsimd.LoadFloat32x4Array((*[4]float32)(d1[j : j+4])).Mul(wv))
		c2 = c2.Add(archsimd.LoadFloat32x4Array((*[4]float32)(d2[j : j+4])).Mul(wv))
		c3 = c3.Add(archsimd.LoadFloat32x4Array((*[4]float32)(d3[j : j+4])).Mul(wv))
	}
	s0 = (c0.GetElem(0) + c0.GetElem(1)) + (c0.GetElem(2) + c0.GetElem(3))
	s1 = (c1.GetElem(0) + c1.GetElem(1)) + (c1.GetElem(2) + c1.GetElem(3))
	s2 = (c2.GetElem(0) + c2.GetElem(1)) + (c2.GetElem(2) + c2.GetElem(3))
	s3 = (c3.GetElem(0) + c3.GetElem(1)) + (c3.GetElem(2) + c3.GetElem(3))
	for ; j < n; j++ {
		s0 += float32(d0[j] * w[j])
		s1 += float32(d1[j] * w[j])
		s2 += float32(d2[j] * w[j])
		s3 += float32(d3[j] * w[j])
	}
	return s0, s1, s2, s3
}

// denseAxpy4SIMD is denseAxpy4Scalar four elements at a time: the same
// products, summed in the same order (Mul then Add, no FMA).
func denseAxpy4SIMD(row, d0, d1, d2, d3 []float32, a0, a1, a2, a3 float32) {
	n := len(row)
	d0, d1, d2, d3 = d0[:n], d1[:n], d2[:n], d3[:n]
	v0, v1 := archsimd.BroadcastFloat32x4(a0), archsimd.BroadcastFloat32x4(a1)
	v2, v3 := archsimd.BroadcastFloat32x4(a2), archsimd.BroadcastFloat32x4(a3)
	j := 0
	for ; j+4 <= n; j += 4 {
		r := (*[4]float32)(row[j : j+4])
		s := v0.Mul(archsimd.LoadFloat32x4Array((*[4]float32)(d0[j : j+4])))
		s = s.Add(v1.Mul(archsimd.LoadFloat32x4Array((*[4]float32)(d1[j : j+4]))))
		s = s.Add(v2.Mul(archsimd.LoadFloat32x4Array((*[4]float32)(d2[j : j+4]))))
		s = s.Add(v3.Mul(archsimd.LoadFloat32x4Array((*[4]float32)(d3[j : j+4]))))
		archsimd.LoadFloat32x4Array(r).Add(s).StoreArray(r)
	}
	for ; j < n; j++ {
		row[j] += float32(float32(float32(a0*d0[j])+float32(a1*d1[j]))+float32(a2*d2[j])) + float32(a3*d3[j])
	}
}
