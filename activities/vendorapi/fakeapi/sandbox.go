package fakeapi

import (
	"net/http"
	"time"
)

// Sandbox is a vendor's fake as `worker --sandbox` and `starter demo` run
// it, in process, under a path of one local server.
type Sandbox interface {
	http.Handler
	// Settings are the connection settings that point a worker at the
	// fake when it is served at baseURL.
	Settings(baseURL string) map[string]string
	// Count is how many users the fake holds.
	Count() int
	// Close stops the fake's background work, if it has any.
	Close()
}

// SandboxOptions tune a sandbox fake.
type SandboxOptions struct {
	// Key is the one credential the fake accepts (every secret setting).
	Key string
	// Latency is added to every call, to look like a real vendor.
	Latency time.Duration
}
