package envconf

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestBoolIsStrictAndNamesTheVariable(t *testing.T) {
	for v, want := range map[string]bool{"": false, " ": false, "true": true, "1": true, "false": false, " TRUE ": true} {
		got, err := Bool(env(map[string]string{S3PathStyle: v}), S3PathStyle)
		if err != nil || got != want {
			t.Errorf("%q: %v, %v; want %v", v, got, err, want)
		}
	}
	_, err := Bool(env(map[string]string{S3PathStyle: "yes"}), S3PathStyle)
	if err == nil || err.Error() != `IMPORTER_S3_PATH_STYLE="yes": want true or false` {
		t.Fatalf("yes: %v", err)
	}
}

func TestPositiveDuration(t *testing.T) {
	const name = "IMPORTER_VENDOR_TIMEOUT"
	if d, err := PositiveDuration(env(nil), name); d != 0 || err != nil {
		t.Fatalf("unset: %v, %v", d, err)
	}
	if d, err := PositiveDuration(env(map[string]string{name: "1m30s"}), name); d != 90*time.Second || err != nil {
		t.Fatalf("1m30s: %v, %v", d, err)
	}
	for _, v := range []string{"0s", "-1s", "soon", "30"} {
		if _, err := PositiveDuration(env(map[string]string{name: v}), name); err == nil || !strings.Contains(err.Error(), name+"=") {
			t.Errorf("%q: %v; want an error naming %s", v, err, name)
		}
	}
}
