package metrics

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"
	"github.com/uber-go/tally/v4"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Options configure New. The zero value is ready to use.
type Options struct {
	// Logger receives what cannot be recorded (a metric recorded with two
	// sets of label names), once per problem; recording never fails.
	Logger zerolog.Logger
	// ReportEvery is how often the SDK's counters and gauges, which tally
	// buffers, reach /metrics; 0 means every second. The importer's own
	// are there at once.
	ReportEvery time.Duration
}

// Metrics is one worker's metrics: a Prometheus registry holding the SDK's
// metrics (through tally), the importer's own (Catalog), and the Go
// runtime's and the process's. Close it when the worker stops.
type Metrics struct {
	registry *prometheus.Registry
	own      map[string]*ownMetric // by name; fixed by New
	sdk      client.MetricsHandler
	scope    io.Closer
	sanitize tally.Sanitizer
	log      zerolog.Logger

	mu     sync.Mutex
	logged map[string]bool // problems already logged
}

// ownMetric is one of the importer's metrics in the registry.
type ownMetric struct {
	spec      Metric
	counter   *prometheus.CounterVec
	histogram *prometheus.HistogramVec
}

// New builds a registry with every metric of Catalog registered.
func New(o Options) (*Metrics, error) {
	every := o.ReportEvery
	if every <= 0 {
		every = time.Second
	}
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		own:      map[string]*ownMetric{},
		sanitize: tally.NewSanitizer(sdktally.PrometheusSanitizeOptions),
		log:      o.Logger,
		logged:   map[string]bool{},
	}
	if err := m.registry.Register(collectors.NewGoCollector()); err != nil {
		return nil, fmt.Errorf("metrics: register the Go runtime's: %w", err)
	}
	if err := m.registry.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, fmt.Errorf("metrics: register the process's: %w", err)
	}
	for _, spec := range Catalog() {
		om := &ownMetric{spec: spec}
		var c prometheus.Collector
		switch spec.Kind {
		case Counter:
			om.counter = prometheus.NewCounterVec(prometheus.CounterOpts{Name: spec.Name, Help: spec.Help}, spec.Labels)
			c = om.counter
		case Histogram:
			om.histogram = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: spec.Name, Help: spec.Help, Buckets: spec.Buckets}, spec.Labels)
			c = om.histogram
		default:
			return nil, fmt.Errorf("metrics: %s has no kind", spec.Name)
		}
		if err := m.registry.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: register %s: %w", spec.Name, err)
		}
		m.own[spec.Name] = om
	}
	// The SDK's metrics, named as Temporal's dashboards expect: counters
	// end in _total, timers are histograms in seconds, no prefix.
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:              m.registry,
		DefaultTimerType:        tallyprom.HistogramTimerType,
		DefaultHistogramBuckets: sdkBuckets(),
		OnRegisterError:         func(err error) { m.problem(err.Error()) },
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:         reporter,
		Separator:              tallyprom.DefaultSeparator,
		SanitizeOptions:        &sdktally.PrometheusSanitizeOptions,
		OmitCardinalityMetrics: true,
	}, every)
	m.scope = closer
	m.sdk = sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope))
	return m, nil
}

// Handler is the metrics handler for client.Options.MetricsHandler: the
// SDK records its metrics through it, and activities and workflows record
// the importer's through the handler the SDK derives from it.
func (m *Metrics) Handler() client.MetricsHandler {
	return &handler{m: m, sdk: m.sdk, tags: map[string]string{}}
}

// HTTPHandler serves the registry in Prometheus's text format.
func (m *Metrics) HTTPHandler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{ErrorLog: promLogger{m}})
}

// Close reports the SDK's buffered metrics one last time and stops tally's
// reporting loop.
func (m *Metrics) Close() error {
	if err := m.scope.Close(); err != nil {
		return fmt.Errorf("metrics: close the SDK's scope: %w", err)
	}
	return nil
}

// problem logs a problem the first time it happens.
func (m *Metrics) problem(msg string) {
	m.mu.Lock()
	seen := m.logged[msg]
	m.logged[msg] = true
	m.mu.Unlock()
	if !seen {
		m.log.Warn().Str("problem", msg).Msg("a metric could not be recorded")
	}
}

type promLogger struct{ m *Metrics }

func (l promLogger) Println(v ...any) { l.m.problem(fmt.Sprint(v...)) }

// handler routes the importer's metrics (Catalog) to their own collectors,
// labelled from the tags the SDK put on the handler, and everything else to
// the SDK's tally handler.
type handler struct {
	m    *Metrics
	sdk  client.MetricsHandler
	tags map[string]string // never changed once built
}

func (h *handler) WithTags(tags map[string]string) client.MetricsHandler {
	merged := make(map[string]string, len(h.tags)+len(tags))
	maps.Copy(merged, h.tags)
	maps.Copy(merged, tags)
	return &handler{m: h.m, sdk: h.sdk.WithTags(tags), tags: merged}
}

func (h *handler) Counter(name string) client.MetricsCounter {
	om, ok := h.m.own[name]
	if !ok {
		return h.sdk.Counter(name)
	}
	if om.counter == nil {
		h.m.problem(name + " is not a counter")
		return client.MetricsNopHandler.Counter(name)
	}
	c, err := om.counter.GetMetricWithLabelValues(h.values(om.spec)...)
	if err != nil {
		h.m.problem(err.Error())
		return client.MetricsNopHandler.Counter(name)
	}
	return counterFunc(func(n int64) {
		if n > 0 {
			c.Add(float64(n))
		}
	})
}

func (h *handler) Gauge(name string) client.MetricsGauge {
	if _, ok := h.m.own[name]; ok {
		h.m.problem(name + " is not a gauge")
		return client.MetricsNopHandler.Gauge(name)
	}
	return h.sdk.Gauge(name)
}

func (h *handler) Timer(name string) client.MetricsTimer {
	om, ok := h.m.own[name]
	if !ok {
		return h.sdk.Timer(name)
	}
	if om.histogram == nil {
		h.m.problem(name + " is not a histogram")
		return client.MetricsNopHandler.Timer(name)
	}
	o, err := om.histogram.GetMetricWithLabelValues(h.values(om.spec)...)
	if err != nil {
		h.m.problem(err.Error())
		return client.MetricsNopHandler.Timer(name)
	}
	return timerFunc(func(d time.Duration) { o.Observe(max(d, 0).Seconds()) })
}

// Unwrap is the SDK's tally handler, for sdktally.ScopeFromHandler.
func (h *handler) Unwrap() client.MetricsHandler { return h.sdk }

// values are the label values of a metric, from the handler's tags,
// sanitized as the SDK's own are so that both join on namespace and task
// queue.
func (h *handler) values(spec Metric) []string {
	out := make([]string, len(spec.Labels))
	for i, l := range spec.Labels {
		if v := h.tags[l]; v != "" {
			out[i] = h.m.sanitize.Value(v)
		}
	}
	return out
}

type counterFunc func(int64)

func (f counterFunc) Inc(n int64) { f(n) }

type timerFunc func(time.Duration)

func (f timerFunc) Record(d time.Duration) { f(d) }
