package artifacts

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// urlPrefix is the path under which the handler serves artifacts. A reverse
// proxy that publishes the store under a path of its own must strip that path.
const urlPrefix = "/artifacts/"

// Handler serves GET and HEAD /artifacts/{key} to holders of a valid,
// unexpired URL from the store's URL method, with Range support. Anything
// else is refused: 403 for a missing, wrong or expired signature, an
// unknown key id, or an expiry beyond the store's MaxURLTTL (checked before
// the file, so an outsider learns nothing about which keys exist), 404
// for an absent artifact, 405 for other methods.
func (l *Local) Handler() http.Handler {
	return http.HandlerFunc(l.serve)
}

func (l *Local) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	key, ok := strings.CutPrefix(r.URL.Path, urlPrefix)
	if !ok || ValidKey(key) != nil {
		http.NotFound(w, r)
		return
	}
	if !l.authorized(key, r.URL.Query()) {
		http.Error(w, "forbidden: the link is invalid or has expired", http.StatusForbidden)
		return
	}
	f, st, err := l.openFile(key)
	if errors.Is(err, ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		http.Error(w, "artifact cannot be read", http.StatusInternalServerError)
		return
	}
	defer f.Close()
	h := w.Header()
	h.Set("Content-Type", contentType(key))
	// The URL is a credential; a shared cache must not keep what it opened.
	h.Set("Cache-Control", "private, no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", st.ModTime(), f)
}

// authorized checks the signature in constant time, with the key the URL's
// kid names, then the expiry: passed, or further ahead than the store's
// MaxURLTTL (plus ClockSkew) allows, which no URL of this store's own
// making can be. A kid the store does not know is refused.
//
// A URL without a kid was minted before URLs named their key. It is still
// served if the first key (the one that signed it then, unless keys have
// since rotated) verifies it and its expiry is within MaxURLTTL: a worker
// upgraded while a vendor's fetch is pending should not break that fetch,
// and serving it grants nothing a holder of the first key could not mint
// with a kid anyway. Once the first key changes, such URLs stop verifying.
func (l *Local) authorized(key string, q url.Values) bool {
	expires := q.Get("expires")
	sig, err := hex.DecodeString(q.Get("sig"))
	if expires == "" || err != nil || len(sig) == 0 {
		return false
	}
	exp, err := strconv.ParseInt(expires, 10, 64)
	if err != nil {
		return false
	}
	verified := false
	switch kids := q["kid"]; len(kids) {
	case 0:
		verified = hmac.Equal(sign(l.keys[0].secret, key, expires), sig)
	case 1:
		for _, k := range l.keys {
			if k.id == kids[0] && hmac.Equal(sign(k.secret, key, expires), sig) {
				verified = true
			}
		}
	}
	if !verified {
		return false
	}
	now := l.now().Unix()
	return now < exp && exp-now <= int64((l.maxTTL+ClockSkew)/time.Second)
}

// Server is the local store's HTTP server.
type Server struct {
	srv  *http.Server
	url  string
	done chan struct{}
	err  error // from Serve; read only after done is closed
}

// Listen binds addr (":0" or "127.0.0.1:0" pick a free port) and serves
// Handler on it until Close. When the store has no public URL, it takes the
// server's.
func (l *Local) Listen(addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("artifact server: listen on %s: %w", addr, err)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           l.Handler(),
			ReadHeaderTimeout: 10 * time.Second,
			// Requests carry no body; a client that is slower than this to
			// send one is not a vendor fetching a file.
			ReadTimeout: 30 * time.Second,
			// Generous because a list of millions of users is a large file
			// and a vendor may fetch it slowly; the bound still frees a
			// connection held open by a stalled reader.
			WriteTimeout:   time.Hour,
			IdleTimeout:    2 * time.Minute,
			MaxHeaderBytes: 16 << 10,
		},
		url:  "http://" + dialable(ln.Addr()),
		done: make(chan struct{}),
	}
	l.adoptURL(s.url)
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}

// dialable turns a listener address into one a local client can dial: a
// wildcard bind (":8235", "0.0.0.0:8235") is reached on loopback.
func dialable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		// Go's wildcard listeners are dual-stack, so IPv4 loopback reaches
		// them whichever family the wildcard was written in.
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

// URL is the server's own address, e.g. "http://127.0.0.1:41234".
func (s *Server) URL() string { return s.url }

// closeGrace is how long Close lets downloads in flight finish.
const closeGrace = 5 * time.Second

// Close stops the server, letting downloads in flight finish for a few
// seconds before cutting them off.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), closeGrace)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	if s.err != nil {
		return fmt.Errorf("artifact server: %w", s.err)
	}
	return nil
}
