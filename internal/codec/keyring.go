// Package codec encrypts every Temporal payload the worker and the starter
// write (workflow inputs, results, activity arguments, memos, failure
// messages) with AES-256-GCM, and serves the codec endpoint the Temporal UI
// and CLI call to show them decoded to authorised users.
//
// Workflow inputs can hold credentials (a presigned source URL's query
// string), and Temporal keeps payloads in its database and shows them in its
// UI; with a keyring configured, both only ever see ciphertext.
//
// Keys rotate without downtime: add a new key to the ring and make it active.
// New payloads use the active key; older ones name their key in the payload's
// metadata and still decode while that key stays in the ring.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Environment variables: the keyring (KeyringFromEnv) and the codec
// endpoint's bearer tokens (comma-separated, read by the worker).
const (
	EnvKeys      = "IMPORTER_CODEC_KEYS"
	EnvActiveKey = "IMPORTER_CODEC_ACTIVE_KEY"
	EnvTokens    = "IMPORTER_CODEC_TOKENS"
)

const (
	keySize     = 32 // AES-256
	maxKeyIDLen = 64
)

// Keyring maps key ids to AES-256 keys and names the one new payloads are
// sealed with. It holds only the ready ciphers, never the raw key bytes, and
// prints as its key ids, so logging one by mistake reveals nothing.
type Keyring struct {
	ciphers map[string]cipher.AEAD
	ids     []string // in the order listed, for messages
	active  string
}

// ParseKeyring reads spec, a comma-separated list of id:key entries where
// each key is 32 bytes in base64 (standard or URL alphabet, padding
// optional). active names the key that seals new payloads; "" means the last
// one listed, so rotating is appending a key. Errors name entries by id or
// position and never include key material.
func ParseKeyring(spec, active string) (*Keyring, error) {
	k := &Keyring{ciphers: map[string]cipher.AEAD{}}
	for i, entry := range strings.Split(spec, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue // tolerate a trailing or doubled comma
		}
		id, enc, ok := strings.Cut(entry, ":")
		if !ok {
			// The entry may be a bare key, so say where it is, not what it is.
			return nil, fmt.Errorf("key entry %d: want id:base64key", i+1)
		}
		id = strings.TrimSpace(id)
		if err := checkKeyID(id); err != nil {
			return nil, fmt.Errorf("key entry %d: %w", i+1, err)
		}
		if _, dup := k.ciphers[id]; dup {
			return nil, fmt.Errorf("key %q is listed twice", id)
		}
		raw, err := decodeKey(strings.TrimSpace(enc))
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		aead, err := newAEAD(raw)
		clear(raw)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", id, err)
		}
		k.ciphers[id] = aead
		k.ids = append(k.ids, id)
	}
	if len(k.ids) == 0 {
		return nil, errors.New("no keys: want id:base64key[,id:base64key...]")
	}
	active = strings.TrimSpace(active)
	if active == "" {
		active = k.ids[len(k.ids)-1]
	}
	if _, ok := k.ciphers[active]; !ok {
		return nil, fmt.Errorf("active key %q is not in the keyring (keys: %s)", active, strings.Join(k.ids, ", "))
	}
	k.active = active
	return k, nil
}

// KeyringFromEnv builds the keyring from IMPORTER_CODEC_KEYS and
// IMPORTER_CODEC_ACTIVE_KEY. It returns nil, nil when no keys are configured
// (payloads then stay unencrypted), and an error naming the variable when
// they are malformed.
func KeyringFromEnv(getenv func(string) string) (*Keyring, error) {
	spec, active := strings.TrimSpace(getenv(EnvKeys)), getenv(EnvActiveKey)
	if spec == "" {
		if strings.TrimSpace(active) != "" {
			return nil, fmt.Errorf("%s is set but %s is empty", EnvActiveKey, EnvKeys)
		}
		return nil, nil
	}
	k, err := ParseKeyring(spec, active)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvKeys, err)
	}
	return k, nil
}

// NewKey returns a fresh random AES-256 key in standard base64, ready for an
// id:key entry of IMPORTER_CODEC_KEYS.
func NewKey() string {
	b := make([]byte, keySize)
	// crypto/rand.Read never fails (the runtime aborts instead) since Go 1.24.
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// ActiveID is the id of the key new payloads are sealed with.
func (k *Keyring) ActiveID() string { return k.active }

// IDs lists the key ids in the order they were given.
func (k *Keyring) IDs() []string { return slices.Clone(k.ids) }

// String shows the key ids only.
func (k *Keyring) String() string {
	return fmt.Sprintf("keyring[%s active=%s]", strings.Join(k.ids, ","), k.active)
}

// GoString keeps %#v from printing the ciphers' expanded keys.
func (k *Keyring) GoString() string { return k.String() }

func (k *Keyring) cipher(id string) (cipher.AEAD, bool) {
	c, ok := k.ciphers[id]
	return c, ok
}

// checkKeyID keeps ids to a plain alphabet: they travel in payload metadata
// and appear in error messages and logs.
func checkKeyID(id string) error {
	if id == "" {
		return errors.New("empty key id")
	}
	if len(id) > maxKeyIDLen {
		return fmt.Errorf("key id longer than %d characters", maxKeyIDLen)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.'
		if !ok {
			return errors.New("key id may hold only letters, digits, '-', '_' and '.'")
		}
	}
	return nil
}

// decodeKey accepts the base64 alphabets people paste (openssl rand -base64
// gives standard, many tools give URL-safe) with or without padding. Its
// errors never echo the input.
func decodeKey(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("empty key")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		b, err := enc.DecodeString(s)
		if err != nil {
			continue
		}
		if len(b) != keySize {
			n := len(b)
			clear(b)
			return nil, fmt.Errorf("key is %d bytes, want %d (AES-256); make one with `go run ./internal/codec/cmd/newkey`", n, keySize)
		}
		return b, nil
	}
	return nil, errors.New("key is not valid base64")
}

// newAEAD builds AES-256-GCM with a fresh random 96-bit nonce per Seal,
// carried in front of the ciphertext.
func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("AES key: %w", err)
	}
	aead, err := cipher.NewGCMWithRandomNonce(block)
	if err != nil {
		return nil, fmt.Errorf("AES-GCM: %w", err)
	}
	return aead, nil
}
