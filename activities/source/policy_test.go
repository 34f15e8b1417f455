package source

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// canary is what the files the policy refuses hold: a refusal must never
// carry it.
const canary = "CANARY-SECRET-0d1f"

// policyDirs lays out a worker's files: a root with a list in it, a
// secret outside it, the worker's data directory inside the root (as with
// worker --dev, whose root is where it was started) with its staging area.
type policyDirs struct {
	root, list, outside, data, staging string
}

func newPolicyDirs(t *testing.T) policyDirs {
	t.Helper()
	base := t.TempDir()
	d := policyDirs{root: filepath.Join(base, "exports"), outside: filepath.Join(base, "secret.txt")}
	d.data = filepath.Join(d.root, ".importer")
	d.staging = filepath.Join(d.data, "staging")
	for _, dir := range []string{d.root, d.staging} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	d.list = filepath.Join(d.root, "users.csv")
	write(t, d.list, "end_user,active_from\na@x.io,2026-01-01\n")
	write(t, d.outside, "end_user,"+canary+"\n")
	write(t, filepath.Join(d.data, "artifact-secret"), canary+"\n")
	return d
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func (d policyDirs) opener(t *testing.T) *Opener {
	t.Helper()
	p, err := NewPolicy([]string{d.root}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.AddPrivate(d.data, d.staging)
	p.Staging = d.staging
	return &Opener{Policy: p}
}

// refusedFor asserts that reading uri is refused by the policy, finally,
// with a sentence that names what to set or why, and nothing of the file.
func refusedFor(t *testing.T, o *Opener, ctx context.Context, uri, says string) {
	t.Helper()
	_, err := o.Stat(ctx, uri)
	if !errors.Is(err, ErrRefused) || !errors.Is(err, ErrPermanent) {
		t.Fatalf("Stat %s: %v; want a final refusal", uri, err)
	}
	if _, _, err2 := o.openRange(ctx, uri, 0, -1); !errors.Is(err2, ErrRefused) {
		t.Fatalf("open %s: %v; want a refusal", uri, err2)
	}
	if !strings.Contains(err.Error(), says) {
		t.Fatalf("Stat %s: %q; want it to say %q", uri, err, says)
	}
	if strings.Contains(err.Error(), canary) {
		t.Fatalf("the refusal quotes the file: %q", err)
	}
}

// Local sources are read only inside the roots: every other spelling of a
// file outside them is refused before a byte is read, and so are the
// system's directories, the worker's own files, and anything but a regular
// file.
func TestLocalSourcesAreReadOnlyInsideTheRoots(t *testing.T) {
	d := newPolicyDirs(t)
	o := d.opener(t)
	ctx := context.Background()

	if v, err := o.Stat(ctx, d.list); err != nil || v.Size == 0 {
		t.Fatalf("a list inside the root: %v %v", v, err)
	}
	if v, err := o.Stat(ctx, "file://"+d.list); err != nil || v.Size == 0 {
		t.Fatalf("a file:// list inside the root: %v %v", v, err)
	}
	first, chunks := planAll(t, o, d.list, CSV, 10, 10)
	if recs := readAll(t, o, d.list, CSV, first, chunks); len(recs) != 1 {
		t.Fatalf("read %d records inside the root, want 1", len(recs))
	}

	link := filepath.Join(d.root, "link.csv")
	if err := os.Symlink(d.outside, link); err != nil {
		t.Fatal(err)
	}
	environLink := filepath.Join(d.root, "environ.csv")
	if err := os.Symlink("/proc/self/environ", environLink); err != nil {
		t.Fatal(err)
	}
	// Relative, so os.Root follows it: it stays inside the root.
	dataLink := filepath.Join(d.root, "data.csv")
	if err := os.Symlink(".importer/artifact-secret", dataLink); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(d.root, "fifo.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(d.root, "s.csv")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	for _, c := range []struct{ name, uri, says string }{
		{"absolute, outside", d.outside, "outside the directories this worker may read (IMPORTER_SOURCE_ROOTS)"},
		{"file:// outside", "file://" + d.outside, "outside the directories"},
		{"dot-dot out of the root", d.root + "/../secret.txt", "outside the directories"},
		{"unclean dot-dot", d.root + "/sub/../../secret.txt", "outside the directories"},
		{"relative", "exports/users.csv", "relative path"},
		{"a symlink out of the root", link, "leads outside"},
		{"a symlink into /proc", environLink, "leads outside"},
		{"a symlink into the worker's data", dataLink, "worker's own"},
		{"the worker's data directory", filepath.Join(d.data, "artifact-secret"), "worker's own"},
		{"/proc/self/environ", "/proc/self/environ", "inside /proc"},
		{"file:///proc/self/environ", "file:///proc/self/environ", "inside /proc"},
		{"/sys", "/sys/kernel/mm/transparent_hugepage/enabled", "inside /sys"},
		{"/dev/zero", "/dev/zero", "inside /dev"},
		{"a FIFO", fifo, "not a regular file"},
		{"a socket", sock, "not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			done := make(chan struct{})
			go func() { defer close(done); refusedFor(t, o, ctx, c.uri, c.says) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("reading %s hangs", c.uri)
			}
		})
	}

	// A worker with no roots reads no local file at all.
	none, err := NewPolicy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	refusedFor(t, &Opener{Policy: none}, ctx, d.list, "reads no local files: set IMPORTER_SOURCE_ROOTS")
}

// Whatever the roots say, /proc, /sys and /dev stay out: a root of / still
// refuses them, by path and through a symlink.
func TestTheSystemDirectoriesAreRefusedWhateverTheRoots(t *testing.T) {
	if _, err := NewPolicy([]string{"/proc"}, nil); err == nil || !strings.Contains(err.Error(), "IMPORTER_SOURCE_ROOTS") {
		t.Fatalf("a root in /proc: %v", err)
	}
	p, err := NewPolicy([]string{"/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := &Opener{Policy: p}
	ctx := context.Background()
	// Relative, so that os.Root (at /) follows it: the check of what was
	// opened refuses it.
	dir := t.TempDir()
	link := filepath.Join(dir, "environ")
	target, err := filepath.Rel(dir, "/proc/self/environ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	refusedFor(t, o, ctx, "/proc/self/environ", "inside /proc")
	refusedFor(t, o, ctx, link, "procfs")
	refusedFor(t, o, ctx, "/dev/null", "inside /dev")
}

// A staged copy is read from the staging area only by the import whose copy
// it is (WithStaged, from its carried state): naming it as a source is
// refused, and a Ref that says it is staged reads only its own file.
func TestAStagedCopyIsReadOnlyByItsOwnImport(t *testing.T) {
	d := newPolicyDirs(t)
	o := d.opener(t)
	staged := StagedURI(d.staging, "imp-1", CSV)
	write(t, staged, "end_user\n"+canary+"\n")
	ctx := context.Background()
	refusedFor(t, o, ctx, staged, "worker's own")
	if _, err := o.Stat(WithStaged(ctx, Ref{URI: staged, Format: CSV, Staged: true}), staged); err != nil {
		t.Fatalf("the import's own staged copy: %v", err)
	}
	// Staged names one file: another under the same context is refused.
	other := StagedURI(d.staging, "imp-2", CSV)
	write(t, other, "x\n")
	refusedFor(t, o, WithStaged(ctx, Ref{URI: staged, Staged: true}), other, "worker's own")
	// A ref that claims to be staged outside the staging area is judged
	// as any source.
	refusedFor(t, o, WithStaged(ctx, Ref{URI: d.outside, Staged: true}), d.outside, "outside the directories")
}

// Unstage deletes by the name the worker derives, inside the staging area
// only: a key cannot name another file.
func TestUnstageDeletesOnlyTheDerivedNameInTheStagingArea(t *testing.T) {
	d := newPolicyDirs(t)
	o := d.opener(t)
	victim := filepath.Join(d.root, "users.csv")
	for _, key := range []string{"../users", "../../exports/users", "/" + victim, "..", "."} {
		if err := o.Unstage(context.Background(), d.staging, key, CSV); err != nil {
			t.Fatalf("key %q: %v", key, err)
		}
	}
	if _, err := os.Stat(victim); err != nil {
		t.Fatalf("Unstage deleted a file outside the staging area: %v", err)
	}
	mine := StagedURI(d.staging, "imp-1", CSV)
	write(t, mine, "x\n")
	if err := o.Unstage(context.Background(), d.staging, "imp-1", CSV); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(mine); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the staged copy is still there: %v", err)
	}
}

// http(s) sources reach public addresses only, unless the host is listed:
// loopback by IP and by name, and a redirect from a listed host to one that
// is not, are refused on the address dialled, before any request reaches
// the server.
func TestHTTPSourcesReachOnlyPublicAddressesOrListedHosts(t *testing.T) {
	var hits atomic.Int64
	internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = fmt.Fprintf(w, "end_user\n%s\n", canary)
	}))
	defer internal.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/users.csv", http.StatusFound)
	}))
	defer redirector.Close()
	_, internalPort, _ := net.SplitHostPort(internal.Listener.Addr().String())
	_, redirPort, _ := net.SplitHostPort(redirector.Listener.Addr().String())
	ctx := context.Background()

	strict, err := NewPolicy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := &Opener{Policy: strict}
	refusedFor(t, o, ctx, internal.URL+"/users.csv", "a loopback address, which this worker does not reach: list the host in IMPORTER_SOURCE_HOSTS")
	refusedFor(t, o, ctx, "http://localhost:"+internalPort+"/users.csv", "localhost resolves to")
	refusedFor(t, o, ctx, "http://[::ffff:127.0.0.1]:"+internalPort+"/users.csv", "a loopback address")

	// The redirector is listed; where it redirects is not.
	listed, err := NewPolicy(nil, []string{"127.0.0.1:" + redirPort})
	if err != nil {
		t.Fatal(err)
	}
	refusedFor(t, &Opener{Policy: listed}, ctx, redirector.URL+"/users.csv", "a loopback address")
	if hits.Load() != 0 {
		t.Fatalf("the internal server was reached %d times", hits.Load())
	}

	// Listed by host and port, or by host: read.
	for _, hosts := range [][]string{{"127.0.0.1:" + internalPort}, {"127.0.0.1"}} {
		p, err := NewPolicy(nil, hosts)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := (&Opener{Policy: p}).Stat(ctx, internal.URL+"/users.csv"); err != nil {
			t.Fatalf("a listed host %v: %v", hosts, err)
		}
	}
	// worker --dev allows loopback.
	strict.AllowLoopback = true
	if _, err := (&Opener{Policy: strict}).Stat(ctx, "http://localhost:"+internalPort+"/users.csv"); err != nil {
		t.Fatalf("loopback in --dev: %v", err)
	}
	if hits.Load() == 0 {
		t.Fatal("the allowed reads never reached the server")
	}
}

// Every non-public range is told apart, including IPv4 addresses written
// inside IPv6 ones.
func TestNonPublicAddressesAreRecognised(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1": "a loopback", "::1": "a loopback", "::ffff:127.0.0.1": "a loopback",
		"10.1.2.3": "a private", "172.20.0.1": "a private", "192.168.1.1": "a private", "fd00::1": "a private",
		"169.254.169.254": "a link-local", "fe80::1": "a link-local", "100.64.0.1": "a carrier-grade NAT",
		"0.0.0.0": "an unspecified", "::": "an unspecified", "224.0.0.1": "a multicast", "ff02::1": "a multicast",
		"64:ff9b::a9fe:a9fe": "a link-local", "2002:7f00:1::1": "a loopback",
		"8.8.8.8": "", "2606:4700:4700::1111": "", "1.1.1.1": "",
	} {
		if got := addressKind(netip.MustParseAddr(addr)); got != want {
			t.Errorf("%s: %q, want %q", addr, got, want)
		}
	}
}

// Object-store URLs take endpoint, profile and credentials from the worker:
// a URL that sets them is refused before any request, one with a region is
// read, and the worker's own objects (its staging area) are refused.
func TestObjectStoreURLsTakeOnlyARegion(t *testing.T) {
	s := newS3Server(t)
	s.put(t, "nightly/users.csv", "end_user\na@x.io\n")
	s.put(t, "staging/other-import.csv", "end_user\n"+canary+"\n")
	p, err := NewPolicy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Staging = "s3://exports/staging"
	p.AddPrivate(p.Staging)
	o := &Opener{Policy: p, S3PathStyle: true}
	ctx := context.Background()
	before := s.sent.Load()
	for _, q := range []string{"endpoint=http://attacker.example", "profile=prod", "anonymous=true", "use_path_style=true", "private_key_path=/etc/key", "domain=evil.example"} {
		refusedFor(t, o, ctx, "s3://exports/nightly/users.csv?"+q, "only the worker's configuration may set")
	}
	refusedFor(t, o, ctx, "s3://exports/staging/other-import.csv", "worker's own objects")
	if s.sent.Load() != before {
		t.Fatal("a refused object URL reached the store")
	}
	if _, err := o.Stat(ctx, "s3://exports/nightly/users.csv?region=us-east-1"); err != nil {
		t.Fatalf("a URL with a region: %v", err)
	}
	staged := "s3://exports/staging/other-import.csv"
	if _, err := o.Stat(WithStaged(ctx, Ref{URI: staged, Staged: true}), staged); err != nil {
		t.Fatalf("an import's own staged object: %v", err)
	}
}

func TestHostRulesParse(t *testing.T) {
	for in, want := range map[string]HostRule{
		"exports.example.com":      {Host: "exports.example.com"},
		"Exports.Example.com:8443": {Host: "exports.example.com", Port: "8443"},
		"10.0.0.5":                 {Host: "10.0.0.5"},
		"[::1]:9000":               {Host: "::1", Port: "9000"},
		"fd00::5":                  {Host: "fd00::5"},
	} {
		got, err := ParseHostRule(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"https://x.example", "x.example/path", "x.example:0", "x.example:http", "user@x.example", ""} {
		if _, err := ParseHostRule(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// A root the operator names through a symlink reads its lists by either
// name, and still nothing outside it.
func TestARootNamedThroughASymlinkReadsByEitherName(t *testing.T) {
	d := newPolicyDirs(t)
	link := filepath.Join(t.TempDir(), "exports-link")
	if err := os.Symlink(d.root, link); err != nil {
		t.Fatal(err)
	}
	p, err := NewPolicy([]string{link}, nil)
	if err != nil {
		t.Fatal(err)
	}
	o := &Opener{Policy: p}
	for _, uri := range []string{filepath.Join(link, "users.csv"), d.list} {
		if _, err := o.Stat(context.Background(), uri); err != nil {
			t.Errorf("%s: %v", uri, err)
		}
	}
	refusedFor(t, o, context.Background(), link+"/../secret.txt", "outside the directories")
}
