// Package temporalclient connects to Temporal with the settings the Temporal
// CLI reads (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS
// variables, profiles in temporal.toml), so one environment serves both.
package temporalclient

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"

	"importer/internal/codec"
	"importer/internal/logging"
)

// Options override what the environment says.
type Options struct {
	Address   string // host:port; empty means the environment's or localhost:7233
	Namespace string // empty means the environment's or "default"
	Logger    zerolog.Logger
	// Timeout bounds the first connection. Default 10s.
	Timeout time.Duration
	// MetricsHandler receives the SDK's metrics and, through the handlers
	// the SDK derives from it, the importer's (internal/metrics); nil
	// records none.
	MetricsHandler client.MetricsHandler
}

// Dial connects and checks that the server answers, so that a wrong address
// fails here with a clear sentence rather than later with a gRPC dump. When
// IMPORTER_CODEC_KEYS is set, every payload and failure message the client
// writes is encrypted and every one it reads is decrypted (see
// internal/codec).
func Dial(ctx context.Context, o Options) (client.Client, error) {
	opts, err := envconfig.LoadDefaultClientOptions()
	if err != nil {
		return nil, fmt.Errorf("read Temporal client settings (TEMPORAL_* variables, temporal.toml): %w", err)
	}
	if o.Address != "" {
		opts.HostPort = o.Address
	}
	if o.Namespace != "" {
		opts.Namespace = o.Namespace
	}
	if opts.HostPort == "" {
		opts.HostPort = client.DefaultHostPort
	}
	if opts.Namespace == "" {
		opts.Namespace = client.DefaultNamespace
	}
	opts.Logger = logging.NewTemporal(o.Logger)
	if o.MetricsHandler != nil {
		opts.MetricsHandler = o.MetricsHandler
	}
	// The worker and the starter both dial here, so they always agree on
	// whether, and with which keys, payloads are encrypted.
	ring, err := codec.KeyringFromEnv(os.Getenv)
	if err != nil {
		return nil, fmt.Errorf("payload encryption: %w", err)
	}
	if ring != nil {
		opts.DataConverter = codec.DataConverter(ring)
		opts.FailureConverter = codec.FailureConverter(ring)
		o.Logger.Info().Str("active_key", ring.ActiveID()).Strs("keys", ring.IDs()).Msg("payloads are encrypted")
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := client.DialContext(dctx, opts)
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %s): %w; start one with `go run ./worker --dev` or set TEMPORAL_ADDRESS",
			opts.HostPort, opts.Namespace, err)
	}
	return c, nil
}
