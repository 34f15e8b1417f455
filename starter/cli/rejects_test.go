package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
)

// `starter rejects` with a store setting it cannot use says why, and
// nothing it prints (output, errors, the message main prints) shows the
// password: in a URL or in keyword/value form, whether the setting does
// not parse or the database cannot be reached, given as --store or as
// IMPORTER_STORE.
func TestRejectsNeverPrintsTheStorePassword(t *testing.T) {
	const pw = "S3cretPw-4711"
	cases := []struct{ setting, want string }{
		{"host=db password=" + pw, "keyword/value settings (host, password)"},
		{"host=db user=importer sslpassword='" + pw + "' sslmode=verify-full", "keyword/value settings (host, user, sslpassword, sslmode)"},
		{"postgres://importer:" + pw + "@[::1/importer", "not a PostgreSQL URL"},
		{"postgres://importer@db/importer?sslmode=bogus&password=" + pw, "sslmode is invalid"},
		{"postgres://importer:" + pw + "@127.0.0.1:1/importer?sslmode=disable", "failed to connect"},
		{"postgres://importer@127.0.0.1:1/importer?sslmode=disable&password=" + pw, "failed to connect"},
	}
	run := func(args ...string) string {
		var out, errb bytes.Buffer
		root := NewRoot(&out, &errb)
		// A Temporal that is not there: nothing here may get that far.
		root.SetArgs(append([]string{"--address", "127.0.0.1:1"}, args...))
		err := root.ExecuteContext(context.Background())
		if err == nil {
			t.Fatalf("rejects %v succeeded", args)
		}
		return out.String() + errb.String() + fmt.Sprintln("starter:", err)
	}
	for _, tc := range cases {
		printed := run("rejects", "import-x", "--store", tc.setting)
		if strings.Contains(printed, pw) || strings.Contains(printed, "S3cret") {
			t.Errorf("--store: the password is printed:\n%s", printed)
		}
		if !strings.Contains(printed, tc.want) {
			t.Errorf("--store: %q is not said:\n%s", tc.want, printed)
		}
	}
	for _, tc := range cases[:2] {
		t.Setenv("IMPORTER_STORE", tc.setting)
		if printed := run("rejects", "import-x"); strings.Contains(printed, pw) || !strings.Contains(printed, tc.want) {
			t.Errorf("IMPORTER_STORE: want %q and no password:\n%s", tc.want, printed)
		}
	}
}
