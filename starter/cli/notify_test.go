package cli

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNotifyFlagsGoIntoTheInputOfImportsSchedulesAndSyncs(t *testing.T) {
	dir := t.TempDir()
	users := filepath.Join(dir, "users.csv")
	if err := os.WriteFile(users, []byte("end_user,active_from\na@x.io,2026-01-01\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f := ImportOptions{Vendor: "nebuly", Source: users, BatchSize: 10, Concurrency: 1,
		NotifyOptions: NotifyOptions{Notify: "oncall", NotifyOn: "completion,rejects>5%"}}
	in, _, err := PrepareImport(f)
	if err != nil {
		t.Fatal(err)
	}
	if in.Notify == nil || in.Notify.Webhook != "oncall" || in.Notify.Failure || !in.Notify.Completion || *in.Notify.RejectsOver != 5 {
		t.Fatalf("import input's notify %+v", in.Notify)
	}
	f.NotifyOptions = NotifyOptions{}
	if in, _, err = PrepareImport(f); err != nil || in.Notify != nil {
		t.Fatalf("without --notify: %+v, %v", in.Notify, err)
	}

	a := AudienceOptions{Group: "VIP", Source: users, MaxSets: 1, Deadline: 1, NotifyOptions: NotifyOptions{Notify: "oncall"}}
	ain, _, err := PrepareAudience(a)
	if err != nil {
		t.Fatal(err)
	}
	if ain.Notify == nil || !ain.Notify.Failure || ain.Notify.Completion {
		t.Fatalf("sync input's notify %+v; --notify alone means failure", ain.Notify)
	}

	// Every command that starts runs takes both flags, with help that
	// names the choices.
	root := NewRoot(io.Discard, io.Discard)
	for _, path := range [][]string{{"import"}, {"schedule", "create"}, {"audience", "sync"}} {
		cmd, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		n, on := cmd.Flags().Lookup("notify"), cmd.Flags().Lookup("notify-on")
		if n == nil || on == nil || !strings.Contains(on.Usage, "rejects>N%") {
			t.Errorf("%s: --notify %v, --notify-on %v", strings.Join(path, " "), n, on)
		}
	}
}
