package main

import (
	"github.com/rs/zerolog"
)

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
