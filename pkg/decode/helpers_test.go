package decode_test

import "crypto/sha256"

func sha256twice(b []byte) [32]byte {
	h := sha256.Sum256(b)
	return sha256.Sum256(h[:])
}
