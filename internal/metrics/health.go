package metrics

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"
)

// Paths of the worker's probes, served beside Path.
const (
	// HealthPath answers 200 while the process serves: the liveness probe.
	HealthPath = "/healthz"
	// ReadyPath answers 200 once the worker polls its task queue and while
	// it reaches its store, 503 otherwise: the readiness probe.
	ReadyPath = "/readyz"
)

// Health answers the worker's probes. Its zero value is alive and not
// ready: readiness comes with SetReady, once the worker polls.
type Health struct {
	ready atomic.Pointer[func(context.Context) error]
}

// SetReady makes readiness the answer of check (nil: not ready).
func (h *Health) SetReady(check func(context.Context) error) {
	if check == nil {
		h.ready.Store(nil)
		return
	}
	h.ready.Store(&check)
}

// readyTimeout bounds one readiness check (a store ping).
const readyTimeout = 5 * time.Second

func (h *Health) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+HealthPath, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET "+ReadyPath, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		check := h.ready.Load()
		if check == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("starting: the worker does not poll yet\n"))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		if err := (*check)(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(err.Error() + "\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
}
