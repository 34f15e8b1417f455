package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"

	"importer/activities/vendors/gen"
	"importer/internal/devserver"
	"importer/workflows"
)

// chromiumPath is where Debian's chromium package puts the browser; .ci/run
// installs it.
const chromiumPath = "/usr/bin/chromium"

// pageDeadline is how long a page may take to show what is awaited: a safety
// net for a page that never shows it, not a timing assertion.
const pageDeadline = 3 * time.Minute

// What the UI must show while an import runs. They come from what the
// starter and the workflow set: the static summary of StartImport ("Import
// into nebuly (default) from ...") and the current details of describe
// ("**nebuly** importing" then "N of ... done · N accepted · N rejected").
var (
	summaryShown  = regexp.MustCompile(`Import into nebuly\b`)
	phaseShown    = regexp.MustCompile(`\bnebuly\s+importing\b`)
	acceptedShown = regexp.MustCompile(`\b([0-9][0-9,]*) accepted\b`)
	rejectedShown = regexp.MustCompile(`\b([0-9][0-9,]*) rejected\b`)
	cliLinkShown  = regexp.MustCompile(`UI: (\S+)`)
)

func TestUIShowsARunningImportWithVendorAndProgress(t *testing.T) {
	requireChromium(t)
	h := newUIHarness(t)
	// Slow enough that the import is still running after the browser has
	// started and the pages have rendered; it is cancelled at the end.
	h.fake.SetLatency(300 * time.Millisecond)
	w := h.startWorker(h.conns(apiKey), 0)
	t.Cleanup(w.Stop)
	o := gen.Options{Rows: 50_000, InvalidEvery: 53}
	path, st := h.generate("people.csv", o)

	const id = "ui-import"
	_, errOut, code := h.runCLI(context.Background(), "--ui-url", h.srv.UIAddress(),
		"import", "--vendor", "nebuly", "--source", path, "--id", id, "--batch-size", "100", "--concurrency", "1")
	if code != 0 {
		t.Fatalf("starter import: exit %d\n%s", code, errOut)
	}
	link := cliLinkShown.FindStringSubmatch(errOut)
	wantLink := h.srv.UIAddress() + "/namespaces/" + url.PathEscape(h.srv.Namespace()) + "/workflows/" + id
	if link == nil || link[1] != wantLink {
		t.Fatalf("the starter's UI link is %v; want %s\n%s", link, wantLink, errOut)
	}

	// The current details only say "importing" once rows are done; wait for
	// that through the progress query so the page has something to show.
	deadline := time.Now().Add(2 * time.Minute)
	for h.progress(id).RowsDone == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the import made no progress in 2 minutes: %+v", h.progress(id))
		}
		time.Sleep(200 * time.Millisecond)
	}

	b := openBrowser(t)

	// The namespace's workflow list links the import by its ID.
	b.navigate(h.srv.UIAddress() + "/namespaces/" + url.PathEscape(h.srv.Namespace()) + "/workflows")
	rowLink := fmt.Sprintf(`a[href*="/workflows/%s/"]`, id)
	b.waitFor("the workflow list to link "+id, true, func(string) bool {
		return b.evalBool(fmt.Sprintf(`Array.from(document.querySelectorAll(%q)).some(a => a.textContent.trim() === %q)`, rowLink, id))
	})

	// A user clicks the ID, then the User Metadata tab, where the UI shows
	// the summary and current details.
	b.do("click the workflow ID in the list", chromedp.Click(chromedp.CSS(rowLink)))
	b.waitFor("the workflow page of "+id, false, func(string) bool {
		return strings.Contains(b.location(), "/workflows/"+id+"/")
	})
	b.do("click the User Metadata tab", chromedp.Click(chromedp.Search(`//*[@role="tab"][normalize-space(.)="User Metadata"]`)))
	text := b.waitFor("the vendor and progress on the workflow page", true, func(text string) bool {
		return summaryShown.MatchString(text) && phaseShown.MatchString(text) &&
			atLeast(acceptedShown, text, 1) && atLeast(rejectedShown, text, 0)
	})
	accepted := number(t, acceptedShown, text)
	rejected := number(t, rejectedShown, text)

	shot := b.screenshot("ui-import.png")
	t.Logf("screenshot of the workflow page: %s", shot)
	checkPNG(t, shot)

	// What the page showed must be true of the import and the vendor.
	if accepted+rejected > int64(st.Rows) || rejected > int64(st.Invalid) {
		t.Errorf("the page shows %d accepted and %d rejected; the list has %d rows, %d of them invalid", accepted, rejected, st.Rows, st.Invalid)
	}
	if stored := int64(h.fake.Count()); accepted > stored {
		t.Errorf("the page shows %d accepted but the vendor holds only %d users", accepted, stored)
	}
	desc, err := h.c.DescribeWorkflowExecution(context.Background(), id, "")
	if err != nil {
		t.Fatal(err)
	}
	if s := desc.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		t.Fatalf("the import was %s when the page was read, not running; the test needs a longer list", s)
	}
	t.Logf("the page shows %d accepted and %d rejected of %d rows while the import runs", accepted, rejected, st.Rows)

	if err := h.c.CancelWorkflow(context.Background(), id, ""); err != nil {
		t.Fatalf("cancel the import: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := h.c.GetWorkflow(ctx, id, "").Get(ctx, nil); !temporal.IsCanceledError(err) {
		t.Fatalf("want the import canceled, got %v", err)
	}
}

// requireChromium skips the test without a browser, unless the environment
// demands one (CI does), where a missing browser is a failure.
func requireChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		msg := fmt.Sprintf("no browser at %s (apt-get install chromium): %v", chromiumPath, err)
		if os.Getenv("IMPORTER_REQUIRE_BROWSER") != "" {
			t.Fatal(msg + "; IMPORTER_REQUIRE_BROWSER is set, so the UI test must run")
		}
		t.Skip(msg)
	}
}

// newUIHarness is newHarness with the Temporal web UI on.
func newUIHarness(t *testing.T) *harness {
	t.Helper()
	log := testLogger(t)
	srv, err := devserver.Start(context.Background(), devserver.Options{Logger: log.Level(zerolog.ErrorLevel), SearchAttributes: workflows.SearchAttributes()})
	if err != nil {
		t.Fatalf("start embedded Temporal with its UI: %v", err)
	}
	t.Cleanup(srv.Stop)
	if srv.UIAddress() == "" {
		t.Fatal("the embedded server started without its UI")
	}
	return harnessAround(t, srv, log)
}

// browser is one tab of a headless Chromium.
type browser struct {
	t   *testing.T
	tab context.Context
	out *lockedBuffer
}

// openBrowser starts Chromium with the flags known to work on a machine
// without internet: no background or component traffic, no QUIC, a fresh
// profile; no sandbox, as CI runs as root.
func openBrowser(t *testing.T) *browser {
	t.Helper()
	out := &lockedBuffer{}
	// The flags are listed in full rather than taken from chromedp's
	// defaults, so a chromedp upgrade cannot change what runs here.
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 1000),
		chromedp.CombinedOutput(out),
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	tab, cancelTab := chromedp.NewContext(alloc)
	// Registered after the profile's TempDir, so Chromium has exited before
	// its profile is removed.
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, tab: tab, out: out}
	// The first action starts the browser; it must not carry a timeout,
	// which would end the browser with it.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("start %s: %v\n%s", chromiumPath, err, out.String())
	}
	return b
}

// do runs steps with a generous safety deadline.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail("%s: %v", what, err)
	}
}

func (b *browser) navigate(u string) { b.t.Helper(); b.do("open "+u, chromedp.Navigate(u)) }

func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.tab, 10*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	return loc
}

func (b *browser) evalBool(js string) bool {
	ctx, cancel := context.WithTimeout(b.tab, 10*time.Second)
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	return err == nil && ok
}

// pageTextJS collects the text a reader sees: the document's and that of its
// same-origin frames, where the UI renders markdown such as the summary and
// the current details.
const pageTextJS = `(() => {
	const parts = [document.body ? document.body.innerText : ""];
	for (const f of document.querySelectorAll("iframe")) {
		try {
			if (f.contentDocument && f.contentDocument.body) parts.push(f.contentDocument.body.innerText);
		} catch (e) {}
	}
	return parts.join("\n");
})()`

func (b *browser) text() string {
	ctx, cancel := context.WithTimeout(b.tab, 10*time.Second)
	defer cancel()
	s, _ := chromedp.Run(ctx, chromedp.Evaluate[string](pageTextJS))
	return s
}

// waitFor polls the page until ok accepts its text and returns that text.
// With reload, it reloads the page now and then, as a user would a page
// that does not refresh by itself (the current details do not). The
// deadline is only a safety net for a page that never shows it.
func (b *browser) waitFor(what string, reload bool, ok func(text string) bool) string {
	b.t.Helper()
	deadline := time.Now().Add(pageDeadline)
	lastLoad := time.Now()
	for {
		text := b.text()
		if ok(text) {
			return text
		}
		if time.Now().After(deadline) {
			b.fail("waited %s for %s; the page (%s) shows:\n%s", pageDeadline, what, b.location(), squeeze(text, 3000))
		}
		if reload && time.Since(lastLoad) > 20*time.Second {
			b.do("reload "+b.location(), chromedp.Reload())
			lastLoad = time.Now()
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// screenshot saves a full-page PNG under the test's artifact directory and
// returns its path.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.tab, time.Minute)
	defer cancel()
	data, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(artifactDir(b.t), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.t.Fatalf("save the screenshot: %v", err)
	}
	return path
}

// fail saves what the browser shows, for whoever reads the failure, and
// fails the test.
func (b *browser) fail(format string, args ...any) {
	b.t.Helper()
	msg := fmt.Sprintf(format, args...)
	ctx, cancel := context.WithTimeout(b.tab, 30*time.Second)
	defer cancel()
	if data, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil {
		path := filepath.Join(artifactDir(b.t), "ui-failure.png")
		if os.WriteFile(path, data, 0o644) == nil {
			msg += "\nscreenshot: " + path
		}
	}
	if out := b.out.String(); out != "" {
		if len(out) > 2000 {
			out = "…" + out[len(out)-2000:]
		}
		msg += "\nchromium's output (its end):\n" + out
	}
	b.t.Fatal(msg)
}

// artifactDir is $IMPORTER_TEST_ARTIFACTS (CI keeps it) or a temporary
// directory.
func artifactDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("IMPORTER_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("artifact directory: %v", err)
	}
	return dir
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if cfg.Width == 0 || cfg.Height == 0 {
		t.Fatalf("%s is an empty %dx%d image", path, cfg.Width, cfg.Height)
	}
}

// squeeze drops the blank lines the page's layout leaves in its text and
// cuts it to at most max bytes.
func squeeze(text string, max int) string {
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	s := strings.Join(lines, "\n")
	if len(s) > max {
		s = s[:max] + " …"
	}
	return s
}

// atLeast reports whether re's first number in text is at least min.
func atLeast(re *regexp.Regexp, text string, min int64) bool {
	n, err := parseCount(re, text)
	return err == nil && n >= min
}

func number(t *testing.T, re *regexp.Regexp, text string) int64 {
	t.Helper()
	n, err := parseCount(re, text)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func parseCount(re *regexp.Regexp, text string) (int64, error) {
	m := re.FindStringSubmatch(text)
	if m == nil {
		return 0, errors.New("no match for " + re.String())
	}
	n, err := strconv.ParseInt(strings.ReplaceAll(m[1], ",", ""), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: %w", m[1], err)
	}
	return n, nil
}

// lockedBuffer collects Chromium's output, written from another goroutine.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
