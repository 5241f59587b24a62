package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/edgenn/edgenn/data"
	"github.com/edgenn/edgenn/engine"
	"github.com/edgenn/edgenn/model"
)

// loadDataset reads --data: "mnist" (split train or test) or a folder of
// labelled images shaped for the model's input.
func loadDataset(spec, split string, shape []int) (*data.Dataset, error) {
	if spec == "mnist" {
		return data.MNIST(split)
	}
	if len(shape) != 3 {
		return nil, fmt.Errorf("an image folder needs a model input of shape [N,H,W,C], got %v", shape)
	}
	return data.ReadImageFolder(spec, shape, shape[2] == 1)
}

// modelArg reads a zoo name or an .enn file.
func modelArg(spec string) (*model.Graph, error) {
	if strings.HasSuffix(spec, ".enn") {
		g, _, err := loadModel(spec)
		return g, err
	}
	return model.Zoo(spec)
}

func cmdTrain(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	modelSpec := fs.String("model", "lenet5", "zoo name or FILE.enn to start from")
	dataSpec := fs.String("data", "mnist", `"mnist" or a folder with one subfolder of images per class`)
	out := fs.String("o", "", "output .enn (written atomically after every epoch)")
	epochs := fs.Int("epochs", 5, "epochs")
	batch := fs.Int("batch", 32, "batch size")
	opt := fs.String("optimizer", "sgd", "sgd or adam")
	lr := fs.Float64("lr", 0.05, "learning rate")
	momentum := fs.Float64("momentum", 0.9, "SGD momentum")
	decay := fs.Float64("weight-decay", 0, "weight decay (AdamW-style for adam)")
	schedule := fs.String("schedule", "cosine", "constant, cosine or step (halve every epoch)")
	clip := fs.Float64("clip", 0, "clip gradients to this global L2 norm (0: off)")
	trainable := fs.String("trainable", "", "comma-separated name prefixes of the tensors to train (default: all)")
	seed := fs.Uint64("seed", 1, "seed of the shuffling and the dropout masks")
	quiet := fs.Bool("quiet", false, "no progress bar")
	state := fs.Bool("save-optimizer", false, "keep the optimiser state in the file, so that training from it resumes exactly")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-o FILE.enn is required")
	}
	g, err := modelArg(*modelSpec)
	if err != nil {
		return err
	}
	var o engine.Optimizer
	switch *opt {
	case "sgd":
		o = engine.SGD{LR: float32(*lr), Momentum: float32(*momentum), WeightDecay: float32(*decay)}
	case "adam":
		o = engine.Adam{LR: float32(*lr), WeightDecay: float32(*decay), Decoupled: *decay > 0}
	default:
		return fmt.Errorf("unknown optimizer %q (sgd or adam)", *opt)
	}
	var prefixes []string
	if *trainable != "" {
		prefixes = strings.Split(*trainable, ",")
	}
	tr, err := engine.NewTrainer(g, engine.TrainOptions{Batch: *batch, Optimizer: o, Trainable: prefixes, Seed: *seed})
	if err != nil {
		return err
	}
	shape := g.Inputs[0].Shape[1:]
	train, err := loadDataset(*dataSpec, "train", shape)
	if err != nil {
		return err
	}
	var eval *data.Dataset
	if *dataSpec == "mnist" {
		if eval, err = data.MNIST("test"); err != nil {
			return err
		}
	} else {
		train, eval = train.Split(train.Len() * 9 / 10) // hold out a tenth
	}
	meta := map[string]string{}
	for k, v := range g.Metadata {
		meta[k] = v
	}
	meta["training"] = "edgenn train " + strings.Join(args, " ")
	meta["source"] = "trained by edgenn train from " + *modelSpec
	meta["licence"] = "trained weights: follow the training data's terms"
	if *dataSpec == "mnist" {
		meta["labels"] = "0,1,2,3,4,5,6,7,8,9"
		meta["data"] = "MNIST (Yann LeCun, Corinna Cortes; CC BY-SA 3.0), from the Go module " + data.MNISTModule + "@" + data.MNISTVersion
		meta["preprocessing"] = "28x28x1 float32 pixels in [0,1], white digit on black, as in MNIST"
	} else {
		meta["labels"] = strings.Join(train.Labels, ",")
	}
	var sched engine.Schedule
	steps := train.Len() / *batch
	switch *schedule {
	case "constant":
	case "cosine":
		sched = engine.Cosine(0.02)
	case "step":
		sched = engine.StepDecay(steps, 0.5)
	default:
		return fmt.Errorf("unknown schedule %q", *schedule)
	}
	fmt.Fprintf(stdout, "training %s on %d examples (%s), evaluating on %d; %d epochs of %d steps, batch %d, %s lr %g\n",
		g.Name, train.Len(), *dataSpec, eval.Len(), *epochs, steps, *batch, *opt, *lr)
	start := time.Now()
	var lastDraw time.Time
	onBatch := func(e, s, n int, loss float64) {
		if *quiet || (time.Since(lastDraw) < 200*time.Millisecond && s != n-1) {
			return
		}
		lastDraw = time.Now()
		const width = 30
		done := width * (s + 1) / n
		fmt.Fprintf(os.Stderr, "\repoch %d/%d [%s%s] %d/%d loss %.4f", e+1, *epochs, strings.Repeat("=", done), strings.Repeat(" ", width-done), s+1, n, loss)
	}
	onEpoch := func(st engine.EpochStats) error {
		if !*quiet {
			fmt.Fprintln(os.Stderr)
		}
		fmt.Fprintf(stdout, "epoch %d: train loss %.4f, eval loss %.4f, eval accuracy %.2f%% (%.0f s)\n",
			st.Epoch, st.Loss, st.EvalLoss, 100*st.EvalAccuracy, time.Since(start).Seconds())
		trained := tr.Checkpoint(*state)
		if trained.Metadata == nil {
			trained.Metadata = map[string]string{}
		}
		for k, v := range meta {
			trained.Metadata[k] = v
		}
		enc, err := model.Encode(trained)
		if err != nil {
			return err
		}
		return writeFileAtomic(*out, enc)
	}
	stats, err := tr.Fit(train, engine.FitOptions{Epochs: *epochs, Seed: *seed, Schedule: sched, ClipNorm: float32(*clip),
		Eval: eval, OnBatch: onBatch, OnEpoch: onEpoch})
	if err != nil {
		if len(stats) > 0 {
			return fmt.Errorf("%w (%s holds epoch %d)", err, *out, len(stats))
		}
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return nil
}

func cmdEval(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	dataSpec := fs.String("data", "mnist", `"mnist" (the 10,000 test images) or a folder of labelled images`)
	pos, err := parseArgs(fs, args, "FILE.enn")
	if err != nil {
		return err
	}
	g, _, err := loadModel(pos[0])
	if err != nil {
		return err
	}
	ds, err := loadDataset(*dataSpec, "test", g.Inputs[0].Shape[1:])
	if err != nil {
		return err
	}
	s, err := engine.NewSession(g)
	if err != nil {
		return err
	}
	loss, acc, err := engine.Evaluate(s, ds)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s on %d examples (%s): accuracy %.2f%%, loss %.4f\n", pos[0], ds.Len(), *dataSpec, 100*acc, loss)
	return nil
}
