package source

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The settings of the source policy, as the worker's environment names them.
const (
	// EnvRoots lists the directories local sources may be read from,
	// separated like PATH.
	EnvRoots = "IMPORTER_SOURCE_ROOTS"
	// EnvHosts lists the hosts (host, or host:port) an http(s) source may
	// reach even where they resolve to a non-public address.
	EnvHosts = "IMPORTER_SOURCE_HOSTS"
)

// ErrRefused: the worker's source policy does not allow the source. Nothing
// of it was read.
var ErrRefused = errors.New("the source is outside what this worker may read")

// Policy is the operator's trust boundary around sources: whoever starts an
// import names a source, and the worker reads it only if the policy allows
// it. Local files are read only from inside Roots (resolved with os.Root, so
// neither "..", nor a symlink, nor a race leads out), and never from /proc,
// /sys or /dev, the worker's own data (Private) or anything but a regular
// file. http(s) sources reach public addresses only, checked on the address
// each connection dials (redirects and DNS rebinding included), unless the
// host is in Hosts or AllowLoopback allows loopback. Object-store URLs take
// their endpoint and credentials from the worker's configuration only: a
// query option other than region is refused.
//
// An Opener with a nil Policy reads anything its process can: the starter's
// dry run, on the machine and with the rights of the person who runs it.
type Policy struct {
	// Roots are the directories local sources must lie in, absolute, each
	// as the operator wrote it and, when a symlink leads there, as it
	// resolves (see NewPolicy). None: no local file is read.
	Roots []string
	// Hosts may be reached by http(s) sources whatever address they
	// resolve to (IMPORTER_SOURCE_HOSTS).
	Hosts []HostRule
	// AllowLoopback lets http(s) sources reach loopback addresses
	// (worker --dev, whose sandbox and examples run on this machine).
	AllowLoopback bool
	// Private are the worker's own places (its data directory, its staging
	// area, its artifact store): local directories or object-storage
	// prefixes that no source may name, even inside a root.
	Private []string
	// Staging is the worker's staging area (a local directory or an
	// object-storage prefix): the only place a staged copy is read from or
	// deleted in, and only for the import whose copy it is (WithStaged).
	Staging string
}

// HostRule allows one host: any port when Port is empty.
type HostRule struct {
	Host string // lower case; an IP address without brackets
	Port string
}

func (h HostRule) String() string {
	if h.Port == "" {
		return h.Host
	}
	return net.JoinHostPort(h.Host, h.Port)
}

// NewPolicy builds a policy from the operator's roots and host list: each
// root must be an existing directory outside /proc, /sys and /dev, and is
// kept absolute, as written and as its symlinks resolve; each host is a
// name or an IP address, with an optional port. Errors name the setting
// (IMPORTER_SOURCE_ROOTS, IMPORTER_SOURCE_HOSTS) and the entry.
func NewPolicy(roots []string, hosts []string) (*Policy, error) {
	p := &Policy{}
	for _, r := range roots {
		r = strings.TrimSpace(r)
		if r == "" {
			continue
		}
		abs, real, err := resolveDir(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvRoots, err)
		}
		for _, d := range []string{abs, real} {
			if sys := systemDir(d); sys != "" {
				return nil, fmt.Errorf("%s: %s is inside %s, which no worker reads sources from", EnvRoots, r, sys)
			}
			if !slices.Contains(p.Roots, d) {
				p.Roots = append(p.Roots, d)
			}
		}
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if h == "" {
			continue
		}
		rule, err := ParseHostRule(h)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvHosts, err)
		}
		p.Hosts = append(p.Hosts, rule)
	}
	return p, nil
}

// SplitRoots splits a list of directories written like PATH.
func SplitRoots(list string) []string {
	if strings.TrimSpace(list) == "" {
		return nil
	}
	return filepath.SplitList(list)
}

// SplitHosts splits a comma-separated list of hosts.
func SplitHosts(list string) []string {
	var out []string
	for _, h := range strings.Split(list, ",") {
		if h = strings.TrimSpace(h); h != "" {
			out = append(out, h)
		}
	}
	return out
}

// ParseHostRule reads "host", "host:port", "[v6]" or "[v6]:port".
func ParseHostRule(s string) (HostRule, error) {
	bad := fmt.Errorf("%q is not a host or host:port (write exports.example.com, exports.example.com:8443 or 10.0.0.5)", s)
	if strings.Contains(s, "/") || strings.Contains(s, "@") {
		return HostRule{}, bad
	}
	host, port := s, ""
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return HostRule{}, bad
		}
	} else if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		host = s[1 : len(s)-1]
	} else if strings.Count(s, ":") > 1 {
		host = s // a bare IPv6 address
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" || strings.ContainsAny(host, " \t[]") {
		return HostRule{}, bad
	}
	if strings.Contains(host, ":") {
		if _, err := netip.ParseAddr(host); err != nil {
			return HostRule{}, bad
		}
	}
	return HostRule{Host: host, Port: port}, nil
}

// AddPrivate adds the worker's own places (a directory or an object-storage
// prefix) that no source may name; empty ones are skipped.
func (p *Policy) AddPrivate(places ...string) {
	for _, pl := range places {
		if pl == "" {
			continue
		}
		if !Remote(pl) {
			if abs, err := filepath.Abs(localPath(pl)); err == nil {
				pl = abs
				if real, err := filepath.EvalSymlinks(abs); err == nil {
					p.Private = append(p.Private, real)
				}
			}
		}
		p.Private = append(p.Private, pl)
	}
}

// Describe says what the policy allows, for the worker's log at start.
func (p *Policy) Describe() (roots []string, hosts []string) {
	roots = append(roots, p.Roots...)
	for _, h := range p.Hosts {
		hosts = append(hosts, h.String())
	}
	if p.AllowLoopback {
		hosts = append(hosts, "loopback")
	}
	return roots, hosts
}

// resolveDir is dir made absolute, and the same with its symlinks
// resolved; it must be an existing directory.
func resolveDir(dir string) (abs, real string, err error) {
	if abs, err = filepath.Abs(dir); err != nil {
		return "", "", fmt.Errorf("%s: %w", dir, err)
	}
	if real, err = filepath.EvalSymlinks(abs); err != nil {
		return "", "", fmt.Errorf("%s does not exist or cannot be read", dir)
	}
	fi, err := os.Stat(real)
	if err != nil || !fi.IsDir() {
		return "", "", fmt.Errorf("%s is not a directory", dir)
	}
	return abs, real, nil
}

// systemDirs hold the kernel's and the devices' files: process memory,
// environments, keys. No source is read from them, whatever the roots.
var systemDirs = []string{"/proc", "/sys", "/dev"}

// SystemDir is the system directory (/proc, /sys, /dev) an absolute,
// clean path lies in, or "": no worker reads a source there.
func SystemDir(path string) string { return systemDir(path) }

// systemDir is the system directory path lies in, or "".
func systemDir(path string) string {
	for _, d := range systemDirs {
		if within(d, path) {
			return d
		}
	}
	return ""
}

// within says whether path is dir or lies under it (both clean, absolute).
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// refused is a source the policy does not allow: permanent, matching
// ErrRefused, with the sentence that says why.
func refused(format string, args ...any) error {
	return permErr(ErrRefused, format, args...)
}

// stagedKey carries, in a context, the staged copy an activity may read.
type stagedKey struct{}

// WithStaged lets reads under ctx open ref when it is a staged copy (Stage
// made it, in the staging area): an activity reading its own import's
// copy, whose Ref came from the import's carried state, never from a
// caller. Other refs leave ctx as it is.
func WithStaged(ctx context.Context, ref Ref) context.Context {
	if !ref.Staged {
		return ctx
	}
	return context.WithValue(ctx, stagedKey{}, ref.URI)
}

func stagedIn(ctx context.Context, uri string) bool {
	s, _ := ctx.Value(stagedKey{}).(string)
	return s != "" && s == uri
}

// localFile opens a local source for reading, as the policy allows: the
// staged copy the context names, in the staging area; else a regular file
// inside a root, outside the worker's own places and the system's
// directories. The file is opened through os.Root, so the check and the
// open are one step; what was opened is checked again (its kind, its file
// system, where it really is) before a byte is read.
func (o *Opener) localFile(ctx context.Context, uri string) (*os.File, fs.FileInfo, error) {
	path := localPath(uri)
	p := o.Policy
	if p == nil {
		f, err := os.Open(path)
		if err != nil {
			return nil, nil, fileErr(uri, err)
		}
		fi, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, nil, fileErr(uri, err)
		}
		return f, fi, nil
	}
	if !filepath.IsAbs(path) {
		return nil, nil, refused("source %s is a relative path: name a local source by its absolute path inside %s", path, EnvRoots)
	}
	path = filepath.Clean(path)
	if sys := systemDir(path); sys != "" {
		return nil, nil, refused("source %s is inside %s, which no worker reads sources from", path, sys)
	}
	var root string
	staged := false
	if stagedIn(ctx, uri) {
		for _, dir := range p.stagingDirs() {
			if within(dir, path) {
				root, staged = dir, true
				break
			}
		}
	}
	if root == "" {
		if place := p.private(path); place != "" {
			return nil, nil, refused("source %s is inside the worker's own %s, which no import may read", path, place)
		}
		if len(p.Roots) == 0 {
			return nil, nil, refused("source %s is a local file, and this worker reads no local files: set %s on the worker to the directories it may read, or use an http(s) or object-storage URL", path, EnvRoots)
		}
		for _, r := range p.Roots {
			if within(r, path) {
				root = r
				break
			}
		}
		if root == "" {
			return nil, nil, refused("source %s is outside the directories this worker may read (%s)", path, EnvRoots)
		}
	}
	rel, _ := filepath.Rel(root, path)
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, nil, fmt.Errorf("open the source root %s: %w", root, err)
	}
	defer r.Close()
	// O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused
	// below, once opened.
	f, err := r.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			return nil, nil, fileErr(uri, err)
		}
		if errors.Is(err, syscall.ENXIO) || errors.Is(err, syscall.EOPNOTSUPP) {
			return nil, nil, refused("source %s is not a regular file (a device, FIFO or socket), and only regular files are read", path)
		}
		// os.Root's refusal of a path that escapes it ("..", a symlink).
		return nil, nil, refused("source %s leads outside the directories this worker may read (%s)", path, EnvRoots)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fileErr(uri, err)
	}
	if err := p.checkOpened(f, fi, path, staged); err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// checkOpened checks what was opened: a regular file, on an ordinary file
// system, that really lies outside the system's directories and the
// worker's own places (a bind mount could lead there); a staged copy lies
// in the staging area.
func (p *Policy) checkOpened(f *os.File, fi fs.FileInfo, path string, staged bool) error {
	if fi.IsDir() {
		return permErr(nil, "source %s is a directory", path)
	}
	if !fi.Mode().IsRegular() {
		return refused("source %s is not a regular file (a device, FIFO or socket), and only regular files are read", path)
	}
	if fsName := specialFS(f); fsName != "" {
		return refused("source %s is on %s, which no worker reads sources from", path, fsName)
	}
	if real := openedPath(f); real != "" {
		if sys := systemDir(real); sys != "" {
			return refused("source %s leads into %s, which no worker reads sources from", path, sys)
		}
		if staged && !slices.ContainsFunc(p.stagingDirs(), func(dir string) bool { return within(dir, real) }) {
			return refused("the staged copy %s leads out of the staging area", path)
		}
		if place := p.private(real); place != "" && !staged {
			return refused("source %s leads into the worker's own %s, which no import may read", path, place)
		}
	}
	return nil
}

// stagingDirs is the local staging area, absolute, as written and as its
// symlinks resolve; none when it is in object storage or unset.
func (p *Policy) stagingDirs() []string {
	if p.Staging == "" || Remote(p.Staging) {
		return nil
	}
	dir, err := filepath.Abs(localPath(p.Staging))
	if err != nil {
		return nil
	}
	out := []string{dir}
	if real, err := filepath.EvalSymlinks(dir); err == nil && real != dir {
		out = append(out, real)
	}
	return out
}

// private names the worker's own place path lies in, or "".
func (p *Policy) private(path string) string {
	for _, pl := range p.Private {
		if Remote(pl) {
			continue
		}
		if within(pl, path) {
			return "files (" + pl + ")"
		}
	}
	return ""
}

// privateObject names the worker's own object-storage prefix uri lies in.
func (p *Policy) privateObject(uri string) string {
	for _, pl := range p.Private {
		if isBlob(pl) && objectWithin(pl, uri) {
			return Redact(pl)
		}
	}
	return ""
}

// objectWithin says whether the object uri lies under the object-storage
// prefix area (the same scheme and bucket, its key under the prefix).
func objectWithin(area, uri string) bool {
	u, err1 := url.Parse(uri)
	v, err2 := url.Parse(area)
	if err1 != nil || err2 != nil || v.Scheme != u.Scheme || v.Host != u.Host {
		return false
	}
	prefix := strings.Trim(v.Path, "/")
	key := strings.TrimPrefix(u.Path, "/")
	return prefix == "" || key == prefix || strings.HasPrefix(key, prefix+"/")
}

// objectOptions are the query options an import's object-store URL may
// carry: the rest (endpoint, profile, anonymous, credentials files,
// domains) are the worker's configuration, never a caller's.
var objectOptions = map[string]bool{"region": true}

// ObjectOptionProblem is the sentence that refuses an object-store URL
// whose query sets an option only the worker's configuration may set
// (endpoint, profile, anonymous access, credential files, domains); "" for
// any other URL.
func ObjectOptionProblem(uri string) string {
	if !isBlob(uri) {
		return ""
	}
	u, err := url.Parse(uri)
	if err != nil {
		return ""
	}
	return objectOptionProblem(uri, u.Query())
}

func objectOptionProblem(uri string, q url.Values) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		if !objectOptions[k] {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	slices.Sort(keys)
	return fmt.Sprintf("source %s sets %s in its URL, which only the worker's configuration may set: object-store URLs take their endpoint and credentials from the worker (AWS_ENDPOINT_URL_S3, IMPORTER_S3_PATH_STYLE, the cloud's credential variables); only ?region= may be given",
		Redact(uri), strings.Join(keys, ", "))
}

// checkObject refuses an object-store URL whose query sets what only the
// worker's configuration may set, or that names the worker's own objects.
func (p *Policy) checkObject(ctx context.Context, uri string, q url.Values) error {
	if stagedIn(ctx, uri) && isBlob(p.Staging) && objectWithin(p.Staging, uri) {
		return nil // the worker's own copy, named from its own configuration
	}
	if msg := objectOptionProblem(uri, q); msg != "" {
		return refused("%s", msg)
	}
	if place := p.privateObject(uri); place != "" {
		return refused("source %s is inside the worker's own objects (%s), which no import may read", Redact(uri), place)
	}
	return nil
}

// allowedHost says whether host:port is listed (IMPORTER_SOURCE_HOSTS).
func (p *Policy) allowedHost(host, port string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range p.Hosts {
		if h.Port != "" && h.Port != port {
			continue
		}
		if h.Host == host {
			return true
		}
		a, err1 := netip.ParseAddr(h.Host)
		b, err2 := netip.ParseAddr(host)
		if err1 == nil && err2 == nil && a.Unmap() == b.Unmap() {
			return true
		}
	}
	return false
}

// nonPublic are the address ranges no http(s) source may reach unless its
// host is listed: the machine itself, private networks, link-local (cloud
// metadata), shared carrier-grade NAT, multicast and reserved space.
var nonPublic = []struct {
	prefix netip.Prefix
	what   string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "an unspecified"},
	{netip.MustParsePrefix("127.0.0.0/8"), "a loopback"},
	{netip.MustParsePrefix("10.0.0.0/8"), "a private"},
	{netip.MustParsePrefix("172.16.0.0/12"), "a private"},
	{netip.MustParsePrefix("192.168.0.0/16"), "a private"},
	{netip.MustParsePrefix("100.64.0.0/10"), "a carrier-grade NAT"},
	{netip.MustParsePrefix("169.254.0.0/16"), "a link-local"},
	{netip.MustParsePrefix("192.0.0.0/24"), "a reserved"},
	{netip.MustParsePrefix("198.18.0.0/15"), "a reserved"},
	{netip.MustParsePrefix("224.0.0.0/4"), "a multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "a reserved"},
	{netip.MustParsePrefix("::/128"), "an unspecified"},
	{netip.MustParsePrefix("::1/128"), "a loopback"},
	{netip.MustParsePrefix("fc00::/7"), "a private"},
	{netip.MustParsePrefix("fe80::/10"), "a link-local"},
	{netip.MustParsePrefix("ff00::/8"), "a multicast"},
}

// addressKind says what kind of non-public address a is ("a loopback"),
// or "" for a public one. IPv4 addresses embedded in IPv6 (mapped, NAT64,
// 6to4) are judged as the IPv4 address they reach.
func addressKind(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		b := a.As16()
		switch {
		case netip.MustParsePrefix("64:ff9b::/96").Contains(a):
			return addressKind(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
		case netip.MustParsePrefix("2002::/16").Contains(a):
			return addressKind(netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}))
		}
	}
	for _, r := range nonPublic {
		if r.prefix.Contains(a) {
			return r.what
		}
	}
	return ""
}

// dialRefusal is the error a guarded dial returns for an address the
// policy does not reach.
type dialRefusal struct {
	host, addr, kind string
}

func (e *dialRefusal) Error() string {
	what := e.host + " resolves to " + e.addr + ","
	if _, err := netip.ParseAddr(e.host); err == nil {
		what = e.host + " is" // an address, not a name
	}
	return fmt.Sprintf("%s %s address, which this worker does not reach: list the host in %s on the worker to allow it",
		what, e.kind, EnvHosts)
}

// guardedClient is c with every connection it dials checked against the
// policy, no proxy (a proxy would dial for it, unchecked), and no
// Referer sent on a redirect (it would carry a presigned query).
func (p *Policy) guardedClient(c *http.Client) *http.Client {
	var t *http.Transport
	if c != nil {
		if ht, ok := c.Transport.(*http.Transport); ok {
			t = ht.Clone()
		}
	}
	if t == nil {
		t = http.DefaultTransport.(*http.Transport).Clone()
	}
	t.Proxy = nil
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	t.DialContext = p.dial(dialer)
	t.DialTLSContext = nil
	out := &http.Client{Transport: t, CheckRedirect: p.checkRedirect}
	if c != nil {
		out.Timeout, out.Jar = c.Timeout, c.Jar
	}
	return out
}

// dial connects to addr as the policy allows: a listed host anywhere; any
// other only on the public addresses its name resolves to, each checked as
// it is dialled (so a name that resolves to a public address when checked
// and a private one when connecting does not get through).
func (p *Policy) dial(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if p.allowedHost(host, port) {
			return d.DialContext(ctx, network, addr)
		}
		guarded := *d
		guarded.Control = func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return &dialRefusal{host: host, addr: address, kind: "an unparsable"}
			}
			kind := addressKind(ap.Addr())
			if kind == "a loopback" && p.AllowLoopback {
				return nil
			}
			if kind != "" {
				return &dialRefusal{host: host, addr: ap.Addr().String(), kind: kind}
			}
			return nil
		}
		return guarded.DialContext(ctx, network, addr)
	}
}

// checkRedirect follows at most 10 redirects, to http(s) only, without a
// Referer; each is dialled through the same checks.
func (p *Policy) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return fmt.Errorf("redirected to a %s URL, which is no http(s) source", req.URL.Scheme)
	}
	req.Header.Del("Referer")
	return nil
}

// dialRefused finds a policy refusal in a transport error.
func dialRefused(err error) (*dialRefusal, bool) {
	var r *dialRefusal
	ok := errors.As(err, &r)
	return r, ok
}
