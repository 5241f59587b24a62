package engine

import (
	"errors"
	"math"
	"strconv"

	"github.com/edgenn/edgenn/kernels"
	"github.com/edgenn/edgenn/model"
)

// Schedule gives the learning-rate multiplier for a step (counting from 0)
// of a run of total steps.
type Schedule func(step, total int) float32

// StepDecay multiplies the rate by gamma every `every` steps.
func StepDecay(every int, gamma float32) Schedule {
	return func(step, _ int) float32 {
		if every <= 0 {
			return 1
		}
		return float32(math.Pow(float64(gamma), float64(step/every)))
	}
}

// Cosine decays the rate from 1 to floor along half a cosine over the run.
func Cosine(floor float32) Schedule {
	return func(step, total int) float32 {
		if total <= 1 {
			return 1
		}
		c := 0.5 * (1 + math.Cos(math.Pi*float64(step)/float64(total-1)))
		return floor + (1-floor)*float32(c)
	}
}

// Examples is a labelled dataset as Fit and Evaluate read it; data.Dataset
// is one. (engine does not import package data: its MNIST and image-folder
// readers would add os/exec, crypto and image decoders to the browser
// module.)
type Examples interface {
	Len() int                                    // number of examples
	Size() int                                   // float32 values per example
	Example(i int) ([]float32, int32)            // one example and its label
	Batch(indices []int, x []float32, y []int32) // fills caller buffers
}

// shuffle fills perm with a permutation of 0..len(perm)-1 drawn from seed
// (Fisher-Yates over kernels.RNG): the same on every platform.
func shuffle(seed uint64, perm []int) {
	for i := range perm {
		perm[i] = i
	}
	r := kernels.NewRNG(seed)
	for i := len(perm) - 1; i > 0; i-- {
		j := int(uint64(r.Uint32()) * uint64(i+1) >> 32)
		perm[i], perm[j] = perm[j], perm[i]
	}
}

// FitOptions configure Trainer.Fit.
type FitOptions struct {
	Epochs   int
	Seed     uint64   // shuffling: the same seed gives the same batches everywhere
	Schedule Schedule // nil keeps the optimiser's rate
	// ClipNorm, when positive, scales the gradients so that their global L2
	// norm is at most ClipNorm.
	ClipNorm float32
	// Eval, when set, is evaluated after every epoch.
	Eval Examples
	// OnBatch, when set, is called after every step (progress bars).
	OnBatch func(epoch, step, steps int, loss float64)
	// OnEpoch, when set, is called after every epoch; an error stops Fit.
	OnEpoch func(EpochStats) error
	// FirstEpoch and EpochsNow run a slice of the Epochs-epoch run: epochs
	// FirstEpoch to FirstEpoch+EpochsNow-1 (counted from 0; EpochsNow 0
	// means to the end), with the whole run's shuffles and schedule. A
	// caller that must do other work between epochs (a browser worker
	// answering messages) gets, slice by slice, the run a single Fit gives.
	FirstEpoch, EpochsNow int
}

// EpochStats summarise one epoch of Fit.
type EpochStats struct {
	Epoch        int
	Loss         float64 // mean training loss over the epoch's steps
	EvalLoss     float64 // on FitOptions.Eval, when set
	EvalAccuracy float64
}

// Fit trains for o.Epochs epochs over ds in shuffled batches of the
// trainer's batch size (a last partial batch is left out). If a step's loss
// is not finite, or more than 1e3 times the first step's (at least 1), Fit stops,
// restores the weights of the last completed epoch (or the start) and
// returns an error saying so, so that a diverging run never overwrites a
// good model.
func (t *Trainer) Fit(ds Examples, o FitOptions) ([]EpochStats, error) {
	if err := t.checkDataset(ds); err != nil {
		return nil, err
	}
	if o.Epochs < 1 {
		return nil, errors.New("engine: Fit needs at least one epoch")
	}
	last := o.Epochs
	if o.EpochsNow > 0 {
		last = o.FirstEpoch + o.EpochsNow
	}
	if o.FirstEpoch < 0 || o.EpochsNow < 0 || o.FirstEpoch >= o.Epochs || last > o.Epochs {
		return nil, errors.New("engine: Fit epochs " + strconv.Itoa(o.FirstEpoch) + " to " + strconv.Itoa(last-1) +
			" are not within a run of " + strconv.Itoa(o.Epochs))
	}
	b := t.opts.Batch
	steps := ds.Len() / b
	if steps == 0 {
		return nil, errors.New("engine: the dataset has " + strconv.Itoa(ds.Len()) + " examples, fewer than one batch of " + strconv.Itoa(b))
	}
	perm := make([]int, ds.Len())
	x, y := make([]float32, b*t.itemLen()), make([]int32, b)
	good := t.snapshot(nil)
	var stats []EpochStats
	defer func() { t.lrScale = 1 }()
	reference := math.Inf(1)
	total := o.Epochs * steps
	for e := o.FirstEpoch; e < last; e++ {
		shuffle(o.Seed+uint64(e), perm)
		sum := 0.0
		for s := 0; s < steps; s++ {
			if o.Schedule != nil {
				t.lrScale = o.Schedule(e*steps+s, total)
			}
			ds.Batch(perm[s*b:(s+1)*b], x, y)
			loss, err := t.lossAndGrad(x, y, nil)
			if e == o.FirstEpoch && s == 0 {
				reference = math.Max(loss, 1)
			}
			if err == nil && loss > 1e3*reference {
				err = errors.New("engine: the loss diverged (" + strconv.FormatFloat(loss, 'g', 4, 64) + " at epoch " +
					strconv.Itoa(e+1) + " step " + strconv.Itoa(s+1) + ")")
			}
			if err != nil {
				t.restore(good)
				return stats, errors.New(err.Error() + "; training stopped and the weights of the last completed epoch were kept")
			}
			if o.ClipNorm > 0 {
				t.clip(o.ClipNorm)
			}
			t.apply()
			sum += loss
			if o.OnBatch != nil {
				o.OnBatch(e, s, steps, loss)
			}
		}
		st := EpochStats{Epoch: e + 1, Loss: sum / float64(steps)}
		if o.Eval != nil {
			var err error
			if st.EvalLoss, st.EvalAccuracy, err = t.Evaluate(o.Eval); err != nil {
				return stats, err
			}
		}
		good = t.snapshot(good)
		stats = append(stats, st)
		if o.OnEpoch != nil {
			if err := o.OnEpoch(st); err != nil {
				return stats, err
			}
		}
	}
	return stats, nil
}

// Evaluate runs the current weights over ds (through a Session on Graph)
// and returns the mean cross-entropy and the accuracy.
func (t *Trainer) Evaluate(ds Examples) (loss, accuracy float64, err error) {
	if t.opts.Loss != "crossentropy" {
		return 0, 0, errors.New("engine: Evaluate measures classification (crossentropy) models")
	}
	if err := t.checkDataset(ds); err != nil {
		return 0, 0, err
	}
	s, err := NewSession(t.Graph())
	if err != nil {
		return 0, 0, err
	}
	return Evaluate(s, ds)
}

// Evaluate runs a classifier session over every example of ds, in chunks,
// and returns the mean cross-entropy of its output probabilities and its
// accuracy (argmax against the labels).
func Evaluate(s *Session, ds Examples) (loss, accuracy float64, err error) {
	if ds == nil || ds.Len() == 0 {
		return 0, 0, errors.New("engine: empty dataset")
	}
	if len(s.in) != 1 || s.in[0].perSample != ds.Size() {
		return 0, 0, errors.New("engine: dataset examples of " + strconv.Itoa(ds.Size()) + " values do not fit the model's input " +
			model.ShapeString(s.in[0].shape))
	}
	per := ds.Size()
	const chunk = 256
	idx := make([]int, 0, chunk)
	x, y := make([]float32, chunk*per), make([]int32, chunk)
	right := 0
	for start := 0; start < ds.Len(); start += chunk {
		idx = idx[:0]
		for i := start; i < min(start+chunk, ds.Len()); i++ {
			idx = append(idx, i)
		}
		n := len(idx)
		ds.Batch(idx, x[:n*per], y[:n])
		out, err := s.Run(x[:n*per])
		if err != nil {
			return 0, 0, err
		}
		probs := out[0]
		c := len(probs) / n
		for i := 0; i < n; i++ {
			row := probs[i*c : (i+1)*c]
			if int(y[i]) >= c {
				return 0, 0, errors.New("engine: label " + strconv.Itoa(int(y[i])) + " but the model has " + strconv.Itoa(c) + " classes")
			}
			best := 0
			for j, p := range row {
				if p > row[best] {
					best = j
				}
			}
			if best == int(y[i]) {
				right++
			}
			loss -= math.Log(math.Max(float64(row[y[i]]), 1e-30))
		}
	}
	return loss / float64(ds.Len()), float64(right) / float64(ds.Len()), nil
}

func (t *Trainer) itemLen() int { return len(t.input) / t.opts.Batch }

func (t *Trainer) checkDataset(ds Examples) error {
	if ds == nil || ds.Len() == 0 {
		return errors.New("engine: empty dataset")
	}
	if ds.Size() != t.itemLen() {
		return errors.New("engine: dataset examples of " + strconv.Itoa(ds.Size()) +
			" values do not fit the model's input of " + strconv.Itoa(t.itemLen()) + " values per example")
	}
	for i := 0; i < ds.Len(); i++ {
		x, y := ds.Example(i)
		for j, v := range x {
			if v != v || v > math.MaxFloat32 || v < -math.MaxFloat32 {
				return errors.New("engine: example " + strconv.Itoa(i) + " holds a non-finite value (" +
					strconv.FormatFloat(float64(v), 'g', -1, 32) + ") at element " + strconv.Itoa(j))
			}
		}
		if t.opts.Loss == "crossentropy" && (y < 0 || int(y) >= t.classes) {
			return errors.New("engine: example " + strconv.Itoa(i) + " has label " + strconv.Itoa(int(y)) +
				", outside the model's " + strconv.Itoa(t.classes) + " classes")
		}
	}
	return nil
}

// apply runs the optimiser on the gradients lossAndGrad left and pushes the
// new weights into the kernels.
func (t *Trainer) apply() {
	t.step++
	for _, p := range t.params {
		if p.written {
			t.opts.Optimizer.update(p, t.step, t.lrScale)
		}
	}
	t.sync()
}

// clip scales every written gradient so that their global L2 norm is at
// most maxNorm.
func (t *Trainer) clip(maxNorm float32) {
	var ss float64
	for _, p := range t.params {
		if p.written {
			for _, g := range p.g {
				ss += float64(g) * float64(g)
			}
		}
	}
	norm := math.Sqrt(ss)
	if norm <= float64(maxNorm) {
		return
	}
	f := float32(float64(maxNorm) / norm)
	for _, p := range t.params {
		if p.written {
			for i := range p.g {
				p.g[i] *= f
			}
		}
	}
}

// snapshot copies every parameter, optimiser state and running statistic
// into dst (allocated when nil) so that restore can go back to it.
func (t *Trainer) snapshot(dst [][]float32) [][]float32 {
	bufs := t.snapshotted()
	if dst == nil {
		dst = make([][]float32, len(bufs))
		for i, b := range bufs {
			dst[i] = make([]float32, len(b))
		}
	}
	for i, b := range bufs {
		copy(dst[i], b)
	}
	return dst
}

func (t *Trainer) restore(src [][]float32) {
	for i, b := range t.snapshotted() {
		copy(b, src[i])
	}
	t.sync()
}

// snapshotted lists the buffers snapshot and restore copy, in their order.
func (t *Trainer) snapshotted() [][]float32 {
	var bufs [][]float32
	for _, p := range t.params {
		bufs = append(bufs, p.w, p.m, p.v)
	}
	for _, name := range t.stateOrder {
		bufs = append(bufs, t.state[name])
	}
	return bufs
}
