// Package sandbox runs the fake vendor servers in-process and says how to
// point the worker's connections at them, so that the demo and `worker
// --sandbox` work without vendor accounts.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	bitlabsfake "importer/activities/bitlabs/fake"
	dynamicfake "importer/activities/dynamic/fake"
	fyndfake "importer/activities/fynd/fake"
	nebulyfake "importer/activities/nebuly/fake"
	userpilotfake "importer/activities/userpilot/fake"
	"importer/internal/connections"
)

// Key is the credential every sandbox vendor accepts.
const Key = "sandbox-key"

// The sandbox Fynd application.
const (
	FyndClientID      = "sandbox-client"
	FyndCompanyID     = "559"
	FyndApplicationID = "64b000000000000000000001"
)

// Sandbox is a running set of fake vendors.
type Sandbox struct {
	URL       string // base URL; each vendor is under /<vendor>
	Nebuly    *nebulyfake.Server
	BitLabs   *bitlabsfake.Server
	Userpilot *userpilotfake.Server
	Dynamic   *dynamicfake.Server
	Fynd      *fyndfake.Server
	srv       *http.Server
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
	neb := nebulyfake.New(nebulyfake.Options{APIKey: Key, Latency: o.Latency})
	// A bulk import at BitLabs holds the account for a while; Userpilot
	// works through jobs at a pace a demo can watch (documented: about
	// 1,200 rows a minute, which would make a demo last hours).
	bl := bitlabsfake.New(bitlabsfake.Options{Token: Key, Latency: o.Latency, BulkLatency: 2 * o.Latency})
	up := userpilotfake.New(userpilotfake.Options{APIKey: Key, Latency: o.Latency, RowsPerMinute: 3_000_000})
	// Dynamic keeps its documented 150 bulk requests a minute: the sandbox
	// shows the pacer at work, as the real vendor would need it.
	dy := dynamicfake.New(dynamicfake.Options{Token: Key, Latency: o.Latency})
	// The sandbox Fynd application knows every user a list names, as a
	// storefront that registers users on first sight would.
	fy := fyndfake.New(fyndfake.Options{ClientID: FyndClientID, ClientSecret: Key, CompanyID: FyndCompanyID,
		ApplicationID: FyndApplicationID, AutoCreateUsers: true, Latency: o.Latency})
	mux := http.NewServeMux()
	mux.Handle("/nebuly/", http.StripPrefix("/nebuly", neb))
	mux.Handle("/bitlabs/", http.StripPrefix("/bitlabs", bl))
	mux.Handle("/userpilot/", http.StripPrefix("/userpilot", up))
	mux.Handle("/dynamic/", http.StripPrefix("/dynamic", dy))
	mux.Handle("/fynd/", http.StripPrefix("/fynd", fy))
	l, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("sandbox vendors: listen on %s: %w", o.Addr, err)
	}
	s := &Sandbox{URL: "http://" + l.Addr().String(), Nebuly: neb, BitLabs: bl, Userpilot: up, Dynamic: dy, Fynd: fy, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := s.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener is ours; Serve fails only when it closes
		}
	}()
	return s, nil
}

// Connections returns conns with every vendor's default connection pointed
// at the sandbox.
func (s *Sandbox) Connections(conns connections.Set) connections.Set {
	return conns.With("nebuly", connections.Default, map[string]string{
		"BASE_URL": s.URL + "/nebuly",
		"API_KEY":  Key,
	}).With("bitlabs", connections.Default, map[string]string{
		"BASE_URL":  s.URL + "/bitlabs",
		"S2S_TOKEN": Key,
	}).With("userpilot", connections.Default, map[string]string{
		"BASE_URL": s.URL + "/userpilot",
		"API_KEY":  Key,
	}).With("dynamic", connections.Default, map[string]string{
		"BASE_URL":       s.URL + "/dynamic",
		"API_TOKEN":      Key,
		"ENVIRONMENT_ID": dynamicfake.DefaultEnvironmentID,
	}).With("fynd", connections.Default, map[string]string{
		"BASE_URL":       s.URL + "/fynd",
		"CLIENT_ID":      FyndClientID,
		"CLIENT_SECRET":  Key,
		"COMPANY_ID":     FyndCompanyID,
		"APPLICATION_ID": FyndApplicationID,
	})
}

// Close stops the fakes.
func (s *Sandbox) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	s.Fynd.Close()
	return err
}
