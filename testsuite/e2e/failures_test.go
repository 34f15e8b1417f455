package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"importer/activities/source"
	"importer/workflows"
)

// Every failure the starter prints is one sentence: what happened, each
// cause once, then what to do where the sentence does not say it already;
// never Temporal's wrapping ("(type: ..., retryable: ...)", "workflow
// execution error"). Each case runs the starter's own commands, as typed,
// and asserts the printed line whole.
func TestCLIPrintsEachFailureAsOneSentenceSayingWhatToDo(t *testing.T) {
	h := newHarness(t)
	// A worker whose Nebuly key the vendor refuses: the cases that fail
	// before a row is sent never reach the vendor.
	h.startWorker(h.conns("wrong-key"), 0)
	list := []byte("end_user,active_from\na@x.io,2026-01-01\nb@x.io,2026-01-01\nc@x.io,2026-01-01\n")
	users := filepath.Join(h.dir, "users.csv")
	if err := os.WriteFile(users, list, 0o600); err != nil {
		t.Fatal(err)
	}

	// An http source that is replaced, with the same size, right after the
	// duplicate scan read it: only its ETag tells.
	var replaced atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/users.csv" {
			http.NotFound(w, r)
			return
		}
		etag := `"v1"`
		if replaced.Load() {
			etag = `"v2"`
		}
		w.Header().Set("ETag", etag)
		http.ServeContent(w, r, "users.csv", time.Time{}, bytes.NewReader(list))
		// The scan reads the data to its end in one request; no chunk has
		// been read yet.
		if rng := r.Header.Get("Range"); !strings.HasPrefix(rng, "bytes=0-") && strings.HasSuffix(rng, fmt.Sprintf("-%d", len(list)-1)) {
			replaced.Store(true)
		}
	}))
	defer srv.Close()

	placeholders := strings.NewReplacer(srv.URL, "<url>", h.dir, "<dir>")
	ctx := context.Background()
	// lastLine is what the starter said last on stderr: the failure, after
	// the "Started ..." lines and the live display of --wait.
	lastLine := func(stderr string) string {
		lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
		return placeholders.Replace(lines[len(lines)-1])
	}
	importArgs := func(id, src string, more ...string) []string {
		return append([]string{"import", "--vendor", "nebuly", "--source", src, "--wait", "--id", id}, more...)
	}

	cases := []struct {
		name string
		// before sets the scene; args are typed to the starter.
		before func(t *testing.T)
		args   []string
		want   string
	}{
		{
			name: "missing local file",
			args: importArgs("e2e-nofile", filepath.Join(h.dir, "missing.csv")),
			want: "cannot read source <dir>/missing.csv: no such file; check the path",
		},
		{
			// The starter saw the file, the worker does not: the failure
			// as starter status prints it.
			name: "missing local file on the worker",
			before: func(t *testing.T) {
				run := h.start("e2e-nofile-worker", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: filepath.Join(h.dir, "gone.csv"), Format: source.CSV}})
				if _, err := h.wait(run, time.Minute); err == nil {
					t.Fatal("an import of a missing file completed")
				}
			},
			args: []string{"status", "e2e-nofile-worker"},
			want: "Import e2e-nofile-worker failed: source <dir>/gone.csv: no such file; fix the path or URL, or start the import with a source every worker can read",
		},
		{
			name: "404 URL",
			args: importArgs("e2e-404", srv.URL+"/missing.csv"),
			want: "Import e2e-404 failed: source <url>/missing.csv answered HTTP 404 Not Found; fix the path or URL, or start the import with a source every worker can read",
		},
		{
			name: "bad credentials",
			args: importArgs("e2e-401", users),
			want: "Import e2e-401 failed: chunk 0, lines 2-4: nebuly: insert users: HTTP 401 Unauthorized: Invalid API key; check IMPORTER_NEBULY_API_KEY on the worker",
		},
		{
			name: "source changed under the import",
			args: importArgs("e2e-changed", srv.URL+"/users.csv", "--concurrency", "1"),
			want: `Import e2e-changed failed: chunk 0: source <url>/users.csv changed since it was planned (ETag "v2", planned "v1"); start the import again once the source has stopped changing`,
		},
		{
			name: "vendor down past the deadline",
			before: func(t *testing.T) {
				h.fake.Faults().SetShare(1, http.StatusServiceUnavailable)
				t.Cleanup(func() { h.fake.Faults().SetShare(0, 0) })
			},
			args: importArgs("e2e-down", users, "--vendor-deadline", "3s"),
			want: "Import e2e-down failed: gave up: the 3s deadline ran out while retrying; the last error: chunk 0, lines 2-4: nebuly: insert users: HTTP 503 Service Unavailable: injected fault; start the import again once that is fixed, or allow it longer with --vendor-deadline",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.before != nil {
				tc.before(t)
			}
			out, errOut, code := h.runCLI(ctx, tc.args...)
			if code != 1 || out != "" {
				t.Errorf("exit %d, stdout %q; want exit 1 and nothing on stdout", code, out)
			}
			if got := lastLine(errOut); got != tc.want {
				t.Errorf("the starter said\n  %s\nwant\n  %s", got, tc.want)
			}
			for _, wrapping := range []string{"(type:", "retryable:", "workflow execution error", "activity error", "secret"} {
				if strings.Contains(errOut, wrapping) {
					t.Errorf("stderr shows %q:\n%s", wrapping, errOut)
				}
			}
		})
	}

	// -o json carries the same sentence, and the failure's types for a
	// script to branch on.
	out, errOut, code := h.runCLI(ctx, append(importArgs("e2e-404-json", srv.URL+"/missing.csv"), "-o", "json")...)
	want := `{
  "cause": "SourceNotFound",
  "error": "source <url>/missing.csv answered HTTP 404 Not Found; fix the path or URL, or start the import with a source every worker can read",
  "status": "failed",
  "type": "ImportFailed",
  "workflow_id": "e2e-404-json"
}
`
	if got := placeholders.Replace(out); code != 1 || got != want {
		t.Errorf("-o json: exit %d, stdout\n%s\nwant\n%s\nstderr: %s", code, got, want, errOut)
	}
}
