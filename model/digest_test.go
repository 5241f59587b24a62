//go:build !(js && wasm)

package model

import "testing"

func TestDigest(t *testing.T) {
	// sha256("abc"), FIPS 180-2 appendix B.1.
	if got := Digest([]byte("abc")); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Digest(abc) = %s", got)
	}
	g, err := Zoo("lenet5")
	if err != nil {
		t.Fatal(err)
	}
	a, _ := Encode(g)
	g2, _ := Zoo("lenet5")
	b, _ := Encode(g2)
	if Digest(a) != Digest(b) {
		t.Fatal("two encodings of the same zoo model have different digests")
	}
}
