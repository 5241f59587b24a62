package kernels

import "math"

// BatchNormTrain computes batch normalisation in training mode over the last
// axis: x and y are [rows, c] (NHWC with every axis but the channel
// flattened into rows); per channel j it takes the batch mean m_j and the
// biased batch variance v_j (divided by rows) over the rows, and writes
// y = (x - m_j) * (scale_j/sqrt(v_j+eps)) + bias_j, rounding as BatchNorm
// does. saveMean and saveInvStd (c values each, required) receive m_j and
// 1/sqrt(v_j+eps) for BatchNormTrainGrad.
//
// The running statistics follow Keras 3 and TensorFlow.js layers:
// run = run*momentum + batch*(1-momentum) with the biased batch variance
// (TensorFlow's fused kernel and PyTorch use the unbiased one for runVar;
// converting a checkpoint between them is a factor rows/(rows-1)).
// runMean and runVar are updated in place, in float64 rounded once; either
// may be nil to skip its update.
//
// The statistics are two passes in float64 (mean, then squared deviations
// from it), channels 256 at a time on the stack. y may be x. rows must be at
// least 1. It does not allocate.
func BatchNormTrain(x, y []float32, rows, c int, scale, bias, runMean, runVar []float32, momentum, eps float32, saveMean, saveInvStd []float32) {
	if rows <= 0 || c <= 0 {
		return
	}
	x, y = x[:rows*c], y[:rows*c]
	scale, bias, saveMean, saveInvStd = scale[:c], bias[:c], saveMean[:c], saveInvStd[:c]
	mom := float64(momentum)
	var sum, sq [bnChunk]float64
	var m, a [bnChunk]float32
	for c0 := 0; c0 < c; c0 += bnChunk {
		cn := min(bnChunk, c-c0)
		clear(sum[:cn])
		clear(sq[:cn])
		for o := c0; o < len(x); o += c {
			for j, v := range x[o : o+cn] {
				sum[j] += float64(v)
			}
		}
		for j := range cn {
			sum[j] /= float64(rows) // now the mean
		}
		for o := c0; o < len(x); o += c {
			for j, v := range x[o : o+cn] {
				d := float64(v) - sum[j]
				sq[j] += d * d
			}
		}
		for j := range cn {
			mean, variance := sum[j], sq[j]/float64(rows)
			inv := 1 / math.Sqrt(variance+float64(eps))
			m[j] = float32(mean)
			a[j] = float32(float64(scale[c0+j]) * inv)
			saveMean[c0+j] = float32(mean)
			saveInvStd[c0+j] = float32(inv)
			if runMean != nil {
				runMean[c0+j] = float32(float64(runMean[c0+j])*mom + mean*(1-mom))
			}
			if runVar != nil {
				runVar[c0+j] = float32(float64(runVar[c0+j])*mom + variance*(1-mom))
			}
		}
		b := bias[c0 : c0+cn]
		for o := c0; o < len(x); o += c {
			xr, yr := x[o:o+cn], y[o:o+cn]
			for j, v := range xr {
				yr[j] = float32((v-m[j])*a[j]) + b[j]
			}
		}
	}
}

// BatchNormTrainGrad computes the gradients of BatchNormTrain's output with
// respect to x, scale and bias, given dy (the output's gradient) and the
// statistics BatchNormTrain saved. With xhat = (x-m)*invStd and N = rows:
//
//	dbias_j  = sum over rows of dy
//	dscale_j = sum over rows of dy*xhat
//	dx       = scale_j*invStd_j/N * (N*dy - dbias_j - xhat*dscale_j)
//
// (the mean and variance depend on x, hence the two correction terms). The
// sums are float64 and rounded once; dx is computed in float64 per element
// and rounded once. x, dy and dx are [rows, c]; dx may be dy or x. dscale and
// dbias (c values) are overwritten, and either may be nil when not wanted.
// It does not allocate.
func BatchNormTrainGrad(x, dy []float32, rows, c int, scale, saveMean, saveInvStd, dx, dscale, dbias []float32) {
	if rows <= 0 || c <= 0 {
		return
	}
	x, dy, dx = x[:rows*c], dy[:rows*c], dx[:rows*c]
	scale, saveMean, saveInvStd = scale[:c], saveMean[:c], saveInvStd[:c]
	var sb, ss [bnChunk]float64
	n := float64(rows)
	for c0 := 0; c0 < c; c0 += bnChunk {
		cn := min(bnChunk, c-c0)
		clear(sb[:cn])
		clear(ss[:cn])
		m, is := saveMean[c0:c0+cn], saveInvStd[c0:c0+cn]
		for o := c0; o < len(x); o += c {
			xr, gr := x[o:o+cn], dy[o:o+cn]
			for j, g := range gr {
				xh := (float64(xr[j]) - float64(m[j])) * float64(is[j])
				sb[j] += float64(g)
				ss[j] += float64(g) * xh
			}
		}
		for j := range cn {
			if dbias != nil {
				dbias[c0+j] = float32(sb[j])
			}
			if dscale != nil {
				dscale[c0+j] = float32(ss[j])
			}
		}
		for o := c0; o < len(x); o += c {
			xr, gr, dr := x[o:o+cn], dy[o:o+cn], dx[o:o+cn]
			for j := range dr {
				inv := float64(is[j])
				xh := (float64(xr[j]) - float64(m[j])) * inv
				k := float64(scale[c0+j]) * inv / n
				dr[j] = float32(k * (n*float64(gr[j]) - sb[j] - xh*ss[j]))
			}
		}
	}
}
