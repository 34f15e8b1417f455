package main

import (
	"strings"
	"testing"
	"time"
)

func TestVendorTimeoutSetting(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == vendorTimeoutEnv {
				return v
			}
			return ""
		}
	}
	if d, err := vendorTimeout(env("")); err != nil || d != 0 {
		t.Fatalf("unset: got %v, %v; want the default (0) and no error", d, err)
	}
	if d, err := vendorTimeout(env("5s")); err != nil || d != 5*time.Second {
		t.Fatalf("5s: got %v, %v", d, err)
	}
	for _, bad := range []string{"5", "-1s", "0s", "soon"} {
		_, err := vendorTimeout(env(bad))
		if err == nil || !strings.Contains(err.Error(), vendorTimeoutEnv) {
			t.Errorf("%q: got %v; want an error naming %s", bad, err, vendorTimeoutEnv)
		}
	}
}
