package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/notify"
	"importer/activities/source"
	"importer/activities/vendors/gen"
	"importer/workflows"
)

// recorder keeps every request body a server was sent, and counts them.
type recorder struct {
	next   http.Handler
	hits   atomic.Int64
	mu     sync.Mutex
	bodies [][]byte
	heads  []http.Header
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	b, _ := io.ReadAll(req.Body)
	req.Body = io.NopCloser(bytes.NewReader(b))
	r.hits.Add(1)
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.heads = append(r.heads, req.Header.Clone())
	r.mu.Unlock()
	if r.next != nil {
		r.next.ServeHTTP(w, req)
	}
}

func (r *recorder) all() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Join(r.bodies, []byte("\n"))
}

// canary is a secret no test writes anywhere but where the worker keeps it.
func canary(t *testing.T, what string) string {
	t.Helper()
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "canary-" + what + "-" + hex.EncodeToString(b)
}

// attackWorld is a worker process whose environment holds canary secrets
// (vendor key, cloud keys, webhook URL and secret, an env-only canary), a
// source policy (one root, one listed host), an artifact store with its
// signing key in the worker's data directory inside the root, and around
// it: an internal service on loopback, an attacker's server, an object
// store, a webhook receiver and a fake Nebuly that records what it is sent.
type attackWorld struct {
	h                  *harness
	base, root, data   string
	secretFile, victim string
	list               string
	stats              gen.Stats
	canaries           map[string]string
	internal, attacker *recorder
	allowed            *httptest.Server
	internalURL        string
	attackerURL        string
	hook, vendor       *recorder
	hookSecret         string
	workerLog          string
}

func newAttackWorld(t *testing.T) *attackWorld {
	h := newHarness(t)
	w := &attackWorld{h: h, base: t.TempDir(), canaries: map[string]string{}}
	w.root = filepath.Join(w.base, "exports")
	w.data = filepath.Join(w.root, ".importer") // inside the root, as worker --dev's
	for _, d := range []string{w.root, w.data} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"env", "nebuly", "aws-secret", "aws-key", "hook-path", "store-password"} {
		w.canaries[k] = canary(t, k)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	w.hookSecret = "whsec_" + base64.StdEncoding.EncodeToString(key)
	w.canaries["hook-secret"] = w.hookSecret

	// What an attacker would like to read: a file outside the root that
	// looks like a list, and a file it would like the worker to delete.
	w.secretFile = filepath.Join(w.base, "secret.csv")
	writeFile(t, w.secretFile, "end_user,active_from\n"+w.canaries["env"]+"@x.io,2026-01-01\n")
	w.victim = filepath.Join(w.base, "victim.csv")
	writeFile(t, w.victim, "end_user,active_from\n")
	if err := os.Symlink("../secret.csv", filepath.Join(w.root, "link-out.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/proc/self/environ", filepath.Join(w.root, "environ.csv")); err != nil {
		t.Fatal(err)
	}
	w.list = filepath.Join(w.root, "users.csv")
	var err error
	if w.stats, err = gen.VendorFile("nebuly", w.list, gen.Options{Rows: 400, InvalidEvery: 40}); err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(w.list)
	if err != nil {
		t.Fatal(err)
	}

	// An internal service (loopback, not listed) and an attacker's server:
	// neither may ever be reached.
	w.internal = &recorder{next: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = fmt.Fprintf(rw, "end_user,active_from\n%s@x.io,2026-01-01\n", w.canaries["env"])
	})}
	internal := httptest.NewServer(w.internal)
	t.Cleanup(internal.Close)
	w.internalURL = internal.URL
	w.attacker = &recorder{}
	attacker := httptest.NewServer(w.attacker)
	t.Cleanup(attacker.Close)
	w.attackerURL = attacker.URL
	// A listed host: it serves the list, and redirects to the internal one.
	w.allowed = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(rw, r, internal.URL+"/users.csv", http.StatusFound)
			return
		}
		http.ServeContent(rw, r, "users.csv", time.Unix(1700000000, 0), bytes.NewReader(body))
	}))
	t.Cleanup(w.allowed.Close)
	// An object store with the list.
	backend := s3mem.New()
	if err := backend.CreateBucket("exports"); err != nil {
		t.Fatal(err)
	}
	if _, err := backend.PutObject("exports", "nightly/users.csv", map[string]string{}, bytes.NewReader(body), int64(len(body)), nil); err != nil {
		t.Fatal(err)
	}
	s3 := httptest.NewServer(gofakes3.New(backend).Server())
	t.Cleanup(s3.Close)
	// The webhook receiver and the vendor record everything they get.
	w.hook = &recorder{next: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { rw.WriteHeader(http.StatusNoContent) })}
	hook := httptest.NewServer(w.hook)
	t.Cleanup(hook.Close)
	fake := nebulyfake.New(nebulyfake.Options{APIKey: w.canaries["nebuly"]})
	h.fake = fake
	w.vendor = &recorder{next: fake}
	vendor := httptest.NewServer(w.vendor)
	t.Cleanup(vendor.Close)

	_, allowedPort, _ := net.SplitHostPort(w.allowed.Listener.Addr().String())
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"IMPORTER_CANARY=" + w.canaries["env"],
		"IMPORTER_NEBULY_BASE_URL=" + vendor.URL, "IMPORTER_NEBULY_API_KEY=" + w.canaries["nebuly"],
		"AWS_ACCESS_KEY_ID=" + w.canaries["aws-key"], "AWS_SECRET_ACCESS_KEY=" + w.canaries["aws-secret"],
		"AWS_REGION=us-east-1", "AWS_ENDPOINT_URL_S3=" + s3.URL, "IMPORTER_S3_PATH_STYLE=true",
		"AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=" + filepath.Join(w.base, "absent"), "AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(w.base, "absent"),
		"IMPORTER_WEBHOOK_URL=" + hook.URL + "/hooks/" + w.canaries["hook-path"], "IMPORTER_WEBHOOK_SECRET=" + w.hookSecret,
		"IMPORTER_ARTIFACTS=local", "IMPORTER_ARTIFACTS_LISTEN=127.0.0.1:0",
		source.EnvRoots + "=" + w.root, source.EnvHosts + "=127.0.0.1:" + allowedPort,
	}
	w.workerLog = filepath.Join(w.base, "worker.log")
	logFile, err := os.Create(w.workerLog)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(buildWorker(t), "--address", h.srv.FrontendAddress(), "--namespace", h.srv.Namespace(),
		"--task-queue", h.queue, "--data-dir", w.data, "--log-format", "json", "--log-level", "debug")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logFile.Close(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); <-done })
	// The artifact store's signing key, which the worker made.
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(w.data, "artifacts.key"))
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			w.canaries["artifact-key"] = string(bytes.TrimSpace(b))
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(w.workerLog)
			t.Fatalf("the worker made no artifact key: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return w
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// attack is one import an attacker starts with raw workflow input, and
// how the worker must refuse it.
type attack struct {
	name string
	in   workflows.ImportInput
	// kind is the failure type the import must end with; says, what its
	// sentence must say.
	kind, says string
}

func csvSource(uri string) source.Ref { return source.Ref{URI: uri, Format: source.CSV} }

// Whoever can start an import gets the import and nothing else the worker
// holds. Every attack below is made on a worker whose environment, data
// directory and network hold canaries; each must fail with one sentence
// that says why, and no canary may appear in any history event of any
// workflow, the worker's log, the starter's output, the worker's files, the
// webhook's posts or what the vendor was sent. Lists inside the policy (a
// root, a listed host, an object store) import exactly, and a signed
// notification verifies with the Standard Webhooks reference library.
func TestAWorkerTurnedAgainstItselfRefusesAndLeaksNothing(t *testing.T) {
	w := newAttackWorld(t)
	h := w.h
	ctx := context.Background()
	_, internalPort, _ := net.SplitHostPort(strings.TrimPrefix(w.internalURL, "http://"))
	presignedToken := canary(t, "presigned-signature")

	attacks := []attack{
		{"/proc/self/environ", workflows.ImportInput{Source: csvSource("/proc/self/environ")}, failure.SourceRefused, "inside /proc"},
		{"file:///proc/self/environ", workflows.ImportInput{Source: csvSource("file:///proc/self/environ")}, failure.SourceRefused, "inside /proc"},
		{"absolute, outside the root", workflows.ImportInput{Source: csvSource(w.secretFile)}, failure.SourceRefused, "outside the directories this worker may read (IMPORTER_SOURCE_ROOTS)"},
		{"file:// outside the root", workflows.ImportInput{Source: csvSource("file://" + w.secretFile)}, failure.SourceRefused, "IMPORTER_SOURCE_ROOTS"},
		{"dot-dot out of the root", workflows.ImportInput{Source: csvSource(w.root + "/../secret.csv")}, failure.SourceRefused, "IMPORTER_SOURCE_ROOTS"},
		{"a symlink out of the root", workflows.ImportInput{Source: csvSource(filepath.Join(w.root, "link-out.csv"))}, failure.SourceRefused, "leads outside"},
		{"a symlink to /proc", workflows.ImportInput{Source: csvSource(filepath.Join(w.root, "environ.csv"))}, failure.SourceRefused, "leads outside"},
		{"the artifact-signing key", workflows.ImportInput{Source: csvSource(filepath.Join(w.data, "artifacts.key"))}, failure.SourceRefused, "worker's own"},
		{"the worker's store", workflows.ImportInput{Source: csvSource(filepath.Join(w.data, "importer.db"))}, failure.SourceRefused, "worker's own"},
		{"loopback by IP", workflows.ImportInput{Source: csvSource(w.internalURL + "/users.csv")}, failure.SourceRefused, "a loopback address, which this worker does not reach: list the host in IMPORTER_SOURCE_HOSTS"},
		{"loopback by name", workflows.ImportInput{Source: csvSource("http://localhost:" + internalPort + "/users.csv")}, failure.SourceRefused, "IMPORTER_SOURCE_HOSTS"},
		{"loopback as IPv4-in-IPv6", workflows.ImportInput{Source: csvSource("http://[::ffff:127.0.0.1]:" + internalPort + "/users.csv")}, failure.SourceRefused, "a loopback address"},
		{"cloud metadata", workflows.ImportInput{Source: csvSource("http://169.254.169.254/latest/meta-data/iam/security-credentials/x.csv")}, failure.SourceRefused, "a link-local address"},
		{"a redirect from a listed host to an internal one", workflows.ImportInput{Source: csvSource(w.allowed.URL + "/redirect")}, failure.SourceRefused, "a loopback address"},
		{"an object-store URL with endpoint=", workflows.ImportInput{Source: csvSource("s3://exports/nightly/users.csv?endpoint=" + w.attackerURL + "&use_path_style=true")},
			failure.SourceRefused, "only the worker's configuration may set"},
		{"a presigned URL without payload encryption", workflows.ImportInput{Source: csvSource(w.allowed.URL + "/users.csv?X-Amz-Signature=" + presignedToken)},
			failure.BadInput, "turn payload encryption on (IMPORTER_CODEC_KEYS"},
		{"forged continue-as-new state naming a file to delete", workflows.ImportInput{Source: csvSource(w.list), State: &workflows.ImportState{
			ImportKey: "someone-elses-import-1234abcd", Source: source.Ref{URI: w.victim, Format: source.CSV, Staged: true},
			Staged: &source.Ref{URI: w.victim, Format: source.CSV, Staged: true}}}, failure.BadInput, "only the import itself carries"},
		{"a staged copy named as a source", workflows.ImportInput{Source: source.Ref{URI: w.victim, Format: source.CSV, Staged: true}}, failure.BadInput, "only the import itself fills in"},
	}
	runs := map[string]client.WorkflowRun{}
	var ids []string
	for i, a := range attacks {
		a.in.Vendor = "nebuly"
		id := fmt.Sprintf("attack-%02d", i)
		ids = append(ids, id)
		runs[a.name] = h.start(id, a.in)
	}
	for _, a := range attacks {
		_, err := h.wait(runs[a.name], 2*time.Minute)
		var app *temporal.ApplicationError
		if !errors.As(err, &app) {
			t.Errorf("%s: %v; want it refused", a.name, err)
			continue
		}
		cause := app.Type()
		var d workflows.FailureDetails
		if app.HasDetails() && app.Details(&d) == nil && d.Cause != "" {
			cause = d.Cause
		}
		t.Logf("refused %s: %s: %s", a.name, cause, app.Message())
		if cause != a.kind || !strings.Contains(app.Message(), a.says) || strings.Count(strings.TrimSuffix(app.Message(), "."), ". ") > 0 {
			t.Errorf("%s: %s %q; want a %s failure of one sentence saying %q", a.name, cause, app.Message(), a.kind, a.says)
		}
	}
	if _, err := os.Stat(w.victim); err != nil {
		t.Errorf("the file forged state named was deleted: %v", err)
	}
	if n := w.internal.hits.Load() + w.attacker.hits.Load(); n != 0 {
		t.Errorf("the internal service or the attacker's server was reached %d times", n)
	}

	// Through the starter: refused before a workflow starts, or by the
	// worker, in one line.
	var starterOut bytes.Buffer
	cliRun := func(args ...string) (string, int) {
		out, errOut, code := h.runCLI(ctx, args...)
		starterOut.WriteString(out + errOut)
		return out + errOut, code
	}
	if out, code := cliRun("import", "--vendor", "nebuly", "--source", w.allowed.URL+"/users.csv?X-Amz-Signature="+presignedToken, "--id", "starter-presigned", "--wait"); code == 0 ||
		!strings.Contains(out, "IMPORTER_CODEC_KEYS") || strings.Contains(out, presignedToken) {
		t.Errorf("starter import of a presigned URL: exit %d\n%s", code, out)
	}
	if out, code := cliRun("import", "--vendor", "nebuly", "--source", "/proc/self/environ", "--format", "csv", "--id", "starter-environ", "--wait"); code == 0 ||
		!strings.Contains(out, "inside /proc") {
		t.Errorf("starter import of /proc/self/environ: exit %d\n%s", code, out)
	}
	if out, code := cliRun("import", "--vendor", "nebuly", "--source", w.internalURL+"/users.csv", "--id", "starter-loopback", "--wait"); code == 0 ||
		!strings.Contains(out, "IMPORTER_SOURCE_HOSTS") {
		t.Errorf("starter import from loopback: exit %d\n%s", code, out)
	}
	storePassword := w.canaries["store-password"]
	if out, code := cliRun("rejects", "attack-00", "--store", "host=127.0.0.1 port=1 user=importer dbname=importer connect_timeout=2 password="+storePassword); code == 0 ||
		strings.Contains(out, storePassword) {
		t.Errorf("starter rejects with a keyword-form store: exit %d\n%s", code, out)
	}
	// A Notify workflow started by hand with text of the attacker's.
	forged := notify.Notification{ID: "notify/attack-00/x", Webhook: "default", Event: notify.OnFailure, Status: notify.Failed, Kind: notify.KindImport,
		WorkflowID: "attack-00", RunID: runs[attacks[0].name].GetRunID(), Vendor: "nebuly", Connection: "default",
		Error: "rotate your API key now at https://phish.example/login"}
	nrun, err := h.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: forged.ID, TaskQueue: h.queue}, workflows.NotifyWorkflowName, forged)
	if err != nil {
		t.Fatal(err)
	}
	var app *temporal.ApplicationError
	if err := nrun.Get(ctx, nil); !errors.As(err, &app) || app.Type() != notify.NotFromItsRun {
		t.Errorf("a Notify started by hand: %v; want NotFromItsRun", err)
	}
	ids = append(ids, forged.ID)

	// Lists inside the policy import exactly: a root, a listed host, an
	// object store; the first notifies, signed.
	if out, code := cliRun("import", "--vendor", "nebuly", "--source", w.list, "--id", "legit-root", "--wait",
		"--notify", "default", "--notify-on", "completion,failure"); code != 0 {
		t.Fatalf("a list inside the root: exit %d\n%s", code, out)
	}
	for id, uri := range map[string]string{"legit-host": w.allowed.URL + "/users.csv", "legit-s3": "s3://exports/nightly/users.csv?region=us-east-1"} {
		res, err := h.wait(h.start(id, workflows.ImportInput{Vendor: "nebuly", Source: csvSource(uri)}), 2*time.Minute)
		if err != nil || res.Accepted != int64(w.stats.Valid) || res.Rejected != int64(w.stats.Invalid) {
			t.Fatalf("%s: %+v %v; want %d accepted, %d rejected", uri, res, err, w.stats.Valid, w.stats.Invalid)
		}
		if strings.Contains(res.Source, "?") {
			t.Errorf("the result keeps the URL's query: %s", res.Source)
		}
	}
	ids = append(ids, "legit-root", "legit-host", "legit-s3")
	if got := h.fake.Count(); got != w.stats.Valid {
		t.Errorf("the vendor holds %d users, want %d", got, w.stats.Valid)
	}

	// The notification of the import inside the root, and only it, was
	// posted, signed: an independent verifier accepts it.
	deadline := time.Now().Add(time.Minute)
	for w.hook.hits.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // a stray post would have come by now
	w.hook.mu.Lock()
	posts, heads := append([][]byte(nil), w.hook.bodies...), append([]http.Header(nil), w.hook.heads...)
	w.hook.mu.Unlock()
	if len(posts) != 1 || !bytes.Contains(posts[0], []byte("legit-root")) || bytes.Contains(posts[0], []byte("phish")) {
		t.Fatalf("webhook posts: %q; want the one notification of legit-root", posts)
	}
	verifier, err := standardwebhooks.NewWebhook(w.hookSecret)
	if err != nil {
		t.Fatal(err)
	}
	if err := verifier.Verify(posts[0], heads[0]); err != nil {
		t.Errorf("the signed post does not verify: %v", err)
	}
	ids = append(ids, "notify/legit-root/"+h.c.GetWorkflow(ctx, "legit-root", "").GetRunID())

	// No canary anywhere.
	var files bytes.Buffer
	_ = filepath.WalkDir(w.data, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(path) == "artifacts.key" {
			return nil // the key's own file is where it belongs
		}
		b, _ := os.ReadFile(path)
		files.Write(b)
		return nil
	})
	logs, _ := os.ReadFile(w.workerLog)
	history := allHistories(t, h.c, h.srv.Namespace(), ids)
	for where, blob := range map[string][]byte{
		"history": history, "the worker's log": logs, "the starter's output": starterOut.Bytes(),
		"the worker's files (rejects, store)": files.Bytes(), "the webhook's posts": bytes.Join(posts, nil), "what the vendor was sent": w.vendor.all(),
	} {
		for name, c := range w.canaries {
			if i := bytes.Index(blob, []byte(c)); i >= 0 {
				t.Errorf("%s holds the %s canary: ...%s...", where, name, blob[max(i-200, 0):min(i+200, len(blob))])
			}
		}
	}
	// The presigned token is in the one event that carries the attacker's
	// own input, and nowhere after it.
	if n := bytes.Count(history, []byte(presignedToken)); n > 1 {
		t.Errorf("the presigned URL's signature is in %d places of history; want only the start request that carried it", n)
	}
	if len(logs) == 0 || files.Len() == 0 {
		t.Fatalf("nothing scanned: %d bytes of log, %d of files", len(logs), files.Len())
	}
	t.Logf("%d attacks refused; scanned %d KiB of history, %d KiB of log, %d KiB of files for %d canaries",
		len(attacks)+5, len(history)>>10, len(logs)>>10, files.Len()>>10, len(w.canaries))
}
