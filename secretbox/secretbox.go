// Package secretbox encrypts small personal-data fields at rest (SNILS,
// passport, INN, uploaded documents) with AES-256-GCM under a key from
// configuration, and derives keyed blind indexes for uniqueness checks on
// encrypted values.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

// KeySize is the key length: AES-256.
const KeySize = 32

// Box seals and opens values under one key.
type Box struct {
	aead    cipher.AEAD
	index   []byte // HMAC key for blind indexes, derived from the data key
	version byte
}

// ErrKey reports a key of the wrong length or encoding.
var ErrKey = errors.New("secretbox: the key must be 32 bytes (64 hex digits or base64)")

// ErrOpen reports a value that does not decrypt under this key (tampered,
// truncated, or sealed with another key or for another field).
var ErrOpen = errors.New("secretbox: cannot decrypt")

// New makes a box from a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, ErrKey
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte("carevisit blind index v1"))
	return &Box{aead: aead, index: m.Sum(nil), version: 1}, nil
}

// ParseKey reads a key written as 64 hex digits or as base64 (standard or
// URL alphabet, padded or not), as it comes from an environment variable.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if len(s) == 2*KeySize {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == KeySize {
			return b, nil
		}
	}
	return nil, ErrKey
}

// Seal encrypts plaintext. context names what the value is (e.g. "snils"):
// it is authenticated, so a value copied into another column does not open.
// The output is version || nonce || ciphertext+tag. Empty plaintext seals to
// nil (nothing stored).
func (b *Box) Seal(plaintext []byte, context string) []byte {
	if len(plaintext) == 0 {
		return nil
	}
	ns := b.aead.NonceSize()
	out := make([]byte, 1+ns, 1+ns+len(plaintext)+b.aead.Overhead())
	out[0] = b.version
	if _, err := rand.Read(out[1 : 1+ns]); err != nil {
		panic("secretbox: no randomness: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return b.aead.Seal(out, out[1:1+ns], plaintext, []byte(context))
}

// Open decrypts what Seal produced with the same context. nil opens to nil.
func (b *Box) Open(sealed []byte, context string) ([]byte, error) {
	if len(sealed) == 0 {
		return nil, nil
	}
	ns := b.aead.NonceSize()
	if len(sealed) < 1+ns+b.aead.Overhead() || sealed[0] != b.version {
		return nil, ErrOpen
	}
	p, err := b.aead.Open(nil, sealed[1:1+ns], sealed[1+ns:], []byte(context))
	if err != nil {
		return nil, ErrOpen
	}
	return p, nil
}

// SealString and OpenString are Seal and Open for text.
func (b *Box) SealString(s, context string) []byte { return b.Seal([]byte(s), context) }

// OpenString is Open for text.
func (b *Box) OpenString(sealed []byte, context string) (string, error) {
	p, err := b.Open(sealed, context)
	return string(p), err
}

// Index is a keyed hash of value for equality look-ups and unique
// constraints on encrypted data: equal values give equal indexes, and
// without the key the index reveals nothing (no dictionary of SNILS).
func (b *Box) Index(value, context string) []byte {
	m := hmac.New(sha256.New, b.index)
	m.Write([]byte(context))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return m.Sum(nil)
}
