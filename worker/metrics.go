package main

import (
	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"

	"importer/internal/metrics"
)

// startMetrics serves the worker's metrics at addr, or with --dev and no
// address at a free loopback port. Without either it records nothing: the
// handler is nil, the client's default. stop closes what was started.
//
// The same listener answers the worker's probes (metrics.HealthPath,
// metrics.ReadyPath) from health.
func startMetrics(addr string, dev bool, health *metrics.Health, log zerolog.Logger) (h client.MetricsHandler, stop func(), err error) {
	if addr == "" && dev {
		addr = "127.0.0.1:0"
	}
	if addr == "" {
		return nil, func() {}, nil
	}
	m, err := metrics.New(metrics.Options{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	srv, err := metrics.Serve(addr, m, health)
	if err != nil {
		_ = m.Close()
		return nil, nil, err
	}
	log.Info().Str("url", srv.URL()).Msg("Prometheus metrics served")
	return m.Handler(), func() {
		_ = srv.Close()
		_ = m.Close()
	}, nil
}
