package main

import (
	"fmt"
	"os"
	"time"

	"github.com/rs/zerolog"
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// serverLevel keeps the embedded server's own logs to errors unless the user
// asked for debug: its info and warn lines (pollers closing at shutdown, for
// one) are for Temporal's developers, not for people importing users.
func serverLevel(l zerolog.Level) zerolog.Level {
	if l <= zerolog.DebugLevel {
		return l
	}
	return max(l, zerolog.ErrorLevel)
}

func dbLabel(db string) string {
	if db == "" {
		return "in memory"
	}
	return db
}

// vendorTimeoutEnv bounds one vendor call. Unset keeps the default; a soak
// or a slow sandbox sets it lower so that a hanging vendor is given up on
// sooner.
const vendorTimeoutEnv = "IMPORTER_VENDOR_TIMEOUT"

// vendorTimeout reads vendorTimeoutEnv: 0 when unset, else a positive
// duration.
func vendorTimeout(getenv func(string) string) (time.Duration, error) {
	v := getenv(vendorTimeoutEnv)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 30s", vendorTimeoutEnv, v)
	}
	return d, nil
}
