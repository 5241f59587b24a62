package peer

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"
)

func pair(t *testing.T) (a, b *Channel) {
	t.Helper()
	ka, err := NewKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := NewKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if a, err = NewChannel(ka, kb.PublicKey().Bytes()); err != nil {
		t.Fatal(err)
	}
	if b, err = NewChannel(kb, ka.PublicKey().Bytes()); err != nil {
		t.Fatal(err)
	}
	fp := Fingerprint(ka.PublicKey().Bytes(), kb.PublicKey().Bytes())
	if fp != Fingerprint(kb.PublicKey().Bytes(), ka.PublicKey().Bytes()) {
		t.Fatal("fingerprints differ between the two sides")
	}
	if len(fp) != 6 || strings.Trim(fp, "0123456789") != "" {
		t.Fatalf("fingerprint %q is not six digits", fp)
	}
	return a, b
}

func TestSealOpen(t *testing.T) {
	a, b := pair(t)
	aad := []byte("p1>p2")
	for i, msg := range [][]byte{[]byte("activation"), {}, bytes.Repeat([]byte{7}, MaxPlaintext)} {
		f, err := a.Seal(msg, aad)
		if err != nil {
			t.Fatal(err)
		}
		if len(f) != len(msg)+SealOverhead {
			t.Fatalf("frame %d: %d bytes for %d of plaintext", i, len(f), len(msg))
		}
		if len(msg) >= 16 && bytes.Contains(f, msg[:16]) {
			t.Fatalf("frame %d holds its plaintext", i)
		}
		got, err := b.Open(f, aad)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("frame %d: open: %v", i, err)
		}
	}
	// The other direction has its own key and counter.
	f, _ := b.Seal([]byte("reply"), nil)
	if got, err := a.Open(f, nil); err != nil || string(got) != "reply" {
		t.Fatalf("reply: %q, %v", got, err)
	}
	if _, err := a.Seal(make([]byte, MaxPlaintext+1), nil); err == nil {
		t.Fatal("Seal took more than a frame holds")
	}
}

func TestOpenRefuses(t *testing.T) {
	a, b := pair(t)
	_, stranger := pair(t)
	f1, _ := a.Seal([]byte("first frame"), nil)
	f2, _ := a.Seal([]byte("second frame"), nil)
	f3, _ := a.Seal([]byte("third frame"), nil)
	own, _ := b.Seal([]byte("b's own frame"), nil)

	tampered := bytes.Clone(f1)
	tampered[len(tampered)-20] ^= 1
	counter := bytes.Clone(f1)
	counter[7] ^= 2
	tests := []struct {
		name  string
		frame []byte
		aad   []byte
		want  string
	}{
		{"tampered ciphertext", tampered, nil, "does not authenticate"},
		{"tampered counter", counter, nil, "does not authenticate"},
		{"wrong aad", f1, []byte("p3>p2"), "does not authenticate"},
		{"short", f1[:SealOverhead-1], nil, "shorter than a sealed empty frame"},
		{"reflected own frame", own, nil, "does not authenticate"},
	}
	for _, tt := range tests {
		if _, err := b.Open(tt.frame, tt.aad); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := stranger.Open(f1, nil); err == nil || !strings.Contains(err.Error(), "does not authenticate") {
		t.Errorf("wrong key: error %v", err)
	}
	// A refused frame does not move the counter: f1 still opens.
	if _, err := b.Open(f1, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(f1, nil); err == nil || !strings.Contains(err.Error(), "replayed or out of order") {
		t.Errorf("replay: error %v", err)
	}
	if _, err := b.Open(f3, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Open(f2, nil); err == nil || !strings.Contains(err.Error(), "frame 2 replayed or out of order (last opened 3)") {
		t.Errorf("out of order: error %v", err)
	}
}

func TestNewChannelRefuses(t *testing.T) {
	k, _ := NewKey(rand.Reader)
	if _, err := NewChannel(k, []byte{1, 2, 3}); err == nil {
		t.Error("accepted a 3-byte public key")
	}
	if _, err := NewChannel(k, k.PublicKey().Bytes()); err == nil {
		t.Error("accepted our own public key")
	}
	if _, err := NewChannel(k, make([]byte, 32)); err == nil {
		t.Error("accepted the all-zero (low-order) point")
	}
}
