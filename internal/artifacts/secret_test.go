package artifacts

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadOrCreateKeysCreatesPrivateFileAndReusesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "artifacts.key")
	firstKeys, err := LoadOrCreateKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(firstKeys) != 1 {
		t.Fatalf("a new file holds %d keys, want 1", len(firstKeys))
	}
	first := firstKeys[0]
	if len(first) != 32 {
		t.Fatalf("secret is %d bytes, want 32", len(first))
	}
	if bytes.Equal(first, make([]byte, 32)) {
		t.Fatal("secret is all zeros")
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Fatalf("secret file mode = %04o, want 0600", perm)
	}
	dst, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if perm := dst.Mode().Perm(); perm&0o077 != 0 {
		t.Fatalf("secret directory mode = %04o, want no group/other access", perm)
	}
	again, err := LoadOrCreateKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || !bytes.Equal(first, again[0]) {
		t.Fatal("a second load returned a different secret; URLs would not survive a restart")
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("secret directory holds %d entries, want only the key file", len(entries))
	}

	other, err := LoadOrCreateKeys(filepath.Join(t.TempDir(), "artifacts.key"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(first, other[0]) {
		t.Fatal("two new secret files got the same secret")
	}
}

func TestLoadOrCreateKeysAcceptsOperatorSecret(t *testing.T) {
	path := filepath.Join(t.TempDir(), "artifacts.key")
	want := bytes.Repeat([]byte{0xab}, 48)
	if err := os.WriteFile(path, []byte(hex.EncodeToString(want)+"\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	got, err := LoadOrCreateKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !bytes.Equal(got[0], want) {
		t.Fatal("operator's secret not used as written")
	}
}

// A file of several keys (a rotation under way) yields them in order, the
// signing one first, skipping blank lines and comments.
func TestLoadOrCreateKeysReadsOneKeyALineInOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "artifacts.key")
	newKey, oldKey := bytes.Repeat([]byte{0x01}, 32), bytes.Repeat([]byte{0x02}, 40)
	content := "# new, signs\n" + hex.EncodeToString(newKey) + "\n\n  " + hex.EncodeToString(oldKey) + "  \n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadOrCreateKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || !bytes.Equal(got[0], newKey) || !bytes.Equal(got[1], oldKey) {
		t.Fatalf("keys %x, want the new key then the old one", got)
	}
}

func TestLoadOrCreateKeysRefusals(t *testing.T) {
	valid := hex.EncodeToString(bytes.Repeat([]byte{7}, 32))
	cases := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr string
	}{
		{"world readable", valid, 0o644, "chmod 600"},
		{"group readable", valid, 0o640, "chmod 600"},
		{"group writable", valid, 0o620, "chmod 600"},
		{"not hex", "this is not hex but is long enough to be a secret......", 0o600, "hex"},
		{"too short", hex.EncodeToString([]byte("sixteen bytes...")), 0o600, "at least 32"},
		{"empty", "", 0o600, "at least 32"},
		{"a bad second line", valid + "\nnot hex at all, and long enough to be a secret....", 0o600, "line 2"},
		{"a short second line", valid + "\n" + hex.EncodeToString([]byte("sixteen bytes...")), 0o600, "at least 32"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "artifacts.key")
			if err := os.WriteFile(path, []byte(c.content), 0o600); err != nil {
				t.Fatal(err)
			}
			// Chmod after writing: the umask must not mask the mode under test.
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadOrCreateKeys(path)
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.wantErr)
			}
			if c.content != "" && strings.Contains(err.Error(), c.content) {
				t.Fatalf("error quotes the file's content: %v", err)
			}
			// A refused file is left alone, not replaced by a new secret.
			b, err := os.ReadFile(path)
			if err != nil || string(b) != c.content {
				t.Fatalf("refused secret file was changed: %q %v", b, err)
			}
		})
	}
	if _, err := LoadOrCreateKeys(t.TempDir()); err == nil {
		t.Error("a directory was accepted as the secret file")
	}
	if _, err := LoadOrCreateKeys(""); err == nil {
		t.Error("an empty path was accepted")
	}
}
