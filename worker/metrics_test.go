package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/rs/zerolog"
)

func TestDevServesMetricsOnAFreeLoopbackPortAndLogsIt(t *testing.T) {
	var logged bytes.Buffer
	h, stop, err := startMetrics("", true, nil, zerolog.New(&logged))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if h == nil {
		t.Fatal("--dev gave the client no metrics handler")
	}
	var line struct{ Message, URL string }
	if err := json.Unmarshal(logged.Bytes(), &line); err != nil || line.URL == "" {
		t.Fatalf("logged %q; want the metrics URL", logged.String())
	}
	u, err := url.Parse(line.URL)
	if err != nil || u.Hostname() != "127.0.0.1" || u.Port() == "0" || u.Path != "/metrics" {
		t.Fatalf("URL %q: want http://127.0.0.1:<free port>/metrics", line.URL)
	}
	resp, err := http.Get(line.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", line.URL, resp.StatusCode)
	}
	stop()
	if _, err := http.Get(line.URL); err == nil {
		t.Error("the endpoint still answers after stop")
	}

	// Without --dev or an address the worker serves and records nothing.
	logged.Reset()
	h, stop2, err := startMetrics("", false, nil, zerolog.New(&logged))
	if err != nil || h != nil || logged.Len() != 0 {
		t.Fatalf("no address, no --dev: handler %v, error %v, logged %q; want none", h, err, logged.String())
	}
	stop2()

	if _, _, err := startMetrics("256.0.0.1:1", false, nil, zerolog.Nop()); err == nil {
		t.Error("an address that cannot be listened on was accepted")
	}
}
