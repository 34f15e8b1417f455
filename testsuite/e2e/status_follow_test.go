package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"importer/activities/vendors/gen"
	"importer/starter/cli"
)

// progressLine is a line of the live display: "importing: 300 / 900 rows
// (33.3%) · ... · 10 rejected".
var progressLine = regexp.MustCompile(`(?m)^[a-z]+: [0-9,]+ (/ [0-9,]+ )?rows.* · [0-9,]+ rejected`)

// An import started without --wait, or detached from, is picked up again by
// `status --follow`: live progress, across its continued-as-new runs, to the
// summary and exit code of `import --wait`; Ctrl-C leaves it running.
func TestStatusFollowPicksUpARunningImportToItsSummary(t *testing.T) {
	h := newHarness(t)
	h.fake.SetLatency(100 * time.Millisecond) // 18 requests one at a time: about two seconds
	h.startWorker(h.conns(apiKey), 0)
	o := gen.Options{Rows: 900, InvalidEvery: 30}
	path, st := h.generate("people.csv", o)

	// BitLabs has no credentials on this worker: this import fails.
	bl := filepath.Join(h.dir, "bitlabs.csv")
	if _, err := gen.VendorFile("bitlabs", bl, gen.Options{Rows: 20}); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := h.runCLI(context.Background(), "import", "--vendor", "bitlabs", "--source", bl, "--id", "follow-failed"); code != 0 {
		t.Fatalf("start: exit %d\n%s", code, errOut)
	}

	// The input the CLI builds, continued as new every three chunks (no
	// flag sets that), started detached.
	in, _, err := cli.PrepareImport(cli.ImportOptions{
		Vendor: "nebuly", Connection: "default", Source: path,
		BatchSize: 50, ChunkRows: 100, Concurrency: 1, VendorDeadline: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	in.ChunksPerRun = 3
	h.start("follow", in)
	h.waitProgress("follow", 1) // it answers the progress query

	t.Run("Ctrl-C stops following and the import goes on", func(t *testing.T) {
		ctx, ctrlC := context.WithCancel(context.Background())
		defer ctrlC()
		stderr := newWatchedBuffer(progressLine)
		go func() {
			select {
			case <-stderr.seen:
				ctrlC()
			case <-ctx.Done():
			}
		}()
		var stdout bytes.Buffer
		code := h.runCLIWriters(ctx, &stdout, stderr, "status", "follow", "--follow")
		errOut := stderr.String()
		if code != 130 || !progressLine.MatchString(errOut) {
			t.Fatalf("exit %d, want 130 after the first progress line\n%s", code, errOut)
		}
		if !strings.Contains(errOut, "Detached; the import goes on. Follow it again with: starter status --follow follow") || stdout.Len() != 0 {
			t.Fatalf("stdout %q\nstderr:\n%s", stdout.String(), errOut)
		}
		desc, err := h.c.DescribeWorkflowExecution(context.Background(), "follow", "")
		if err != nil {
			t.Fatal(err)
		}
		if s := desc.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("the import is %s after Ctrl-C, want running", s)
		}
	})

	t.Run("following to the end prints progress and the summary", func(t *testing.T) {
		out, errOut, code := h.runCLI(context.Background(), "status", "follow", "--follow")
		if code != 0 {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
		if !strings.HasPrefix(errOut, "Following import follow\n  UI: ") || !progressLine.MatchString(errOut) {
			t.Errorf("stderr shows no live progress:\n%s", errOut)
		}
		for _, want := range []string{
			"Import follow completed in ",
			fmt.Sprintf("rows read     %d\n", st.Rows),
			fmt.Sprintf("accepted      %d (", st.Valid),
			fmt.Sprintf("rejected      %d\n", st.Invalid),
			"rejects       starter rejects follow\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the summary has no %q:\n%s", want, out)
			}
		}
		checkStored(t, h.fake, o, st)
	})

	t.Run("an ended import prints its final status", func(t *testing.T) {
		out, errOut, code := h.runCLI(context.Background(), "status", "follow", "--follow", "-o", "json")
		if code != 0 || errOut != "" {
			t.Fatalf("exit %d, stderr %q (an ended import has nothing to follow)", code, errOut)
		}
		var sum map[string]any
		if err := json.Unmarshal([]byte(out), &sum); err != nil {
			t.Fatalf("stdout is not one JSON object: %v\n%s", err, out)
		}
		want := map[string]any{"workflow_id": "follow", "status": "completed", "rows_read": float64(st.Rows), "accepted": float64(st.Valid), "rejected": float64(st.Invalid)}
		for k, v := range want {
			if sum[k] != v {
				t.Errorf("%s = %v, want %v", k, sum[k], v)
			}
		}
		// Nine chunks, three a run: a summary of every row is the last
		// run's, so following followed the runs.
		if runs, _ := sum["runs"].(float64); runs < 2 {
			t.Errorf("runs = %v: the import did not continue as new, and the test proves nothing about following runs", sum["runs"])
		}
		table, _, _ := h.runCLI(context.Background(), "status", "follow", "--follow")
		plain, _, _ := h.runCLI(context.Background(), "status", "follow")
		if table != plain {
			t.Errorf("status --follow of an ended import:\n%s\nstatus:\n%s", table, plain)
		}
	})

	t.Run("a failed import exits 1 saying why", func(t *testing.T) {
		out, errOut, code := h.runCLI(context.Background(), "status", "follow-failed", "--follow")
		if code != 1 || !strings.Contains(errOut, "follow-failed") || !strings.Contains(errOut, "IMPORTER_BITLABS_S2S_TOKEN") {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
	})
}

// runCLIWriters is runCLI writing to the test's writers, which it may read
// while the command runs.
func (h *harness) runCLIWriters(ctx context.Context, stdout, stderr io.Writer, args ...string) (code int) {
	root := cli.NewRoot(stdout, stderr)
	root.SetArgs(append([]string{"--address", h.srv.FrontendAddress(), "--namespace", h.srv.Namespace(), "--task-queue", h.queue}, args...))
	err := root.ExecuteContext(ctx)
	var ee cli.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.Code
	case err != nil:
		fmt.Fprint(stderr, err.Error())
		return 1
	}
	return 0
}

// watchedBuffer is a buffer a command writes while the test waits for what
// it writes: seen closes when the text first matches.
type watchedBuffer struct {
	mu   sync.Mutex
	b    bytes.Buffer
	re   *regexp.Regexp
	seen chan struct{}
	once sync.Once
}

func newWatchedBuffer(re *regexp.Regexp) *watchedBuffer {
	return &watchedBuffer{re: re, seen: make(chan struct{})}
}

func (w *watchedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.b.Write(p)
	if w.re.Match(w.b.Bytes()) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *watchedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
