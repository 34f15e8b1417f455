package main

import (
	"os"
	"strings"
	"time"

	"importer/activities/source"
	"importer/internal/codec"
	"importer/internal/envconf"
	"importer/internal/limits"
	"importer/internal/metrics"
)

// Config is every setting the worker takes from its environment, beside
// its flags. The environment is read once, when the command is made
// (snapshot); readConfig parses it when the worker runs, so a bad value
// stops the worker at start with a sentence naming the variable. Each field
// says its variable and its default.
type Config struct {
	// VendorTimeout bounds one vendor call (IMPORTER_VENDOR_TIMEOUT);
	// 0: workerrun's default, 30 s.
	VendorTimeout time.Duration
	// S3PathStyle addresses S3-compatible services by path
	// (IMPORTER_S3_PATH_STYLE); false: AWS's virtual-hosted style.
	S3PathStyle bool
	// Staging is where compressed sources are staged (IMPORTER_STAGING_URL);
	// "": <data-dir>/staging, one host only.
	Staging string
	// UI is the Temporal UI's address, the base of a run's link in
	// notifications (IMPORTER_UI_URL); "": the embedded UI with --dev,
	// else no link.
	UI string
	// Limits are the caps on what an import may ask (IMPORTER_MAX_*
	// of internal/limits); zero fields: their defaults.
	Limits limits.Limits
	// StagingLimits cap a staged copy (IMPORTER_STAGING_MAX_BYTES,
	// IMPORTER_STAGING_MAX_RATIO, IMPORTER_STAGING_MIN_FREE_BYTES); zero
	// fields: their defaults.
	StagingLimits source.StageLimits
	// SourceLimits cap what a list may declare (IMPORTER_MAX_COLUMNS,
	// IMPORTER_MAX_NESTING, IMPORTER_MAX_HEADER_BYTES,
	// IMPORTER_MAX_CHUNK_BYTES, IMPORTER_PARQUET_MAX_FOOTER); zero fields:
	// their defaults.
	SourceLimits source.Limits
	// Keyring seals payloads in history (IMPORTER_CODEC_KEYS,
	// IMPORTER_CODEC_ACTIVE_KEY); nil: payloads are stored as they are.
	Keyring *codec.Keyring
	// CodecTokens are the bearer tokens the codec endpoint accepts
	// (IMPORTER_CODEC_TOKENS, comma-separated); none: it asks for none.
	CodecTokens []string
	// SourceRoots are the directories local sources may be read from
	// (IMPORTER_SOURCE_ROOTS); none: the config file's, then with --dev the
	// directory the worker started in, else no local source.
	SourceRoots []string
	// SourceHosts are the hosts http(s) sources may reach on non-public
	// addresses (IMPORTER_SOURCE_HOSTS); none: the config file's.
	SourceHosts []string
	// Environ is the environment as it was read, for what takes many
	// variables by pattern: vendor connections and webhooks
	// (IMPORTER_<VENDOR>_*, IMPORTER_WEBHOOK_*) and the artifact store
	// (IMPORTER_ARTIFACTS*, IMPORTER_S3_*).
	Environ []string

	getenv func(string) string
}

// snapshot is the environment, read once: Getenv answers from it.
type snapshot struct {
	environ []string
	vars    map[string]string
}

func readEnvironment(environ []string) snapshot {
	s := snapshot{environ: environ, vars: make(map[string]string, len(environ))}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			s.vars[k] = v
		}
	}
	return s
}

// Getenv is os.Getenv over the snapshot.
func (s snapshot) Getenv(k string) string { return s.vars[k] }

// or is the variable's value, or def when it is unset or empty.
func (s snapshot) or(k, def string) string {
	if v := s.vars[k]; v != "" {
		return v
	}
	return def
}

// Flag defaults the environment gives.
const (
	envDataDir  = "IMPORTER_DATA_DIR"
	envStore    = "IMPORTER_STORE"
	envConfig   = "IMPORTER_CONFIG"
	envVendorCA = "IMPORTER_VENDOR_CA_FILE"
	envListen   = metrics.EnvListen
)

// readConfig parses the worker's settings from the snapshot.
func readConfig(env snapshot) (Config, error) {
	get := env.Getenv
	c := Config{
		Staging: get("IMPORTER_STAGING_URL"),
		UI:      get("IMPORTER_UI_URL"),
		Environ: env.environ,
		getenv:  get,
	}
	var err error
	if c.VendorTimeout, err = envconf.PositiveDuration(get, vendorTimeoutEnv); err != nil {
		return Config{}, err
	}
	if c.S3PathStyle, err = envconf.Bool(get, envconf.S3PathStyle); err != nil {
		return Config{}, err
	}
	if c.Limits, err = limits.FromEnv(get); err != nil {
		return Config{}, err
	}
	if c.StagingLimits, err = source.StagingLimitsFromEnv(get); err != nil {
		return Config{}, err
	}
	if c.SourceLimits, err = source.LimitsFromEnv(get); err != nil {
		return Config{}, err
	}
	if c.Keyring, err = codec.KeyringFromEnv(get); err != nil {
		return Config{}, err
	}
	for _, t := range strings.Split(get(codec.EnvTokens), ",") {
		if t = strings.TrimSpace(t); t != "" {
			c.CodecTokens = append(c.CodecTokens, t)
		}
	}
	c.SourceRoots = source.SplitRoots(get(source.EnvRoots))
	c.SourceHosts = source.SplitHosts(get(source.EnvHosts))
	return c, nil
}

// vendorTimeoutEnv bounds one vendor call. Unset keeps the default; a soak
// or a slow sandbox sets it lower so that a hanging vendor is given up on
// sooner.
const vendorTimeoutEnv = "IMPORTER_VENDOR_TIMEOUT"

// osEnvironment is the process's environment, for main.
func osEnvironment() snapshot { return readEnvironment(os.Environ()) }
