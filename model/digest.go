//go:build !(js && wasm)

package model

import (
	"crypto/sha256"
	"encoding/hex"
)

// Digest returns the content address of an encoded model: the hex SHA-256 of
// its bytes. Encode is deterministic, so equal graphs have equal digests.
//
// It is not built for js/wasm: there crypto/sha256 pulls in os and time
// through the crypto package's randomness and adds about 115 KB gzip to the
// browser module; the browser computes the same digest with WebCrypto.
func Digest(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
