package imports

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/source"
	"importer/activities/vendors"
	"importer/internal/connections"
	"importer/internal/vendorca"
)

// sandbox is a vendor sandbox on HTTPS whose certificate no system root
// signed: the fake Nebuly, and a CSV source beside it.
type sandbox struct {
	srv  *httptest.Server
	fake *nebulyfake.Server
	ca   string // PEM file of the sandbox's CA
	csv  string
}

const sandboxKey = "sandbox-key-0d9c8b"

func newSandbox(t *testing.T) sandbox {
	t.Helper()
	fake := nebulyfake.New(nebulyfake.Options{APIKey: sandboxKey})
	csv := "end_user,active_from\nann@example.com,2024-01-02\n"
	mux := http.NewServeMux()
	mux.Handle("/", fake)
	mux.HandleFunc("/users.csv", func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "users.csv", time.Unix(1700000000, 0), strings.NewReader(csv))
	})
	srv := httptest.NewTLSServer(mux)
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "sandbox-ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return sandbox{srv: srv, fake: fake, ca: ca, csv: csv}
}

func TestVendorCallsAndSourcesVerifyCertificatesAgainstTheVendorCA(t *testing.T) {
	sb := newSandbox(t)
	// The sandbox connection comes from a config file, as a worker's would.
	cfg := filepath.Join(t.TempDir(), "importer.yaml")
	body := "connections:\n  nebuly:\n    sandbox: {api_key: \"${SANDBOX_KEY}\", base_url: \"" + sb.srv.URL + "\"}\n"
	if err := os.WriteFile(cfg, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	conns, err := connections.Load(cfg, []string{"SANDBOX_KEY=" + sandboxKey}, vendors.ConnectionSchema())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := conns.Get("nebuly", "sandbox")
	if err != nil {
		t.Fatal(err)
	}
	neb, err := vendors.Import("nebuly")
	if err != nil {
		t.Fatal(err)
	}
	payloads := neb.NewRows(1)
	if _, _, err := payloads.Add(map[string]any{"end_user": "ann@example.com", "active_from": "2024-01-02"}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	src := sb.srv.URL + "/users.csv"

	plain := New(conns, nil)
	_, err = payloads.Send(ctx, plain.target(conn), []int{0}, nil)
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) {
		t.Fatalf("vendor call without the sandbox CA: want a certificate verification error, got %v", err)
	}
	if strings.Contains(err.Error(), sandboxKey) {
		t.Fatalf("the error shows the API key: %v", err)
	}
	if _, err := plain.Opener.Stat(ctx, src); !errors.As(err, &verr) {
		t.Fatalf("source without the sandbox CA: want a certificate verification error, got %v", err)
	}
	if sb.fake.Count() != 0 {
		t.Fatal("a call reached the sandbox over an unverified connection")
	}

	roots, _, err := vendorca.Load(sb.ca)
	if err != nil {
		t.Fatal(err)
	}
	trusting := NewWithRoots(conns, nil, roots)
	out, err := payloads.Send(ctx, trusting.target(conn), []int{0}, nil)
	if err != nil {
		t.Fatalf("vendor call with the sandbox CA: %v", err)
	}
	if out.Inserted != 1 || sb.fake.Count() != 1 {
		t.Fatalf("outcome %+v, fake holds %d users; want the user inserted", out, sb.fake.Count())
	}
	v, err := trusting.Opener.Stat(ctx, src)
	if err != nil {
		t.Fatalf("source with the sandbox CA: %v", err)
	}
	if v.Size != int64(len(sb.csv)) {
		t.Fatalf("source size %d, want %d", v.Size, len(sb.csv))
	}
	page, err := source.Plan(ctx, trusting.Opener, source.PlanRequest{URI: src, Format: source.CSV, ChunkRows: 10, MaxChunks: 1}, func(int64) {})
	if err != nil || len(page.Chunks) != 1 || page.Chunks[0].Rows != 1 {
		t.Fatalf("planning the source over HTTPS: %+v %v", page, err)
	}
}
