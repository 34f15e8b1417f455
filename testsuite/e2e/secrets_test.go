package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/reflect/protoreflect"

	bitlabsfake "importer/activities/bitlabs/fake"
	dynamicfake "importer/activities/dynamic/fake"
	fyndfake "importer/activities/fynd/fake"
	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/source"
	userpilotfake "importer/activities/userpilot/fake"
	"importer/activities/vendors"
	"importer/activities/vendors/gen"
	"importer/internal/codec"
	"importer/internal/connections"
	"importer/workflows"
	"importer/workflows/gate"
	"importer/workflows/pacer"
)

// echoing answers every request its vendor fake refuses (401, 403) with
// the credentials the request carried, as some vendors do ("invalid API key
// 'sk-...'"), so that the tests see what our clients make of such an answer.
//
// It also notes the OAuth tokens the vendor issues (Fynd's), which are
// credentials as much as the client secret is.
type echoing struct {
	next   http.Handler
	echoed atomic.Int64

	mu     sync.Mutex
	issued []string
}

func (e *echoing) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := httptest.NewRecorder()
	e.next.ServeHTTP(rec, r)
	var grant struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(rec.Body.Bytes(), &grant) == nil && grant.AccessToken != "" {
		e.mu.Lock()
		e.issued = append(e.issued, grant.AccessToken, grant.RefreshToken)
		e.mu.Unlock()
	}
	if rec.Code != http.StatusUnauthorized && rec.Code != http.StatusForbidden {
		for k, vs := range rec.Header() {
			w.Header()[k] = vs
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	var presented []string
	for _, h := range []string{"Authorization", "X-S2S-Token"} {
		if v := r.Header.Get(h); v != "" {
			presented = append(presented, v)
		}
	}
	if id, secret, ok := r.BasicAuth(); ok {
		presented = append(presented, id+":"+secret)
	}
	e.echoed.Add(1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(rec.Code)
	fmt.Fprintf(w, "invalid credentials: %s", strings.Join(presented, " "))
}

func serveEchoing(t *testing.T, h http.Handler) (*echoing, string) {
	e := &echoing{next: h}
	srv := httptest.NewServer(e)
	t.Cleanup(srv.Close)
	return e, srv.URL
}

// The credentials of the secrets test: distinctive, so that any copy of
// one, anywhere, is found.
const (
	secNebuly         = "nbk-SECRET-4b1d7e0c9a"
	secBitlabs        = "blt-SECRET-77aa31c0de"
	secUserpilot      = "upk-SECRET-5e6f0a9d21"
	secDynamic        = "dyt-SECRET-c3b2a19f08"
	secFynd           = "fys-SECRET-0f1e2d3c4b"
	secWrongNebuly    = "nbk-WRONG-SECRET-88e1f0"
	secWrongBitlabs   = "blt-WRONG-SECRET-19c2d4"
	secWrongUserpilot = "upk-WRONG-SECRET-6a7b8c"
	secWrongDynamic   = "dyt-WRONG-SECRET-0e0f1a"
	secWrongFynd      = "fys-WRONG-SECRET-2b3c4d"
	secFyndClient     = "fynd-secrets-client"
)

// secretVariables are the worker's environment; the config file refers to
// them, so it holds no secret itself.
var secretVariables = map[string]string{
	"E2E_NEBULY_KEY": secNebuly, "E2E_BITLABS_TOKEN": secBitlabs, "E2E_USERPILOT_KEY": secUserpilot,
	"E2E_DYNAMIC_TOKEN": secDynamic, "E2E_FYND_SECRET": secFynd,
	"E2E_NEBULY_WRONG": secWrongNebuly, "E2E_BITLABS_WRONG": secWrongBitlabs, "E2E_USERPILOT_WRONG": secWrongUserpilot,
	"E2E_DYNAMIC_WRONG": secWrongDynamic, "E2E_FYND_WRONG": secWrongFynd,
}

// secretStrings are every form a credential could leak in: as set, and
// Fynd's client credentials as the Basic authorization carries them.
func secretStrings() map[string]string {
	out := map[string]string{}
	for name, v := range secretVariables {
		out[name] = v
	}
	out["fynd basic auth"] = base64.StdEncoding.EncodeToString([]byte(secFyndClient + ":" + secFynd))
	out["fynd basic auth (wrong)"] = base64.StdEncoding.EncodeToString([]byte(secFyndClient + ":" + secWrongFynd))
	return out
}

// assertNoSecret fails when blob holds any of secrets, showing where.
func assertNoSecret(t *testing.T, where string, blob []byte, secrets map[string]string) {
	t.Helper()
	for name, s := range secrets {
		if i := bytes.Index(blob, []byte(s)); i >= 0 {
			lo, hi := max(i-200, 0), min(i+len(s)+200, len(blob))
			t.Errorf("%s holds %s:\n...%s...", where, name, blob[lo:hi])
		}
	}
}

// secretsWorld is one harness with every vendor's fake, each behind an
// echoing front, and a worker whose connections come from a config file.
type secretsWorld struct {
	*harness
	logs                         *lockedBuffer
	nebuly                       *nebulyfake.Server
	fynd                         *fyndfake.Server
	echo                         map[string]*echoing
	url                          map[string]string
	configFile                   string
	fyndCompany, fyndApplication string
}

func newSecretsWorld(t *testing.T) *secretsWorld {
	logs := &lockedBuffer{}
	h := newHarnessLogging(t, zerolog.New(logs).Level(zerolog.DebugLevel))
	h.withArtifacts()
	w := &secretsWorld{harness: h, logs: logs, echo: map[string]*echoing{}, url: map[string]string{},
		fyndCompany: "559", fyndApplication: "64b000000000000000000002"}
	w.nebuly = nebulyfake.New(nebulyfake.Options{APIKey: secNebuly})
	w.fynd = fyndfake.New(fyndfake.Options{
		ClientID: secFyndClient, ClientSecret: secFynd, CompanyID: w.fyndCompany, ApplicationID: w.fyndApplication,
		Users: seed(secretsAudience, nil), JobStep: 20 * time.Millisecond, GroupStep: 20 * time.Millisecond, RefreshDelay: 30 * time.Millisecond,
	})
	t.Cleanup(w.fynd.Close)
	for vendor, handler := range map[string]http.Handler{
		"nebuly":    w.nebuly,
		"bitlabs":   bitlabsfake.New(bitlabsfake.Options{Token: secBitlabs}),
		"userpilot": userpilotfake.New(userpilotfake.Options{APIKey: secUserpilot, RowsPerMinute: 1_200_000}),
		"dynamic":   dynamicfake.New(dynamicfake.Options{Token: secDynamic, Requests: -1}),
		"fynd":      w.fynd,
	} {
		w.echo[vendor], w.url[vendor] = serveEchoing(t, handler)
	}
	for k, v := range secretVariables {
		t.Setenv(k, v)
	}
	w.configFile = filepath.Join(t.TempDir(), "importer.yaml")
	if err := os.WriteFile(w.configFile, []byte(w.config()), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

var secretsAudience = audienceList{n: 120, dups: 2}

// config is the worker's config file: two accounts per vendor, one with
// the right credentials and one with wrong ones, all by reference.
func (w *secretsWorld) config() string {
	var b strings.Builder
	b.WriteString("# Vendor accounts of the secrets test; the values live in the environment.\nconnections:\n")
	fmt.Fprintf(&b, "  nebuly:\n    eu: {api_key: \"${E2E_NEBULY_KEY}\", base_url: %q}\n    wrong: {api_key: \"${E2E_NEBULY_WRONG}\", base_url: %q}\n",
		w.url["nebuly"], w.url["nebuly"])
	fmt.Fprintf(&b, "  bitlabs:\n    main: {s2s_token: \"${E2E_BITLABS_TOKEN}\", base_url: %q}\n    wrong: {s2s_token: \"${E2E_BITLABS_WRONG}\", base_url: %q}\n",
		w.url["bitlabs"], w.url["bitlabs"])
	fmt.Fprintf(&b, "  userpilot:\n    main: {api_key: \"${E2E_USERPILOT_KEY}\", base_url: %q}\n    wrong: {api_key: \"${E2E_USERPILOT_WRONG}\", base_url: %q}\n",
		w.url["userpilot"], w.url["userpilot"])
	b.WriteString("  dynamic:\n")
	for _, c := range []struct{ name, ref string }{{"prod", "E2E_DYNAMIC_TOKEN"}, {"wrong", "E2E_DYNAMIC_WRONG"}} {
		fmt.Fprintf(&b, "    %s:\n      api_token: \"${%s}\"\n      environment_id: %s\n      base_url: %q\n      requests_per_minute: 6000\n",
			c.name, c.ref, dynamicfake.DefaultEnvironmentID, w.url["dynamic"])
	}
	b.WriteString("  fynd:\n")
	for _, c := range []struct{ name, ref string }{{"shop", "E2E_FYND_SECRET"}, {"wrong", "E2E_FYND_WRONG"}} {
		fmt.Fprintf(&b, "    %s: {client_id: %s, client_secret: \"${%s}\", company_id: %q, application_id: %q, base_url: %q}\n",
			c.name, secFyndClient, c.ref, w.fyndCompany, w.fyndApplication, w.url["fynd"])
	}
	return b.String()
}

func (w *secretsWorld) list(vendor string) (string, gen.Stats) {
	w.t.Helper()
	path := filepath.Join(w.dir, vendor+".csv")
	st, err := gen.VendorFile(vendor, path, gen.Options{Rows: 400, InvalidEvery: 37, IDPrefix: vendor})
	if err != nil {
		w.t.Fatal(err)
	}
	return path, st
}

func (w *secretsWorld) importInput(vendor, conn, path string) workflows.ImportInput {
	return workflows.ImportInput{Vendor: vendor, Connection: conn, Source: source.Ref{URI: path, Format: source.CSV},
		BatchSize: 50, ChunkRows: 100, JobPoll: 20 * time.Millisecond, JobMaxPoll: 100 * time.Millisecond}
}

func (w *secretsWorld) audience(id, conn, path string) client.WorkflowRun {
	w.t.Helper()
	run, err := w.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: id, TaskQueue: w.queue}, workflows.AudienceWorkflowName,
		workflows.AudienceInput{Connection: conn, Group: "Secrets test", Source: source.Ref{URI: path, Format: source.CSV}, Mapping: audienceMapping(),
			Poll: 20 * time.Millisecond, MaxPoll: 200 * time.Millisecond})
	if err != nil {
		w.t.Fatal(err)
	}
	return run
}

// allHistories returns every event of every workflow run in the namespace,
// once the runs named in want are all listed, as JSON with each payload's
// data and metadata appended in the clear: protojson shows payload bytes
// in base64, where a search for the secret would not find it.
func allHistories(t *testing.T, c client.Client, namespace string, want []string) []byte {
	t.Helper()
	ctx := context.Background()
	var execs []*commonpb.WorkflowExecution
	deadline := time.Now().Add(time.Minute) // a safety net for visibility lag
	for {
		execs = execs[:0]
		seen := map[string]bool{}
		var token []byte
		for {
			resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: namespace, PageSize: 500, NextPageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range resp.GetExecutions() {
				execs = append(execs, e.GetExecution())
				seen[e.GetExecution().GetWorkflowId()] = true
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				break
			}
		}
		var missing []string
		for _, id := range want {
			if !seen[id] {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("workflows never listed: %v", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var blob bytes.Buffer
	for _, e := range execs {
		it := c.GetWorkflowHistory(ctx, e.GetWorkflowId(), e.GetRunId(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			appendEvent(t, &blob, ev)
		}
	}
	return blob.Bytes()
}

func appendEvent(t *testing.T, blob *bytes.Buffer, ev *historypb.HistoryEvent) {
	t.Helper()
	b, err := protojson.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	blob.Write(b)
	blob.WriteByte('\n')
	walkPayloads(ev.ProtoReflect(), false, func(p *commonpb.Payload, _ bool) {
		for k, v := range p.GetMetadata() {
			fmt.Fprintf(blob, "%s=%s\n", k, v)
		}
		blob.Write(p.GetData())
		blob.WriteByte('\n')
	})
}

// walkPayloads calls visit for every payload inside m, saying whether it
// is a search attribute's (which no codec encodes).
func walkPayloads(m protoreflect.Message, inSearchAttrs bool, visit func(p *commonpb.Payload, inSearchAttrs bool)) {
	switch msg := m.Interface().(type) {
	case *commonpb.Payload:
		visit(msg, inSearchAttrs)
		return
	case *commonpb.SearchAttributes:
		inSearchAttrs = true
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsMap():
			if fd.MapValue().Message() != nil {
				v.Map().Range(func(_ protoreflect.MapKey, mv protoreflect.Value) bool {
					walkPayloads(mv.Message(), inSearchAttrs, visit)
					return true
				})
			}
		case fd.IsList():
			if fd.Message() != nil {
				for i := 0; i < v.List().Len(); i++ {
					walkPayloads(v.List().Get(i).Message(), inSearchAttrs, visit)
				}
			}
		case fd.Message() != nil:
			walkPayloads(v.Message(), inSearchAttrs, visit)
		}
		return true
	})
}

// allFiles concatenates every file under dir: rejects, their parts,
// incremental state, artifacts.
func allFiles(t *testing.T, dir string) []byte {
	t.Helper()
	var blob bytes.Buffer
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		blob.Write(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return blob.Bytes()
}

func TestSecretsStayOutOfHistoryLogsAndFiles(t *testing.T) {
	w := newSecretsWorld(t)

	// The config file: refused while others can read it, then accepted,
	// its ${VAR} references filled from the environment.
	if err := os.Chmod(w.configFile, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := connections.Load(w.configFile, os.Environ(), vendors.ConnectionSchema()); err == nil || !strings.Contains(err.Error(), "chmod 600 "+w.configFile) {
		t.Fatalf("a config file at mode 0644: want a refusal that says chmod 600, got %v", err)
	}
	if err := os.Chmod(w.configFile, 0o600); err != nil {
		t.Fatal(err)
	}
	conns, err := connections.Load(w.configFile, os.Environ(), vendors.ConnectionSchema())
	if err != nil {
		t.Fatal(err)
	}
	if eu, _ := conns.Get("nebuly", "eu"); eu.Get("API_KEY") != secNebuly {
		t.Fatal("the config file's ${E2E_NEBULY_KEY} was not expanded")
	}
	w.startWorker(conns, 0)

	// A full run per vendor with the right credentials. Nebuly's is started
	// by the starter, at debug level, to see what it prints.
	type run struct {
		vendor string
		run    client.WorkflowRun
		st     gen.Stats
	}
	var runs []run
	for _, vendor := range []string{"bitlabs", "userpilot", "dynamic"} {
		path, st := w.list(vendor)
		conn := map[string]string{"bitlabs": "main", "userpilot": "main", "dynamic": "prod"}[vendor]
		runs = append(runs, run{vendor, w.start("secrets-"+vendor, w.importInput(vendor, conn, path)), st})
	}
	audPath := filepath.Join(w.dir, "customers.csv")
	secretsAudience.write(t, audPath)
	audRun := w.audience("secrets-fynd", "shop", audPath)

	nebulyPath, nebulySt := w.list("nebuly")
	ctx := context.Background()
	cliOut, cliErr, code := w.runCLI(ctx, "--log-level", "debug", "import", "--vendor", "nebuly", "--connection", "eu",
		"--source", nebulyPath, "--wait", "--id", "secrets-nebuly", "-o", "json")
	if code != 0 {
		t.Fatalf("starter import: exit %d\n%s\n%s", code, cliOut, cliErr)
	}
	starter := []byte(cliOut + cliErr)
	if w.nebuly.Count() != nebulySt.Valid {
		t.Fatalf("nebuly holds %d users, want %d", w.nebuly.Count(), nebulySt.Valid)
	}
	nebulyRes, err := w.wait(w.c.GetWorkflow(ctx, "secrets-nebuly", ""), time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	withRejects := []string{nebulyRes.WorkflowID}
	for _, r := range runs {
		res, err := w.wait(r.run, 3*time.Minute)
		if err != nil {
			t.Fatalf("%s import: %v", r.vendor, err)
		}
		if res.Accepted != int64(r.st.Valid) || res.Rejected != int64(r.st.Invalid) || r.st.Invalid == 0 {
			t.Fatalf("%s import: %+v; want %d accepted and %d rejected", r.vendor, res, r.st.Valid, r.st.Invalid)
		}
		withRejects = append(withRejects, res.WorkflowID)
	}
	aud, err := waitAudience(t, audRun, 3*time.Minute)
	if err != nil {
		t.Fatalf("fynd audience sync: %v", err)
	}
	if aud.Accepted == 0 || aud.Rejected == 0 {
		t.Fatalf("fynd audience sync: %+v; want accepted and rejected rows", aud)
	}
	withRejects = append(withRejects, aud.WorkflowID)
	for _, id := range withRejects {
		if n := len(w.readRejects(id)); n == 0 {
			t.Fatalf("the store has no rejects of %s; the test needs rejects to look into", id)
		}
	}

	// The same with WRONG credentials: each fails, and the vendor's answer
	// quotes the wrong credential back.
	wrongOut, wrongErr, code := w.runCLI(ctx, "--log-level", "debug", "import", "--vendor", "nebuly", "--connection", "wrong",
		"--source", nebulyPath, "--wait", "--id", "secrets-nebuly-wrong")
	if code == 0 {
		t.Fatalf("an import with a wrong API key succeeded:\n%s\n%s", wrongOut, wrongErr)
	}
	starter = append(starter, wrongOut+wrongErr...)
	failures := map[string]error{}
	_, failures["nebuly"] = w.wait(w.c.GetWorkflow(ctx, "secrets-nebuly-wrong", ""), time.Minute)
	wrongRuns := map[string]client.WorkflowRun{}
	for _, vendor := range []string{"bitlabs", "userpilot", "dynamic"} {
		wrongRuns[vendor] = w.start("secrets-"+vendor+"-wrong", w.importInput(vendor, "wrong", filepath.Join(w.dir, vendor+".csv")))
	}
	fyndWrong := w.audience("secrets-fynd-wrong", "wrong", audPath)
	for vendor, r := range wrongRuns {
		_, failures[vendor] = w.wait(r, 2*time.Minute)
	}
	_, failures["fynd"] = waitAudience(t, fyndWrong, 2*time.Minute)
	for vendor, err := range failures {
		if err == nil {
			t.Fatalf("%s: a run with a wrong credential succeeded", vendor)
		}
		if !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "403") {
			t.Errorf("%s: the failure does not say the vendor refused the credential: %v", vendor, err)
		}
		if n := w.echo[vendor].echoed.Load(); n == 0 {
			t.Errorf("%s: the vendor never echoed a credential; the test proves nothing for it", vendor)
		}
		assertNoSecret(t, vendor+"'s failure", []byte(err.Error()), secretStrings())
	}

	want := []string{"secrets-nebuly", "secrets-nebuly-wrong", "secrets-fynd", "secrets-fynd-wrong",
		gate.ID("bitlabs", "main"), gate.ID("userpilot", "main"), pacer.ID("dynamic", "")}
	for _, vendor := range []string{"bitlabs", "userpilot", "dynamic"} {
		want = append(want, "secrets-"+vendor, "secrets-"+vendor+"-wrong")
	}
	history := allHistories(t, w.c, w.srv.Namespace(), want)
	logs := []byte(w.logs.String())
	files := allFiles(t, w.dir)

	// What the search looks into must be what it claims to be.
	for _, p := range []string{nebulyPath, audPath, `"connection":"eu"`, `"connection":"wrong"`} {
		if !bytes.Contains(history, []byte(p)) {
			t.Fatalf("the collected history lacks %s: the payloads were not read", p)
		}
	}
	if !bytes.Contains(logs, []byte(`"level":"debug"`)) || !bytes.Contains(logs, []byte("nebuly/eu: api_key,base_url")) {
		t.Fatalf("the worker's debug log or its connections line was not captured:\n%.2000s", logs)
	}
	if !strings.Contains(cliErr, "Started import secrets-nebuly") || !strings.Contains(wrongErr, "401") {
		t.Fatalf("the starter's output was not captured:\n%s", starter)
	}
	if !bytes.Contains(files, []byte("@")) {
		t.Fatal("the data directory holds no rejects or artifacts")
	}

	secrets := secretStrings()
	w.echo["fynd"].mu.Lock()
	for i, tok := range w.echo["fynd"].issued {
		if len(tok) >= 8 {
			secrets[fmt.Sprintf("fynd token %d", i)] = tok
		}
	}
	w.echo["fynd"].mu.Unlock()
	if len(secrets) == len(secretStrings()) {
		t.Fatal("no Fynd access token was seen; the audience sync did not authenticate through the front")
	}
	assertNoSecret(t, "workflow history", history, secrets)
	assertNoSecret(t, "the worker's log", logs, secrets)
	assertNoSecret(t, "the starter's output", starter, secrets)
	assertNoSecret(t, "the worker's data directory", files, secrets)
	t.Logf("searched %d KiB of history, %d KiB of worker log, %d KiB of starter output, %d KiB of files",
		len(history)>>10, len(logs)>>10, len(starter)>>10, len(files)>>10)
}

// presignedSource serves a CSV only to requests that carry its signature
// in the query, as an S3 presigned URL is.
type presignedSource struct {
	body      []byte
	signature string
	served    atomic.Int64
}

func (p *presignedSource) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("X-Amz-Signature") != p.signature {
		http.Error(w, "SignatureDoesNotMatch", http.StatusForbidden)
		return
	}
	p.served.Add(1)
	http.ServeContent(w, r, "users.csv", time.Unix(1700000000, 0), bytes.NewReader(p.body))
}

func TestEncryptedPayloadsKeepAPresignedQueryOutOfHistory(t *testing.T) {
	t.Setenv(codec.EnvKeys, "e2e:"+codec.NewKey())
	t.Setenv(codec.EnvActiveKey, "")
	logs := &lockedBuffer{}
	h := newHarnessLogging(t, zerolog.New(logs).Level(zerolog.DebugLevel))
	h.startWorker(h.conns(apiKey), 0)

	listPath, st := h.generate("users.csv", gen.Options{Rows: 600, InvalidEvery: 50})
	body, err := os.ReadFile(listPath)
	if err != nil {
		t.Fatal(err)
	}
	const signature = "5ecre7519a7ure0f1d2c3b4a59687766554433221100ffeeddccbbaa99887766"
	src := &presignedSource{body: body, signature: signature}
	srv := httptest.NewServer(src)
	defer srv.Close()
	bare := srv.URL + "/exports/users.csv"
	presigned := bare + "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20240101%2Fus-east-1%2Fs3%2Faws4_request" +
		"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=" + signature

	out, errOut, code := h.runCLI(context.Background(), "--log-level", "debug", "import", "--vendor", "nebuly", "--source", presigned,
		"--wait", "--id", "presigned", "-o", "json")
	if code != 0 {
		t.Fatalf("import from a presigned URL: exit %d\n%s\n%s", code, out, errOut)
	}
	if h.fake.Count() != st.Valid || src.served.Load() == 0 {
		t.Fatalf("the fake holds %d users (want %d); the source served %d signed reads", h.fake.Count(), st.Valid, src.served.Load())
	}

	// A client without the codec sees what Temporal stores.
	raw, err := client.Dial(client.Options{HostPort: h.srv.FrontendAddress(), Namespace: h.srv.Namespace()})
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var blob bytes.Buffer
	encrypted, plain := 0, 0
	var source string
	var started *commonpb.Payloads
	it := raw.GetWorkflowHistory(context.Background(), "presigned", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		appendEvent(t, &blob, ev)
		walkPayloads(ev.ProtoReflect(), false, func(p *commonpb.Payload, inSearchAttrs bool) {
			switch {
			case inSearchAttrs:
			case string(p.GetMetadata()[converter.MetadataEncoding]) == codec.Encoding:
				encrypted++
			default:
				plain++
			}
		})
		if attrs := ev.GetWorkflowExecutionStartedEventAttributes(); attrs != nil {
			started = attrs.GetInput()
			p := attrs.GetSearchAttributes().GetIndexedFields()[workflows.SASource]
			if p == nil {
				t.Fatal("the import has no ImporterSource search attribute")
			}
			if err := converter.GetDefaultDataConverter().FromPayload(p, &source); err != nil {
				t.Fatal(err)
			}
		}
	}
	if encrypted == 0 || plain != 0 {
		t.Fatalf("%d encrypted and %d plain payloads outside search attributes; want all encrypted", encrypted, plain)
	}
	if source != bare {
		t.Fatalf("ImporterSource = %q, want the URL without its query, %q", source, bare)
	}
	for where, b := range map[string][]byte{"the raw history": blob.Bytes(), "the worker's log": []byte(logs.String()), "the starter's output": []byte(out + errOut)} {
		if bytes.Contains(b, []byte(signature)) {
			i := bytes.Index(b, []byte(signature))
			t.Errorf("%s holds the presigned URL's signature: ...%s...", where, b[max(i-200, 0):min(i+200, len(b))])
		}
	}

	// With the keys, the stored input reads back whole: the worker had the
	// signed URL, only Temporal did not.
	var in workflows.ImportInput
	if err := codecConverter(t).FromPayloads(started, &in); err != nil {
		t.Fatal(err)
	}
	if in.Source.URI != presigned {
		t.Fatalf("decoded input source %q, want the presigned URL", in.Source.URI)
	}
}

// codecConverter is the data converter the harness's client uses.
func codecConverter(t *testing.T) converter.DataConverter {
	t.Helper()
	ring, err := codec.KeyringFromEnv(os.Getenv)
	if err != nil || ring == nil {
		t.Fatalf("keyring from the environment: %v", err)
	}
	return codec.DataConverter(ring)
}
