package kernels

// gemmPanelScalar is the scalar twin of the SIMD panel micro-kernel (see
// gemmPanel). It keeps the same per-element order: sum from zero over p with
// a separate rounding after each multiply (float32(x*y) forbids FMA fusion),
// then add the bias, then clamp.
func gemmPanelScalar(k, mt int, a []float32, lda int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	gemmPanelResScalar(k, mt, a, lda, bp, bias, lo, hi, dst, ldd, nil)
}

// gemmPanelResScalar is the scalar twin of gemmPanelRes: gemmPanelScalar
// adding res[r*ldd+j] (nil: nothing) after the bias and before the clamps.
func gemmPanelResScalar(k, mt int, a []float32, lda int, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32, ldd int, res []float32) {
	for r := 0; r < mt*gemmMR; r++ {
		var rr []float32
		if res != nil {
			rr = res[r*ldd:]
		}
		gemmRowResScalar(k, a[r*lda:], bp, bias, lo, hi, dst[r*ldd:], rr)
	}
}

// gemmPanel2Scalar is gemmPanelScalar on two consecutive panels.
func gemmPanel2Scalar(k, mt int, a []float32, lda int, bp []float32, bias *[2 * gemmNR]float32, lo, hi float32, dst []float32, ldd int) {
	gemmPanelScalar(k, mt, a, lda, bp, (*[gemmNR]float32)(bias[:gemmNR]), lo, hi, dst, ldd)
	gemmPanelScalar(k, mt, a, lda, bp[k*gemmNR:], (*[gemmNR]float32)(bias[gemmNR:]), lo, hi, dst[gemmNR:], ldd)
}

// gemmRow4Scalar is gemmRowScalar on gemmRowPanels consecutive panels.
func gemmRow4Scalar(k int, a []float32, bp []float32, bias *[gemmRowPanels * gemmNR]float32, lo, hi float32, dst []float32) {
	for q := 0; q < gemmRowPanels; q++ {
		gemmRowScalar(k, a, bp[q*k*gemmNR:], (*[gemmNR]float32)(bias[q*gemmNR:]), lo, hi, dst[q*gemmNR:])
	}
}

// gemmRowScalar computes one row of gemmTile: dst[j] = min(max(sum_p
// a[p]*bp[p*8+j] + bias[j], lo), hi) for j < 8.
func gemmRowScalar(k int, a []float32, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst []float32) {
	gemmRowResScalar(k, a, bp, bias, lo, hi, dst, nil)
}

// gemmRowResScalar is gemmRowScalar adding res[j] (nil: nothing) to each sum
// plus bias, before the clamps.
func gemmRowResScalar(k int, a []float32, bp []float32, bias *[gemmNR]float32, lo, hi float32, dst, res []float32) {
	a = a[:k:k]
	bp = bp[: k*gemmNR : k*gemmNR]
	var c0, c1, c2, c3, c4, c5, c6, c7 float32
	for p, av := range a {
		b := bp[p*gemmNR : p*gemmNR+gemmNR : p*gemmNR+gemmNR]
		c0 += float32(av * b[0])
		c1 += float32(av * b[1])
		c2 += float32(av * b[2])
		c3 += float32(av * b[3])
		c4 += float32(av * b[4])
		c5 += float32(av * b[5])
		c6 += float32(av * b[6])
		c7 += float32(av * b[7])
	}
	c0, c1, c2, c3 = c0+bias[0], c1+bias[1], c2+bias[2], c3+bias[3]
	c4, c5, c6, c7 = c4+bias[4], c5+bias[5], c6+bias[6], c7+bias[7]
	if res != nil {
		r := res[:gemmNR:gemmNR]
		c0, c1, c2, c3 = c0+r[0], c1+r[1], c2+r[2], c3+r[3]
		c4, c5, c6, c7 = c4+r[4], c5+r[5], c6+r[6], c7+r[7]
	}
	d := dst[:gemmNR:gemmNR]
	d[0] = min(max(c0, lo), hi)
	d[1] = min(max(c1, lo), hi)
	d[2] = min(max(c2, lo), hi)
	d[3] = min(max(c3, lo), hi)
	d[4] = min(max(c4, lo), hi)
	d[5] = min(max(c5, lo), hi)
	d[6] = min(max(c6, lo), hi)
	d[7] = min(max(c7, lo), hi)
}
