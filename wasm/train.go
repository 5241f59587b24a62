//go:build js && wasm

package main

import (
	"errors"
	"strconv"
	"strings"
	"syscall/js"

	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
)

// trainer is an engine.Trainer whose batch size follows the calls: a step or
// fit with another batch rebuilds it from its own checkpoint, optimiser state
// included, so training continues exactly where it was.
type trainer struct {
	t    *engine.Trainer
	opts engine.TrainOptions
	item int // float32 values per example
	// The fit in progress (fitBegin to fitEnd): its examples (eval may be
	// nil) and the options of the whole run, which fitEpoch runs a slice of.
	train, eval *examples
	fit         engine.FitOptions
}

func (tr *trainer) resize(batch int) error {
	if batch == tr.opts.Batch {
		return nil
	}
	o := tr.opts
	o.Batch = batch
	t, err := engine.NewTrainer(tr.t.Checkpoint(true), o)
	if err != nil {
		return err
	}
	tr.t, tr.opts = t, o
	return nil
}

// examples is a labelled dataset held in Go memory: engine.Examples over
// one bulk copy of the caller's Float32Array and Int32Array.
type examples struct {
	x    []float32
	y    []int32
	size int
}

func (d *examples) Len() int                         { return len(d.y) }
func (d *examples) Size() int                        { return d.size }
func (d *examples) Example(i int) ([]float32, int32) { return d.x[i*d.size : (i+1)*d.size], d.y[i] }
func (d *examples) Batch(idx []int, x []float32, y []int32) {
	for j, i := range idx {
		copy(x[j*d.size:(j+1)*d.size], d.x[i*d.size:])
		y[j] = d.y[i]
	}
}

// examplesArg reads args[0] (Float32Array, examples of size values
// concatenated) and args[1] (Int32Array, one label per example).
func examplesArg(args []js.Value, size int) (*examples, error) {
	if len(args) < 2 {
		return nil, errors.New("expected examples (Float32Array) and labels (Int32Array)")
	}
	x, err := floatsArg(args[0], "examples")
	if err != nil {
		return nil, err
	}
	y, err := labelsArg(args[1], "labels")
	if err != nil {
		return nil, err
	}
	if len(y) == 0 || len(x) != len(y)*size {
		return nil, errors.New(strconv.Itoa(len(y)) + " labels need " + strconv.Itoa(len(y)*size) + " example values (" +
			strconv.Itoa(size) + " per example), got " + strconv.Itoa(len(x)))
	}
	return &examples{x: x, y: y, size: size}, nil
}

// option returns o[key] if it is of type t; ok is false when it is
// undefined or null, and err says what it must be when it is anything else.
func option(o js.Value, key string, t js.Type) (v js.Value, ok bool, err error) {
	v = o.Get(key)
	switch v.Type() {
	case js.TypeUndefined, js.TypeNull:
		return v, false, nil
	case t:
		return v, true, nil
	}
	return v, false, errors.New("trainer option " + key + " must be a " + t.String())
}

// optNumber reads o[key] as a number, def when it is not set.
func optNumber(o js.Value, key string, def float64) (float64, error) {
	v, ok, err := option(o, key, js.TypeNumber)
	if !ok {
		return def, err
	}
	return v.Float(), nil
}

func optString(o js.Value, key, def string) (string, error) {
	v, ok, err := option(o, key, js.TypeString)
	if !ok {
		return def, err
	}
	return v.String(), nil
}

// trainOptions reads the JS trainer options: optimizer ("sgd", "adam",
// "adamw"), lr, momentum, nesterov, weightDecay, beta1, beta2, epsilon,
// trainable (name prefixes), batchSize, loss and seed.
func trainOptions(o js.Value) (engine.TrainOptions, error) {
	var to engine.TrainOptions
	if o.Type() != js.TypeObject {
		o = jsObject.New()
	}
	name, err := optString(o, "optimizer", "sgd")
	if err != nil {
		return to, err
	}
	if to.Loss, err = optString(o, "loss", ""); err != nil {
		return to, err
	}
	defLR, defWD := 0.01, 0.0
	switch name {
	case "sgd":
	case "adam":
		defLR = 1e-3
	case "adamw":
		defLR, defWD = 1e-3, 0.01
	default:
		return to, errors.New("unknown optimizer " + strconv.Quote(name) + " (sgd, adam or adamw)")
	}
	var f [8]float64
	for i, k := range [...]struct {
		key string
		def float64
	}{{"lr", defLR}, {"momentum", 0}, {"weightDecay", defWD}, {"beta1", 0}, {"beta2", 0}, {"epsilon", 0}, {"batchSize", 32}, {"seed", 0}} {
		if f[i], err = optNumber(o, k.key, k.def); err != nil {
			return to, err
		}
	}
	lr, mom, wd := float32(f[0]), float32(f[1]), float32(f[2])
	if name == "sgd" {
		to.Optimizer = engine.SGD{LR: lr, Momentum: mom, WeightDecay: wd, Nesterov: o.Get("nesterov").Truthy()}
	} else {
		to.Optimizer = engine.Adam{LR: lr, Beta1: float32(f[3]), Beta2: float32(f[4]), Epsilon: float32(f[5]),
			WeightDecay: wd, Decoupled: name == "adamw"}
	}
	to.Batch, to.Seed = int(f[6]), uint64(f[7])
	if tr := o.Get("trainable"); tr.Truthy() {
		if !tr.InstanceOf(js.Global().Get("Array")) {
			return to, errors.New("trainer option trainable must be an array of name prefixes")
		}
		to.Trainable = make([]string, tr.Length())
		for i := range to.Trainable {
			if tr.Index(i).Type() != js.TypeString {
				return to, errors.New("trainer option trainable must be an array of name prefixes")
			}
			to.Trainable[i] = tr.Index(i).String()
		}
	}
	return to, nil
}

// newTrainer(handle, options) -> trainer handle.
func newTrainer(m *loaded, args []js.Value) (any, error) {
	var o js.Value
	if len(args) > 0 {
		o = args[0]
	}
	to, err := trainOptions(o)
	if err != nil {
		return nil, err
	}
	t, err := engine.NewTrainer(m.g, to)
	if err != nil {
		return nil, err
	}
	id := newHandle()
	trainers[id] = &trainer{t: t, opts: to, item: perExample(m.s.Inputs()[0].Shape)}
	return id, nil
}

// step(trainer, xs, labels | targets) -> the batch's mean loss. The batch
// size is the number of examples in xs.
func step(tr *trainer, args []js.Value) (any, error) {
	if len(args) != 2 {
		return nil, errors.New("step takes a trainer, examples and labels (or targets)")
	}
	x, err := floatsArg(args[0], "examples")
	if err != nil {
		return nil, err
	}
	if len(x) == 0 || len(x)%tr.item != 0 {
		return nil, errors.New("step got " + strconv.Itoa(len(x)) + " example values, not a whole number of examples of " + strconv.Itoa(tr.item))
	}
	var labels []int32
	var targets []float32
	if tr.opts.Loss == "mse" {
		targets, err = floatsArg(args[1], "targets")
	} else {
		labels, err = labelsArg(args[1], "labels")
	}
	if err != nil {
		return nil, err
	}
	if err := tr.resize(len(x) / tr.item); err != nil {
		return nil, err
	}
	loss, err := tr.t.Step(x, labels, targets)
	return loss, err
}

// fitBegin(trainer, batchSize, xs, labels, evalXs, evalLabels, epochs, seed,
// schedule, clipNorm) copies the examples in for the fitEpoch calls that
// follow and returns the batch size used: batchSize, or the number of
// examples when there are fewer. evalXs may be undefined; schedule is "",
// "cosine FLOOR" or "step EVERY GAMMA" (edgenn.js checks it).
func fitBegin(tr *trainer, args []js.Value) (any, error) {
	if len(args) < 9 || args[0].Type() != js.TypeNumber || args[5].Type() != js.TypeNumber ||
		args[6].Type() != js.TypeNumber || args[7].Type() != js.TypeString || args[8].Type() != js.TypeNumber {
		return nil, errors.New("fitBegin takes a trainer, a batch size, examples, labels, validation, epochs, a seed, a schedule and a clip norm")
	}
	train, err := examplesArg(args[1:], tr.item)
	if err != nil {
		return nil, err
	}
	var eval *examples
	if args[3].Truthy() {
		if eval, err = examplesArg(args[3:], tr.item); err != nil {
			return nil, errors.New("validation: " + err.Error())
		}
	}
	o := engine.FitOptions{Epochs: args[5].Int(), Seed: uint64(args[6].Float()), ClipNorm: float32(args[8].Float())}
	if o.Schedule, err = parseSchedule(args[7].String()); err != nil {
		return nil, err
	}
	if eval != nil {
		o.Eval = eval
	}
	batch := min(args[0].Int(), train.Len())
	if err := tr.resize(batch); err != nil {
		return nil, err
	}
	tr.train, tr.eval, tr.fit = train, eval, o
	return batch, nil
}

// parseSchedule reads fitBegin's schedule argument.
func parseSchedule(s string) (engine.Schedule, error) {
	f := strings.Fields(s)
	num := func(i int) float64 {
		v, err := strconv.ParseFloat(f[i], 32)
		if err != nil {
			return -1
		}
		return v
	}
	switch {
	case len(f) == 0:
		return nil, nil
	case f[0] == "cosine" && len(f) == 2 && num(1) >= 0 && num(1) <= 1:
		return engine.Cosine(float32(num(1))), nil
	case f[0] == "step" && len(f) == 3 && num(1) >= 1 && num(2) > 0 && num(2) <= 1:
		return engine.StepDecay(int(num(1)), float32(num(2))), nil
	}
	return nil, errors.New("unknown schedule " + strconv.Quote(s))
}

// fitEpoch(trainer, epoch, onBatch) trains one epoch (numbered from 0) of
// the run fitBegin set up, exactly as that epoch of one engine.Fit over the
// whole run (same shuffle, same schedule position), and returns its stats.
// onBatch(epoch, step, steps, loss) is called after every step. Epochs are
// separate calls so that the worker can take messages (an abort) between
// them.
func fitEpoch(tr *trainer, args []js.Value) (any, error) {
	if tr.train == nil {
		return nil, errors.New("fitEpoch without fitBegin")
	}
	if len(args) < 1 || args[0].Type() != js.TypeNumber {
		return nil, errors.New("fitEpoch takes a trainer, an epoch and a callback")
	}
	epoch := args[0].Int()
	o := tr.fit
	o.FirstEpoch, o.EpochsNow = epoch, 1
	if len(args) > 1 && args[1].Type() == js.TypeFunction {
		cb := args[1]
		o.OnBatch = func(_, s, steps int, loss float64) { cb.Invoke(epoch, s, steps, loss) }
	}
	st, err := tr.t.Fit(tr.train, o)
	if err != nil {
		return nil, err
	}
	r := map[string]any{"epoch": epoch + 1, "loss": st[0].Loss}
	if tr.eval != nil {
		r["evalLoss"], r["evalAccuracy"] = st[0].EvalLoss, st[0].EvalAccuracy
	}
	return r, nil
}

func fitEnd(tr *trainer, _ []js.Value) (any, error) {
	tr.train, tr.eval, tr.fit = nil, nil, engine.FitOptions{}
	return nil, nil
}

// trainerEvaluate(trainer, xs, labels) measures the current weights.
func trainerEvaluate(tr *trainer, args []js.Value) (any, error) {
	ds, err := examplesArg(args, tr.item)
	if err != nil {
		return nil, err
	}
	return scores(tr.t.Evaluate(ds))
}

// save(trainer, optimizerState, metadata) -> Uint8Array: the trained model
// as a .enn file, with the optimiser's state when asked (to resume training
// later) and metadata's string entries set in the file's metadata.
func save(tr *trainer, args []js.Value) (any, error) {
	g := tr.t.Checkpoint(len(args) > 0 && args[0].Truthy())
	if len(args) > 1 && args[1].Type() == js.TypeObject {
		keys := js.Global().Get("Object").Call("keys", args[1])
		for i := range keys.Length() {
			k := keys.Index(i).String()
			v := args[1].Get(k)
			if v.Type() != js.TypeString {
				return nil, errors.New("metadata " + strconv.Quote(k) + " is not a string")
			}
			if g.Metadata == nil {
				g.Metadata = map[string]string{}
			}
			g.Metadata[k] = v.String()
		}
	}
	b, err := model.Encode(g)
	if err != nil {
		return nil, err
	}
	out := uint8Array.New(len(b))
	js.CopyBytesToJS(out, b)
	return out, nil
}
