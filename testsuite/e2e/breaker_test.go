package e2e

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/source"
	"importer/workflows"
)

// A list that kills the worker reading it does not kill the next worker,
// and the next: after two worker processes died while their attempts read
// it (their last heartbeat said so), the third attempt fails the import
// with the breaker's sentence instead of reading it again.
func TestAListThatKillsTwoWorkersEndsItsImport(t *testing.T) {
	h := newHarness(t)
	bin := buildWorker(t)
	// The list stalls after its first rows, as a reader stuck on a hostile
	// file would: each worker that reads it is killed there.
	var reads, stalls atomic.Int64
	reading := make(chan struct{}, 8)
	stall := make(chan struct{})
	defer close(stall)
	list := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reads.Add(1)
		http.ServeContent(w, r, "users.csv", time.Unix(1700000000, 0), &stallingList{
			size: 1 << 20, head: "end_user,active_from\nann@example.com,2026-01-02\n", stall: stall, gone: r.Context().Done(),
			stalled: func() { stalls.Add(1); reading <- struct{}{} }})
	}))
	defer list.Close()

	worker := func(name string) *exec.Cmd {
		t.Helper()
		logFile, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--address", h.srv.FrontendAddress(), "--namespace", h.srv.Namespace(),
			"--task-queue", h.queue, "--data-dir", filepath.Join(h.dir, name), "--log-format", "json", "--log-level", "warn")
		cmd.Env = append(os.Environ(), "IMPORTER_NEBULY_BASE_URL="+h.url, "IMPORTER_NEBULY_API_KEY="+apiKey,
			source.EnvHosts+"=127.0.0.1")
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait(); _ = logFile.Close() })
		return cmd
	}
	run := h.start("breaker", workflows.ImportInput{Vendor: "nebuly", Source: source.Ref{URI: list.URL + "/users.csv", Format: source.CSV},
		HeartbeatTimeout: 2 * time.Second})
	for i := 1; i <= 2; i++ {
		w := worker(fmt.Sprintf("worker-%d", i))
		select {
		case <-reading:
		case <-time.After(time.Minute):
			t.Fatalf("worker %d never read the list", i)
		}
		// Killed inside the reader, as the runtime kills a process out
		// of memory: no error, no last word.
		if err := w.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		_ = w.Wait()
	}
	before := reads.Load()
	worker("worker-3")
	_, err := h.wait(run, 2*time.Minute)
	var app *temporal.ApplicationError
	if !errors.As(err, &app) {
		t.Fatalf("the import: %v; want it failed by the breaker", err)
	}
	var d workflows.FailureDetails
	if !app.HasDetails() || app.Details(&d) != nil || d.Cause != failure.SourceKilledWorker ||
		!strings.Contains(app.Message(), "2 attempts went silent while reading it") {
		t.Fatalf("the import failed with %q (cause %q); want the breaker's sentence", app.Message(), d.Cause)
	}
	if n, after := stalls.Load(), reads.Load(); n != 2 || after != before {
		t.Fatalf("the reader stalled %d times, and the third worker asked for the list %d times; want 2 and none", n, after-before)
	}
	t.Logf("the import failed with: %s", app.Message())
}

// stallingList is a list of size bytes whose first bytes are head (then
// padding) and whose reading blocks, past head, until stall is closed.
type stallingList struct {
	size    int64
	head    string
	off     int64
	stall   chan struct{}
	gone    <-chan struct{} // the reader hung up
	stalled func()
}

func (l *stallingList) Read(p []byte) (int, error) {
	if l.off >= l.size {
		return 0, io.EOF
	}
	if l.off >= int64(len(l.head)) {
		l.stalled()
		select {
		case <-l.stall:
		case <-l.gone:
		}
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, l.head[l.off:])
	l.off += int64(n)
	return n, nil
}

func (l *stallingList) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
		l.off = offset
	case io.SeekCurrent:
		l.off += offset
	case io.SeekEnd:
		l.off = l.size + offset
	}
	return l.off, nil
}
