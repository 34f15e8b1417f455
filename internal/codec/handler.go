package codec

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/converter"
)

// HandlerOptions configures the codec endpoint.
type HandlerOptions struct {
	// AllowedOrigins are the web UI origins (scheme://host[:port]) whose
	// browser pages may call the endpoint. Requests from any other origin are
	// refused; clients that send no Origin (the Temporal CLI) are unaffected.
	AllowedOrigins []string
	// Tokens, when not empty, are the bearer tokens a request must present.
	Tokens []string
}

// maxBody bounds a request body: the UI sends one event's payloads at a
// time, and Temporal refuses payloads over a few MiB anyway.
const maxBody = 32 << 20

// corsHeaders are the request headers the Temporal UI sends to a codec
// endpoint.
const corsHeaders = "Authorization, Authorization-Extras, Content-Type, X-Namespace"

// Handler serves POST /encode and /decode (with any path prefix, such as
// /{namespace}/decode) for the Temporal UI and CLI, answering CORS preflights
// for the allowed origins and demanding a bearer token when tokens are set.
func Handler(k *Keyring, o HandlerOptions) http.Handler {
	h := &handler{
		next:    converter.NewPayloadCodecHTTPHandler(New(k)),
		origins: map[string]bool{},
	}
	for _, origin := range o.AllowedOrigins {
		if origin = normaliseOrigin(origin); origin != "" {
			h.origins[origin] = true
		}
	}
	for _, t := range o.Tokens {
		if t = strings.TrimSpace(t); t != "" {
			// Hashing first gives equal-length inputs to the constant-time
			// compare, so not even a token's length leaks through timing.
			h.tokens = append(h.tokens, sha256.Sum256([]byte(t)))
		}
	}
	return h
}

type handler struct {
	next    http.Handler
	origins map[string]bool
	tokens  [][sha256.Size]byte
}

// requiresToken tells Serve whether the handler can be exposed beyond
// loopback.
func (h *handler) requiresToken() bool { return len(h.tokens) > 0 }

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin != "" {
		if !h.origins[normaliseOrigin(origin)] {
			// A page from elsewhere must not get the service to decrypt for
			// it, even blind: refuse before touching the body.
			http.Error(w, "origin not allowed", http.StatusForbidden)
			return
		}
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Origin", origin)
		hdr.Set("Access-Control-Allow-Credentials", "true")
		hdr.Add("Vary", "Origin")
	}
	if r.Method == http.MethodOptions {
		// Preflights never carry credentials, so they are answered before
		// the token check.
		if origin == "" {
			http.Error(w, "not a CORS preflight", http.StatusBadRequest)
			return
		}
		hdr := w.Header()
		hdr.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		hdr.Set("Access-Control-Allow-Headers", corsHeaders)
		hdr.Set("Access-Control-Max-Age", strconv.Itoa(int((10 * time.Minute).Seconds())))
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if !h.authorised(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="importer codec"`)
		http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	h.next.ServeHTTP(w, r)
}

func (h *handler) authorised(r *http.Request) bool {
	if len(h.tokens) == 0 {
		return true
	}
	scheme, token, ok := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := 0
	for _, t := range h.tokens {
		// Compare with every token, so timing does not tell which matched.
		match |= subtle.ConstantTimeCompare(sum[:], t[:])
	}
	return match == 1
}

// normaliseOrigin lowercases and drops a trailing slash, as people paste
// "http://localhost:8233/" while browsers send "http://localhost:8233".
func normaliseOrigin(o string) string {
	return strings.TrimRight(strings.ToLower(strings.TrimSpace(o)), "/")
}

// Server is a running codec endpoint.
type Server struct {
	srv      *http.Server
	addr     net.Addr
	done     chan struct{} // closed when serving has stopped
	serveErr error         // why, unless it was Shutdown or Close
}

// Serve listens on addr (host:port; port 0 picks a free one) and serves h.
// Without tokens it serves only on a loopback address: anyone who can reach
// the endpoint could decrypt every payload, which would undo the encryption.
func Serve(addr string, h http.Handler) (*Server, error) {
	withToken := false
	if th, ok := h.(interface{ requiresToken() bool }); ok {
		withToken = th.requiresToken()
	}
	if !withToken {
		if err := requireLoopback(addr); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("codec endpoint: listen on %s: %w", addr, err)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); ok && !withToken && !tcp.IP.IsLoopback() {
		// The name resolved to loopback but the socket did not: trust the
		// socket.
		_ = ln.Close()
		return nil, fmt.Errorf("codec endpoint: %s is bound to %s, not loopback; refusing to serve without tokens (set %s)", addr, tcp.IP, EnvTokens)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Minute,
			IdleTimeout:       2 * time.Minute,
		},
		addr: ln.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.serveErr = fmt.Errorf("codec endpoint: serve: %w", err)
		}
	}()
	return s, nil
}

func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("codec endpoint address %q: %w", addr, err)
	}
	refuse := fmt.Errorf("codec endpoint: refusing to serve on %q without tokens: whoever reaches it could decrypt every payload; "+
		"listen on 127.0.0.1 or set %s", addr, EnvTokens)
	if host == "" {
		return refuse // every interface
	}
	if ip := net.ParseIP(host); ip != nil {
		if !ip.IsLoopback() {
			return refuse
		}
		return nil
	}
	ips, err := net.LookupIP(host)
	if err != nil {
		return fmt.Errorf("codec endpoint: resolve %s: %w", host, err)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return refuse
		}
	}
	return nil
}

// Addr is the address the endpoint listens on (host:port).
func (s *Server) Addr() string { return s.addr.String() }

// URL is the endpoint's base URL, as the Temporal UI's codec setting or the
// CLI's --codec-endpoint want it. An all-interfaces listener is named by its
// loopback address.
func (s *Server) URL() string {
	tcp, ok := s.addr.(*net.TCPAddr)
	if !ok {
		return "http://" + s.addr.String()
	}
	ip := tcp.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// Shutdown stops accepting requests and waits for those in flight until ctx
// ends. It returns the error that stopped serving, if any other than the
// shutdown.
func (s *Server) Shutdown(ctx context.Context) error {
	if err := s.srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("codec endpoint: shutdown: %w", err)
	}
	<-s.done
	return s.serveErr
}

// Close stops the endpoint at once.
func (s *Server) Close() error {
	if err := s.srv.Close(); err != nil {
		return fmt.Errorf("codec endpoint: close: %w", err)
	}
	<-s.done
	return s.serveErr
}
