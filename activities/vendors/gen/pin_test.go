package gen

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	dynamicfake "importer/activities/dynamic/fake"

	"importer/activities/vendorapi/fakeapi"
	"importer/activities/vendors"
)

// pinned are the bytes every list had before the list shapes moved into
// the vendors' fake packages: tests across the repository count on exact
// rows, ids and invalid rows, so a list must never change by accident.
// Each value is the SHA-256 of the file and its Stats.
var pinned = map[string]string{
	"nebuly.csv/0":       "64009b8b88ff7110",
	"nebuly.csv/1":       "1ad1602ee1b07c88",
	"nebuly.csv/2":       "f732b25b06fe6a1d",
	"nebuly.csv/3":       "77512fc4b71b4a3a",
	"nebuly.csv/4":       "f80b44933e40ca08",
	"nebuly.csv/5":       "a53d6cada82e7f60",
	"nebuly.ndjson/0":    "d4edc3a8ac2d5890",
	"nebuly.ndjson/1":    "3ca2834abd5b8545",
	"nebuly.ndjson/2":    "1cdc5a169ce37da7",
	"nebuly.ndjson/3":    "bcbdb59aac47c25b",
	"nebuly.ndjson/4":    "13445409fbd91f99",
	"nebuly.ndjson/5":    "7828af9bc90fdce2",
	"bitlabs.csv/0":      "cfcffb26737522ad",
	"bitlabs.csv/1":      "bdb35288a5b9242c",
	"bitlabs.csv/2":      "75ab6e1cb2a55def",
	"bitlabs.csv/3":      "9ab11eee110da8e1",
	"bitlabs.csv/4":      "0b4f1442284ba308",
	"bitlabs.csv/5":      "fe7af2cfe7a3dca3",
	"bitlabs.ndjson/0":   "cfcffb26737522ad",
	"bitlabs.ndjson/1":   "bdb35288a5b9242c",
	"bitlabs.ndjson/2":   "75ab6e1cb2a55def",
	"bitlabs.ndjson/3":   "9ab11eee110da8e1",
	"bitlabs.ndjson/4":   "0b4f1442284ba308",
	"bitlabs.ndjson/5":   "fe7af2cfe7a3dca3",
	"userpilot.csv/0":    "391e838e1ffebbc8",
	"userpilot.csv/1":    "50f0688f4e4c6b86",
	"userpilot.csv/2":    "f57e07a6df5137be",
	"userpilot.csv/3":    "532ae794afb74d60",
	"userpilot.csv/4":    "ef7d31b497fd160d",
	"userpilot.csv/5":    "001b0b1f03cb30ee",
	"userpilot.ndjson/0": "391e838e1ffebbc8",
	"userpilot.ndjson/1": "50f0688f4e4c6b86",
	"userpilot.ndjson/2": "f57e07a6df5137be",
	"userpilot.ndjson/3": "532ae794afb74d60",
	"userpilot.ndjson/4": "ef7d31b497fd160d",
	"userpilot.ndjson/5": "001b0b1f03cb30ee",
	"dynamic.csv/0":      "8df547bb4f5e5a9c",
	"dynamic.csv/1":      "63fa253576119a6c",
	"dynamic.csv/2":      "da3700837ba04ba5",
	"dynamic.csv/3":      "74738fbdddad785c",
	"dynamic.csv/4":      "a698b24ada808282",
	"dynamic.csv/5":      "7ff237eed8d3480b",
	"dynamic.ndjson/0":   "8df547bb4f5e5a9c",
	"dynamic.ndjson/1":   "63fa253576119a6c",
	"dynamic.ndjson/2":   "da3700837ba04ba5",
	"dynamic.ndjson/3":   "74738fbdddad785c",
	"dynamic.ndjson/4":   "a698b24ada808282",
	"dynamic.ndjson/5":   "7ff237eed8d3480b",
}

var pinOptions = []Options{
	{Rows: 1000},
	{Rows: 1000, InvalidEvery: 7},
	{Rows: 1000, InvalidEvery: 200, QuotedNewlineEvery: 50},
	{Rows: 500, InvalidEvery: 97, QuotedNewlineEvery: 3, CRLF: true, Domain: "corp.test", IDPrefix: "a"},
	{Rows: 300, InvalidEvery: 1, IDPrefix: "p1-"},
	{},
}

func TestListsArePinned(t *testing.T) {
	dir := t.TempDir()
	got := map[string]string{}
	for _, vendor := range []string{"nebuly", "bitlabs", "userpilot", "dynamic"} {
		for _, ext := range []string{".csv", ".ndjson"} {
			for k, o := range pinOptions {
				name := fmt.Sprintf("%s%s/%d", vendor, ext, k)
				path := filepath.Join(dir, fmt.Sprintf("%s-%d%s", vendor, k, ext))
				st, err := VendorFile(vendor, path, o)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if st.Bytes != int64(len(b)) {
					t.Errorf("%s: Stats.Bytes %d, file %d bytes", name, st.Bytes, len(b))
				}
				sum := sha256.Sum256(append(b, fmt.Sprintf("%+v", st)...))
				got[name] = hex.EncodeToString(sum[:8])
			}
		}
	}
	for name, sum := range got {
		if want := pinned[name]; sum != want {
			t.Errorf("%s: sum %s, pinned %s", name, sum, want)
		}
	}
	if len(got) != len(pinned) {
		t.Errorf("%d lists, %d pinned", len(got), len(pinned))
	}
	if t.Failed() {
		for _, vendor := range []string{"nebuly", "bitlabs", "userpilot", "dynamic"} {
			for _, ext := range []string{".csv", ".ndjson"} {
				for k := range pinOptions {
					name := fmt.Sprintf("%s%s/%d", vendor, ext, k)
					t.Logf("%q: %q,", name, got[name])
				}
			}
		}
	}
}

func TestRowKeysArePinned(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Options{}.Email(7), "user00000007@example.com"},
		{Options{Domain: "corp.test"}.Email(12345678), "user12345678@corp.test"},
		{Options{}.UID(3), "u00000003"},
		{Options{IDPrefix: "p1-"}.UID(42), "p1-00000042"},
		{dynamicfake.SampleID(fakeapi.SampleOptions{}, 1), "f00c3c10-0000-4000-8000-000000000001"},
		{dynamicfake.SampleID(fakeapi.SampleOptions{IDPrefix: "a"}, 99), "e40c292c-0000-4000-8000-000000000099"},
		{dynamicfake.SampleEmail(fakeapi.SampleOptions{}, 5), "u00000005@example.com"},
		{dynamicfake.SampleEmail(fakeapi.SampleOptions{IDPrefix: "a"}, 5), "a00000005@example.com"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestEveryImportVendorHasAList(t *testing.T) {
	for _, e := range vendors.All() {
		if (e.Sample != nil) != (e.Import != nil) {
			t.Errorf("%s: takes imports %v, has a list %v", e.Spec.Name, e.Import != nil, e.Sample != nil)
		}
		path := filepath.Join(t.TempDir(), "list.csv")
		_, err := VendorFile(e.Spec.Name, path, Options{Rows: 2})
		if (err == nil) != (e.Sample != nil) {
			t.Errorf("%s: %v", e.Spec.Name, err)
		}
		if _, statErr := os.Stat(path); err != nil && statErr == nil {
			t.Errorf("%s: a file was made for a vendor without a list", e.Spec.Name)
		}
	}
	if _, err := VendorFile("nosuch", filepath.Join(t.TempDir(), "x.csv"), Options{}); err == nil {
		t.Error("a list for an unknown vendor")
	}
}
