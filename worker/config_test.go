package main

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// The worker's settings come from the environment as it was read when the
// command was made, parsed once; a bad value stops the worker naming its
// variable.
func TestTheWorkerReadsItsSettingsOnceFromTheEnvironment(t *testing.T) {
	env := readEnvironment([]string{
		"IMPORTER_VENDOR_TIMEOUT=5s", "IMPORTER_S3_PATH_STYLE=true", "IMPORTER_STAGING_URL=s3://b/staging",
		"IMPORTER_UI_URL=https://ui.example.com", "IMPORTER_MAX_COLUMNS=12", "IMPORTER_CODEC_TOKENS= a ,,b",
		"IMPORTER_SOURCE_ROOTS=/srv/lists", "IMPORTER_SOURCE_HOSTS=files.internal", "IMPORTER_NEBULY_API_KEY=k=v",
	})
	// What the process's environment says later is not read.
	t.Setenv("IMPORTER_VENDOR_TIMEOUT", "9s")
	t.Setenv("IMPORTER_UI_URL", "https://other.example.com")
	c, err := readConfig(env)
	if err != nil {
		t.Fatal(err)
	}
	if c.VendorTimeout != 5*time.Second || !c.S3PathStyle || c.Staging != "s3://b/staging" || c.UI != "https://ui.example.com" {
		t.Fatalf("read %+v", c)
	}
	if c.SourceLimits.MaxColumns != 12 || !slices.Equal(c.CodecTokens, []string{"a", "b"}) ||
		!slices.Equal(c.SourceRoots, []string{"/srv/lists"}) || !slices.Equal(c.SourceHosts, []string{"files.internal"}) {
		t.Fatalf("read %+v", c)
	}
	if c.getenv("IMPORTER_NEBULY_API_KEY") != "k=v" || !slices.Contains(c.Environ, "IMPORTER_NEBULY_API_KEY=k=v") {
		t.Fatal("a connection variable's value (with an = in it) is not kept whole")
	}

	for _, bad := range []struct{ kv, names string }{
		{"IMPORTER_VENDOR_TIMEOUT=5", "IMPORTER_VENDOR_TIMEOUT"},
		{"IMPORTER_VENDOR_TIMEOUT=0s", "IMPORTER_VENDOR_TIMEOUT"},
		{"IMPORTER_S3_PATH_STYLE=yes", "IMPORTER_S3_PATH_STYLE"},
		{"IMPORTER_MAX_COLUMNS=many", "IMPORTER_MAX_COLUMNS"},
		{"IMPORTER_STAGING_MAX_RATIO=-1", "IMPORTER_STAGING_MAX_RATIO"},
	} {
		_, err := readConfig(readEnvironment([]string{bad.kv}))
		if err == nil || !strings.Contains(err.Error(), bad.names) {
			t.Errorf("%s: got %v; want an error naming %s", bad.kv, err, bad.names)
		}
	}
	if c, err := readConfig(readEnvironment(nil)); err != nil || c.VendorTimeout != 0 || c.S3PathStyle || c.Keyring != nil {
		t.Fatalf("an empty environment: %+v, %v; want the defaults", c, err)
	}
}
