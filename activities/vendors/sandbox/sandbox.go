// Package sandbox runs the fake vendor servers in-process and says how to
// point the worker's connections at them, so that the demo and `worker
// --sandbox` work without vendor accounts. It runs one fake for every
// vendor of the registry (activities/vendors), each under /<vendor>/.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"importer/activities/vendorapi/fakeapi"
	"importer/activities/vendors"
	"importer/internal/connections"
)

// Key is the credential every sandbox vendor accepts.
const Key = "sandbox-key"

// Sandbox is a running set of fake vendors.
type Sandbox struct {
	URL   string // base URL; each vendor is under /<vendor>
	names []string
	fakes map[string]fakeapi.Sandbox
	srv   *http.Server
}

// Options tunes the fakes.
type Options struct {
	// Addr to listen on; default 127.0.0.1:0 (a free port).
	Addr string
	// Latency is added to every vendor call, to look like a real vendor.
	Latency time.Duration
}

// Start starts the fakes.
func Start(o Options) (*Sandbox, error) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox vendors: listen on %s: %w", o.Addr, err)
	}
	s := &Sandbox{URL: "http://" + l.Addr().String(), fakes: map[string]fakeapi.Sandbox{}}
	mux := http.NewServeMux()
	for _, e := range vendors.All() {
		name := e.Spec.Name
		fake := e.Sandbox(fakeapi.SandboxOptions{Key: Key, Latency: o.Latency})
		s.names = append(s.names, name)
		s.fakes[name] = fake
		mux.Handle("/"+name+"/", http.StripPrefix("/"+name, fake))
	}
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener is ours; Serve fails only when it closes
		}
	}()
	return s, nil
}

// Vendor is the fake of a vendor, by its registry name; nil for a name
// the registry does not have.
func (s *Sandbox) Vendor(name string) fakeapi.Sandbox { return s.fakes[name] }

// Settings are the connection settings that point a worker at a vendor's
// fake; nil for a name the registry does not have.
func (s *Sandbox) Settings(name string) map[string]string {
	fake := s.fakes[name]
	if fake == nil {
		return nil
	}
	return fake.Settings(s.URL + "/" + name)
}

// Connections returns conns with every vendor's default connection pointed
// at the sandbox.
func (s *Sandbox) Connections(conns connections.Set) connections.Set {
	for _, name := range s.names {
		conns = conns.With(name, connections.Default, s.Settings(name))
	}
	return conns
}

// Close stops the fakes.
func (s *Sandbox) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	for _, name := range s.names {
		s.fakes[name].Close()
	}
	return err
}
