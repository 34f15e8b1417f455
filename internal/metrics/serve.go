package metrics

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"
)

// Path is where Serve answers.
const Path = "/metrics"

// EnvListen is the worker's setting for the endpoint's address
// (worker --metrics-listen).
const EnvListen = "IMPORTER_METRICS_LISTEN"

// Server serves a registry at Path.
type Server struct {
	srv  *http.Server
	addr net.Addr
	done chan struct{}
}

// Serve listens on addr (host:port; port 0 picks a free one) and serves m
// at Path. The endpoint needs no authentication: it holds no user data and
// no secret.
//
// With h, it serves the worker's probes too: HealthPath and ReadyPath.
func Serve(addr string, m *Metrics, h *Health) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics endpoint: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+Path, m.HTTPHandler())
	if h != nil {
		h.routes(mux)
	}
	s := &Server{
		srv: &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Minute,
			WriteTimeout:      time.Minute,
			IdleTimeout:       2 * time.Minute,
		},
		addr: ln.Addr(),
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// URL is the endpoint's address, as Prometheus scrapes it; an
// all-interfaces listener is named by its loopback address.
func (s *Server) URL() string {
	tcp, ok := s.addr.(*net.TCPAddr)
	if !ok {
		return "http://" + s.addr.String() + Path
	}
	ip := tcp.IP
	if ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port)) + Path
}

// Close stops the endpoint at once.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics endpoint: close: %w", err)
	}
	return nil
}
