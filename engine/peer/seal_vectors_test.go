package peer

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// sealVectorsFile holds frames sealed by this package with fixed keys, for the
// browser's WebCrypto implementation (www/edgenn-peer.js) to check against
// byte for byte. EDGENN_WRITE_VECTORS=1 rewrites it.
const sealVectorsFile = "testdata/seal_vectors.json"

type sealVectors struct {
	APriv       string        `json:"a_priv"`
	APub        string        `json:"a_pub"`
	BPriv       string        `json:"b_priv"`
	BPub        string        `json:"b_pub"`
	Fingerprint string        `json:"fingerprint"`
	Frames      []sealedFrame `json:"frames"`
}

type sealedFrame struct {
	From   string `json:"from"`
	AAD    string `json:"aad"`
	Plain  string `json:"plain"`
	Sealed string `json:"sealed"`
}

// makeSealVectors seals a fixed conversation between two fixed keys: an empty
// frame, short ones each way, and one of 5 KB.
func makeSealVectors(t *testing.T) sealVectors {
	t.Helper()
	seed := func(b byte) *ecdh.PrivateKey {
		raw := make([]byte, 32)
		for i := range raw {
			raw[i] = b + byte(i*7)
		}
		k, err := ecdh.X25519().NewPrivateKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a, b := seed(1), seed(101)
	ab, err := NewChannel(a, b.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	ba, err := NewChannel(b, a.PublicKey().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	v := sealVectors{
		APriv: hex.EncodeToString(a.Bytes()), APub: hex.EncodeToString(a.PublicKey().Bytes()),
		BPriv: hex.EncodeToString(b.Bytes()), BPub: hex.EncodeToString(b.PublicKey().Bytes()),
		Fingerprint: Fingerprint(a.PublicKey().Bytes(), b.PublicKey().Bytes()),
	}
	big := make([]byte, 5000)
	for i := range big {
		big[i] = byte(i * 31 >> 3)
	}
	for _, f := range []struct {
		from  string
		plain []byte
	}{
		{"a", nil}, {"a", []byte("run 1")}, {"b", []byte("result 1")}, {"a", big}, {"b", []byte{0, 1, 2, 255}},
	} {
		ch, aad := ab, []byte("peer-a\x00peer-b")
		if f.from == "b" {
			ch, aad = ba, []byte("peer-b\x00peer-a")
		}
		sealed, err := ch.Seal(f.plain, aad)
		if err != nil {
			t.Fatal(err)
		}
		v.Frames = append(v.Frames, sealedFrame{From: f.from, AAD: hex.EncodeToString(aad),
			Plain: hex.EncodeToString(f.plain), Sealed: hex.EncodeToString(sealed)})
	}
	return v
}

// TestSealVectors checks that the committed vectors are what this package
// seals (the browser's test reads them), and that each opens on the other
// side's Channel.
func TestSealVectors(t *testing.T) {
	v := makeSealVectors(t)
	want, err := json.MarshalIndent(v, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if os.Getenv("EDGENN_WRITE_VECTORS") == "1" {
		if err := os.WriteFile(sealVectorsFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(sealVectorsFile)
	if err != nil {
		t.Fatal(err, "(EDGENN_WRITE_VECTORS=1 writes it)")
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what this package seals; if the change is meant, rewrite it with EDGENN_WRITE_VECTORS=1 and check the browser's test", sealVectorsFile)
	}
	key := func(h string) *ecdh.PrivateKey {
		raw, _ := hex.DecodeString(h)
		k, err := ecdh.X25519().NewPrivateKey(raw)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a, b := key(v.APriv), key(v.BPriv)
	atB, _ := NewChannel(b, a.PublicKey().Bytes()) // b opens a's frames
	atA, _ := NewChannel(a, b.PublicKey().Bytes())
	for i, f := range v.Frames {
		ch := atB
		if f.From == "b" {
			ch = atA
		}
		sealed, _ := hex.DecodeString(f.Sealed)
		aad, _ := hex.DecodeString(f.AAD)
		plain, err := ch.Open(sealed, aad)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if hex.EncodeToString(plain) != f.Plain {
			t.Errorf("frame %d opens to other bytes", i)
		}
	}
}
