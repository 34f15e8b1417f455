package codec_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"importer/internal/codec"
)

func mustRing(t *testing.T, spec, active string) *codec.Keyring {
	t.Helper()
	k, err := codec.ParseKeyring(spec, active)
	if err != nil {
		t.Fatalf("ParseKeyring: %v", err)
	}
	return k
}

func TestParseKeyringActiveKey(t *testing.T) {
	k1, k2 := codec.NewKey(), codec.NewKey()
	ring := mustRing(t, " k1:"+k1+" , k2:"+k2+",", "")
	if ring.ActiveID() != "k2" {
		t.Errorf("active = %q, want the last listed, k2", ring.ActiveID())
	}
	if got := strings.Join(ring.IDs(), ","); got != "k1,k2" {
		t.Errorf("ids = %s", got)
	}
	ring = mustRing(t, "k1:"+k1+",k2:"+k2, "k1")
	if ring.ActiveID() != "k1" {
		t.Errorf("active = %q, want k1 as named", ring.ActiveID())
	}
}

func TestParseKeyringAcceptsCommonBase64Forms(t *testing.T) {
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(250 - i) // bytes that differ between the std and URL alphabets
	}
	for name, enc := range map[string]*base64.Encoding{
		"std": base64.StdEncoding, "raw std": base64.RawStdEncoding,
		"url": base64.URLEncoding, "raw url": base64.RawURLEncoding,
	} {
		if _, err := codec.ParseKeyring("k:"+enc.EncodeToString(raw), ""); err != nil {
			t.Errorf("%s base64: %v", name, err)
		}
	}
}

func TestParseKeyringErrorsNeverShowKeys(t *testing.T) {
	good := codec.NewKey()
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	cases := []struct {
		name, spec, active string
		want               string // a piece of the message
	}{
		{"empty", " , ", "", "no keys"},
		{"bad base64", "k1:" + strings.Repeat("!", 44), "", `key "k1": key is not valid base64`},
		{"wrong length", "k1:" + short, "", `key "k1": key is 16 bytes, want 32`},
		{"empty key", "k1:", "", `key "k1": empty key`},
		{"duplicate id", "k1:" + good + ",k1:" + codec.NewKey(), "", `key "k1" is listed twice`},
		{"no id", good, "", "key entry 1: want id:base64key"},
		{"empty id", ":" + good, "", "key entry 1: empty key id"},
		{"bad id", "k 1:" + good, "", "key entry 1: key id may hold only"},
		{"second entry bad", "k1:" + good + ",k2" + good, "", "key entry 2: want id:base64key"},
		{"active not in ring", "k1:" + good, "k9", `active key "k9" is not in the keyring (keys: k1)`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := codec.ParseKeyring(c.spec, c.active)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) {
				t.Errorf("error %q does not say %q", msg, c.want)
			}
			for _, secret := range []string{good, short, good[:12], short[:12]} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q shows key material", msg)
				}
			}
		})
	}
}

func TestKeyringPrintsOnlyIDs(t *testing.T) {
	key := codec.NewKey()
	ring := mustRing(t, "old:"+codec.NewKey()+",new:"+key, "")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, ring)
		if out != "keyring[old,new active=new]" {
			t.Errorf("%s prints %q", verb, out)
		}
	}
}

func TestKeyringFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

	ring, err := codec.KeyringFromEnv(env(nil))
	if ring != nil || err != nil {
		t.Fatalf("unset: %v, %v; want nil, nil", ring, err)
	}

	ring, err = codec.KeyringFromEnv(env(map[string]string{
		codec.EnvKeys:      "a:" + codec.NewKey() + ",b:" + codec.NewKey(),
		codec.EnvActiveKey: "a",
	}))
	if err != nil || ring.ActiveID() != "a" {
		t.Fatalf("set: %v, %v", ring, err)
	}

	_, err = codec.KeyringFromEnv(env(map[string]string{codec.EnvKeys: "a:short"}))
	if err == nil || !strings.HasPrefix(err.Error(), codec.EnvKeys+": ") {
		t.Errorf("bad keys: %v; want an error naming %s", err, codec.EnvKeys)
	}

	_, err = codec.KeyringFromEnv(env(map[string]string{codec.EnvActiveKey: "a"}))
	if err == nil {
		t.Error("an active key without keys must be an error, not silently unencrypted")
	}
}

func TestNewKeyIsFreshAES256(t *testing.T) {
	a, b := codec.NewKey(), codec.NewKey()
	if a == b {
		t.Fatal("two keys are equal")
	}
	raw, err := base64.StdEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 {
		t.Fatalf("key decodes to %d bytes, %v", len(raw), err)
	}
}
