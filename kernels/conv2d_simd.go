//go:build goexperiment.simd && go1.27 && (wasm || amd64)

// Built where gemm_simd.go is, and chosen when its kernels are (gemmSIMDOK).

package kernels

func init() {
	if gemmSIMDOK {
		convTile = convTileSIMD
	}
}

// convTileCheck panics unless the invariant for convTileSIMD's unsafe
// addressing holds (mt >= 1): for each patch start o = o_r+t*step (t < mt)
// and ky < kh, x[o+ky*rs : o+ky*rs+seg] is in range (step, rs >= 0, so the
// last segment of the last tile ends furthest); bp holds kh*seg*8 values;
// dst row i < 4*mt is dst[i*ldd : i*ldd+8]. The kernel forms pointers at
// most one past a segment.
func convTileCheck(x []float32, o0, o1, o2, o3, step, mt, kh, seg, rs int, bp, dst []float32, ldd int) {
	if kh < 1 || seg < 0 || rs < 0 || step < 0 || ldd < 0 || min(o0, o1, o2, o3) < 0 ||
		max(o0, o1, o2, o3)+(mt-1)*step+(kh-1)*rs+seg > len(x) || len(bp) < kh*seg*gemmNR ||
		len(dst) < (gemmMR*mt-1)*ldd+gemmNR {
		panic("kernels: direct conv tile out of bounds")
	}
}
