package artifacts

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// secretLen is the size of a generated URL-signing secret, in bytes.
const secretLen = 32

// maxSecretFile bounds what LoadOrCreateKeys reads, so a wrong path (a log
// file, a device) fails fast instead of filling memory.
const maxSecretFile = 4 << 10

// LoadOrCreateKeys returns the URL-signing keys kept in the file at path,
// creating the file (0600, its directory 0700) with one key of 32 random
// bytes when it does not exist. Keeping the keys on disk lets URLs handed to
// a vendor stay valid across a worker restart.
//
// The file holds one hex-encoded key a line (at least 32 bytes each; blank
// lines and lines starting with # are skipped), so an operator can supply
// their own. The first key signs new URLs and every key verifies the URLs
// that name it: to rotate, put a new key first, and remove the old one once
// the URLs it signed have expired (IMPORTER_ARTIFACTS_URL_TTL); removing a
// key at once revokes its URLs. A file that group or others may read or
// write is refused: anyone who can read it can mint URLs to every artifact.
func LoadOrCreateKeys(path string) ([][]byte, error) {
	if path == "" {
		return nil, errors.New("artifact URL secret: no file given")
	}
	keys, err := readKeys(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return keys, err
	}
	if err := createSecret(path); err != nil {
		return nil, err
	}
	// Read back what is on disk: when two workers share the directory and
	// start together, only one file wins, and both must use it.
	return readKeys(path)
}

func readKeys(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("artifact URL secret: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("artifact URL secret: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("artifact URL secret: %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("artifact URL secret: %s has mode %04o, open to group or others; run chmod 600 on it", path, perm)
	}
	raw, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return nil, fmt.Errorf("artifact URL secret: read %s: %w", path, err)
	}
	if len(raw) > maxSecretFile {
		return nil, fmt.Errorf("artifact URL secret: %s is larger than %d bytes; it should hold a few lines of hex", path, maxSecretFile)
	}
	var keys [][]byte
	for i, line := range bytes.Split(raw, []byte{'\n'}) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		// The errors do not quote the content: it may be a secret in the
		// wrong format.
		key, err := hex.DecodeString(string(line))
		if err != nil {
			return nil, fmt.Errorf("artifact URL secret: line %d of %s does not hold a hex-encoded key", i+1, path)
		}
		if len(key) < secretLen {
			return nil, fmt.Errorf("artifact URL secret: line %d of %s holds %d bytes; at least %d are needed", i+1, path, len(key), secretLen)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("artifact URL secret: %s holds no key; write one hex-encoded key of at least %d bytes a line", path, secretLen)
	}
	return keys, nil
}

// createSecret writes a fresh secret to a temporary file and links it into
// place, which fails if path appeared meanwhile; a concurrent reader thus
// never sees a partly written secret, and a secret already there is never
// replaced.
func createSecret(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("artifact URL secret: create directory: %w", err)
	}
	secret := make([]byte, secretLen)
	if _, err := rand.Read(secret); err != nil {
		return fmt.Errorf("artifact URL secret: generate: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".secret-*")
	if err != nil {
		return fmt.Errorf("artifact URL secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("artifact URL secret: %w", err)
	}
	if _, err := tmp.WriteString(hex.EncodeToString(secret) + "\n"); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("artifact URL secret: write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("artifact URL secret: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("artifact URL secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("artifact URL secret: create %s: %w", path, err)
	}
	return nil
}
