package main

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// imageFolder writes a two-class folder of 28x28 PNGs: bright squares on
// the left or on the right.
func imageFolder(t *testing.T) string {
	dir := t.TempDir()
	for c, name := range []string{"left", "right"} {
		os.MkdirAll(filepath.Join(dir, name), 0o755)
		for i := 0; i < 20; i++ {
			img := image.NewGray(image.Rect(0, 0, 28, 28))
			for y := 4 + i%6; y < 14+i%6; y++ {
				for x := 2 + 14*c; x < 12+14*c; x++ {
					img.SetGray(x, y, color.Gray{Y: uint8(150 + 5*i)})
				}
			}
			f, err := os.Create(filepath.Join(dir, name, strings.Repeat("a", i+1)+".png"))
			if err != nil {
				t.Fatal(err)
			}
			png.Encode(f, img)
			f.Close()
		}
	}
	return dir
}

// TestTrainAndEval trains LeNet-5 on an image folder with the train command,
// which must write a loadable model that eval scores on the same folder.
func TestTrainAndEval(t *testing.T) {
	dir := imageFolder(t)
	out := filepath.Join(t.TempDir(), "m.enn")
	log, err := run(t, "train", "--model", "lenet5", "--data", dir, "--epochs", "3", "--batch", "4", "--lr", "0.02", "--quiet", "-o", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"training lenet5 on 36 examples", "epoch 3: train loss", "wrote " + out} {
		if !strings.Contains(log, want) {
			t.Errorf("train output lacks %q:\n%s", want, log)
		}
	}
	res, err := run(t, "eval", out, "--data", dir)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res, "on 40 examples") || !strings.Contains(res, "accuracy") {
		t.Errorf("eval output %q", res)
	}
	g, _, err := loadModel(out)
	if err != nil {
		t.Fatal(err)
	}
	if g.Metadata["labels"] != "left,right" || !strings.HasPrefix(g.Metadata["training"], "edgenn train --model lenet5") {
		t.Errorf("metadata %v", g.Metadata)
	}
}

func TestTrainErrors(t *testing.T) {
	dir := imageFolder(t)
	out := filepath.Join(t.TempDir(), "m.enn")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"train", "--data", dir}, "-o FILE.enn is required"},
		{[]string{"train", "--data", dir, "--optimizer", "lion", "-o", out}, `unknown optimizer "lion"`},
		{[]string{"train", "--data", dir, "--trainable", "nope_", "-o", out}, `"nope_" matches no weight`},
		{[]string{"train", "--model", "resnet", "--data", dir, "-o", out}, "resnet"},
		{[]string{"train", "--data", filepath.Join(dir, "missing"), "-o", out}, "missing"},
		{[]string{"eval", out, "--data", dir}, "m.enn"},
	} {
		if _, err := run(t, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Error("a failed train left an output file")
	}
}
