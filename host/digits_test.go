package main

import (
	"strings"
	"testing"

	"github.com/edgenn/edgenn/data"
	"github.com/edgenn/edgenn/engine"
)

// TestDigitsModel holds the committed digits model (README: the command
// that reproduces it) to at least 99% on the 10,000 MNIST test images.
func TestDigitsModel(t *testing.T) {
	g, _, err := loadModel("../www/models/digits.enn")
	if err != nil {
		t.Fatal(err)
	}
	if g.Metadata["labels"] != "0,1,2,3,4,5,6,7,8,9" || !strings.Contains(g.Metadata["training"], "--data mnist") {
		t.Errorf("metadata %v", g.Metadata)
	}
	test, err := data.MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	s, err := engine.NewSession(g)
	if err != nil {
		t.Fatal(err)
	}
	_, acc, err := engine.Evaluate(s, test)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("digits.enn: %.2f%% on the MNIST test set", 100*acc)
	if acc < 0.99 {
		t.Fatalf("accuracy %.4f, want at least 0.99", acc)
	}
}
