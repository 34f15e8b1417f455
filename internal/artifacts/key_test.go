package artifacts

import (
	"strings"
	"testing"
)

func TestValidKey(t *testing.T) {
	good := []string{
		"a",
		"group.csv",
		"fynd/import-2024_01/members.csv",
		"A-Z_0.9/x",
		"a..b", // dots inside a name are harmless
		strings.Repeat("k", MaxKeyLen),
	}
	for _, k := range good {
		if err := ValidKey(k); err != nil {
			t.Errorf("ValidKey(%q) = %v, want nil", k, err)
		}
	}
	bad := []string{
		"",
		"/etc/passwd",
		"..",
		"../x",
		"a/../../x",
		"a/./b",
		"a//b",
		"a/",
		".hidden",
		"a/.put-123",
		`a\..\b`,
		"a b",
		"a%2F..",
		"caf\u00e9.csv",
		"a\x00b",
		strings.Repeat("k", MaxKeyLen+1),
	}
	for _, k := range bad {
		if err := ValidKey(k); err == nil {
			t.Errorf("ValidKey(%q) = nil, want an error", k)
		}
	}
}

func TestContentType(t *testing.T) {
	for key, want := range map[string]string{
		"x/members.csv":  "text/csv; charset=utf-8",
		"x/MEMBERS.CSV":  "text/csv; charset=utf-8",
		"rejects.ndjson": "application/x-ndjson",
		"blob":           "application/octet-stream",
	} {
		if got := contentType(key); got != want {
			t.Errorf("contentType(%q) = %q, want %q", key, got, want)
		}
	}
}
