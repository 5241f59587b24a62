package kernels

import (
	"errors"
	"math"
	"strconv"
)

// SoftmaxCrossEntropy computes the mean over n rows of the cross-entropy
// between softmax(logits row) and the row's label, and, unless dlogits is
// nil, writes the gradient of that mean: dlogits = (softmax(row) -
// onehot(label))/n. logits and dlogits are [n, classes] row major; labels
// holds n class indices. Each row's log-sum-exp is taken around the row's
// maximum in float64 (math.Exp, math.Log), so large logits neither overflow
// nor lose the loss; the loss is accumulated in float64 and each gradient
// element is computed in float64 and rounded once. dlogits may be the same
// slice as logits. Every label is checked before anything is written: the
// error names the first one outside [0, classes) and its row. It does not
// allocate.
func SoftmaxCrossEntropy(logits []float32, labels []int32, n, classes int, dlogits []float32) (float64, error) {
	if n <= 0 || classes <= 0 {
		return 0, nil
	}
	logits, labels = logits[:n*classes], labels[:n]
	for i, l := range labels {
		if l < 0 || int(l) >= classes {
			return 0, errors.New("kernels: SoftmaxCrossEntropy: label " + strconv.Itoa(int(l)) + " at row " +
				strconv.Itoa(i) + " out of range [0, " + strconv.Itoa(classes) + ")")
		}
	}
	if dlogits != nil {
		dlogits = dlogits[:n*classes]
	}
	inv := 1 / float64(n)
	var loss float64
	for i, l := range labels {
		row := logits[i*classes : (i+1)*classes]
		lse := logSumExp(row)
		loss += lse - float64(row[l])
		if dlogits == nil {
			continue
		}
		d := dlogits[i*classes : (i+1)*classes]
		for j, v := range row {
			p := math.Exp(float64(v) - lse)
			if j == int(l) {
				p--
			}
			d[j] = float32(p * inv)
		}
	}
	return loss * inv, nil
}

// logSumExp returns log(sum(exp(row))) in float64, around the row's maximum.
// A NaN in the row gives NaN; an infinite maximum gives it back.
func logSumExp(row []float32) float64 {
	m := row[0]
	for _, v := range row {
		m = max(m, v)
	}
	mf := float64(m)
	if math.IsInf(mf, 0) {
		return mf
	}
	var s float64
	for _, v := range row {
		s += math.Exp(float64(v) - mf)
	}
	return mf + math.Log(s)
}

// SoftmaxCrossEntropySoft is SoftmaxCrossEntropy with a target distribution
// per row instead of a label: targets is [n, classes] (rows of
// probabilities), the row loss is -sum_j t_j*log(softmax_j) and the gradient
// of the mean is (softmax_j*sum_j(t_j) - t_j)/n, which is (softmax - t)/n
// when the row sums to 1 (the exact form is kept so that the gradient is the
// loss's for any targets). Accumulation and rounding as SoftmaxCrossEntropy;
// dlogits may be nil or the same slice as logits (not targets). It does not
// allocate.
func SoftmaxCrossEntropySoft(logits, targets []float32, n, classes int, dlogits []float32) float64 {
	if n <= 0 || classes <= 0 {
		return 0
	}
	logits, targets = logits[:n*classes], targets[:n*classes]
	if dlogits != nil {
		dlogits = dlogits[:n*classes]
	}
	inv := 1 / float64(n)
	var loss float64
	for i := range n {
		row := logits[i*classes : (i+1)*classes]
		t := targets[i*classes : (i+1)*classes]
		lse := logSumExp(row)
		var tsum float64
		for j, v := range row {
			tj := float64(t[j])
			tsum += tj
			if tj != 0 { // 0*log(p) counts as 0 even where log(p) is -Inf
				loss += tj * (lse - float64(v))
			}
		}
		if dlogits == nil {
			continue
		}
		d := dlogits[i*classes : (i+1)*classes]
		for j, v := range row {
			p := math.Exp(float64(v) - lse)
			d[j] = float32((p*tsum - float64(t[j])) * inv)
		}
	}
	return loss * inv
}

// MSE returns the mean over all elements of (pred-target)^2, accumulated in
// float64, and, unless dpred is nil, writes its gradient dpred =
// 2*(pred-target)/len(pred), each element in float64 rounded once. target
// holds len(pred) elements; dpred may be the same slice as pred. It does not
// allocate.
func MSE(pred, target []float32, dpred []float32) float64 {
	n := len(pred)
	if n == 0 {
		return 0
	}
	target = target[:n]
	if dpred != nil {
		dpred = dpred[:n]
	}
	k := 2 / float64(n)
	var s float64
	for i, p := range pred {
		d := float64(p) - float64(target[i])
		s += d * d
		if dpred != nil {
			dpred[i] = float32(d * k)
		}
	}
	return s / float64(n)
}
