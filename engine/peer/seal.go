package peer

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"io"
	"strconv"
)

// Frames between two peers are sealed end to end: the peers agree a key by
// X25519 (each sends its public key to the other in a signal), derive one
// AES-256-GCM key per direction with HKDF-SHA256, and number their frames.
// The hub, which relays the public keys and the frames, sees only ciphertext.
//
// A sealed frame is an 8-byte big-endian counter, then the GCM ciphertext and
// tag. The counter is the nonce (padded to 12 bytes), so no nonce repeats
// under a key; Open refuses a counter that is not above the last one opened,
// which rejects replays and reordering (a data channel or the hub delivers
// frames in order).
//
// The exchange is not authenticated: it defeats a hub that records what it
// relays, not one that swaps the public keys it relays. Comparing
// Fingerprint on both devices detects the swap.

// SealOverhead is how many bytes Seal adds to a plaintext.
const SealOverhead = 8 + 16

// MaxPlaintext is the largest plaintext one frame carries.
const MaxPlaintext = MaxFrameBytes - SealOverhead

// NewKey returns a fresh X25519 key pair read from rand (crypto/rand.Reader
// in use).
func NewKey(rand io.Reader) (*ecdh.PrivateKey, error) {
	return ecdh.X25519().GenerateKey(rand)
}

// Channel seals the frames one peer sends another and opens those it receives.
// It is not safe for concurrent use: a sender and a receiver goroutine each
// need their own lock, or one Channel each way.
type Channel struct {
	send, recv     cipher.AEAD
	sent, received uint64 // the last counters used
}

// NewChannel agrees keys between own (this peer's private key) and their
// public key, received from the other peer.
func NewChannel(own *ecdh.PrivateKey, their []byte) (*Channel, error) {
	pub, err := ecdh.X25519().NewPublicKey(their)
	if err != nil {
		return nil, errors.New("peer: their public key: " + err.Error())
	}
	mine := own.PublicKey().Bytes()
	if bytes.Equal(mine, their) {
		return nil, errors.New("peer: their public key is our own")
	}
	shared, err := own.ECDH(pub)
	if err != nil {
		return nil, errors.New("peer: key agreement: " + err.Error())
	}
	send, err := directionKey(shared, mine, their)
	if err != nil {
		return nil, err
	}
	recv, err := directionKey(shared, their, mine)
	if err != nil {
		return nil, err
	}
	return &Channel{send: send, recv: recv}, nil
}

// directionKey derives the key for frames from the holder of public key from
// to the holder of to: the salt binds both keys in order, so the two
// directions get different keys.
func directionKey(shared, from, to []byte) (cipher.AEAD, error) {
	salt := append(append([]byte{}, from...), to...)
	key, err := hkdf.Key(sha256.New, shared, salt, "edgenn peer frame v1", 32)
	if err != nil {
		return nil, errors.New("peer: key derivation: " + err.Error())
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errors.New("peer: " + err.Error())
	}
	return cipher.NewGCM(block)
}

// Fingerprint returns a short code of the two public keys, the same on both
// devices whoever computes it, for users to compare when they must be sure
// no one swapped the keys.
func Fingerprint(a, b []byte) string {
	if bytes.Compare(a, b) > 0 {
		a, b = b, a
	}
	h := sha256.New()
	h.Write(a)
	h.Write(b)
	sum := h.Sum(nil)
	n := (uint32(sum[0])<<24 | uint32(sum[1])<<16 | uint32(sum[2])<<8 | uint32(sum[3])) % 1000000
	s := strconv.Itoa(int(n))
	for len(s) < 6 {
		s = "0" + s
	}
	return s
}

func nonce(counter uint64) []byte {
	var n [12]byte
	putUint64(n[4:], counter)
	return n[:]
}

// Seal returns plain sealed as the next frame; aad is authenticated but not
// sent (the peers' ids, say, so that a frame cannot be passed off as one of
// another pair).
func (c *Channel) Seal(plain, aad []byte) ([]byte, error) {
	if len(plain) > MaxPlaintext {
		return nil, errors.New("peer: seal: " + strconv.Itoa(len(plain)) + " bytes, more than a frame holds (" + strconv.Itoa(MaxPlaintext) + ")")
	}
	if c.sent == 1<<64-1 {
		return nil, errors.New("peer: seal: frame counter exhausted; agree a new key")
	}
	c.sent++
	out := make([]byte, 8, SealOverhead+len(plain))
	putUint64(out, c.sent)
	return c.send.Seal(out, nonce(c.sent), plain, aad), nil
}

// Open checks and decrypts a frame sealed by the other peer's Channel. It
// refuses a frame that was tampered with, sealed under another key, or whose
// counter is not above the last one opened (a replay or a reordering).
func (c *Channel) Open(frame, aad []byte) ([]byte, error) {
	if len(frame) < SealOverhead {
		return nil, errors.New("peer: open: frame of " + strconv.Itoa(len(frame)) + " bytes is shorter than a sealed empty frame")
	}
	var n uint64
	for _, b := range frame[:8] {
		n = n<<8 | uint64(b)
	}
	if n <= c.received {
		return nil, errors.New("peer: open: frame " + strconv.FormatUint(n, 10) + " replayed or out of order (last opened " +
			strconv.FormatUint(c.received, 10) + ")")
	}
	plain, err := c.recv.Open(nil, nonce(n), frame[8:], aad)
	if err != nil {
		return nil, errors.New("peer: open: frame " + strconv.FormatUint(n, 10) + " does not authenticate (tampered, or sealed under another key)")
	}
	c.received = n
	return plain, nil
}

// putUint64 writes v big-endian into b[:8]; encoding/binary would bring reflect into the wasm.
func putUint64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}
