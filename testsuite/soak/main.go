// Command soak proves the importer's reliability claims under abuse and
// prints one table row per scenario and vendor:
//
//   - worker-loss: two worker processes, one SIGKILLed and replaced every
//     -kill-every, while a list is imported;
//   - vendor-faults: the fake vendor answers a share of calls with 500 or
//     429 + Retry-After, and hangs some past the workers' vendor timeout;
//   - vendor-down: the vendor answers 503 for longer than a short vendor
//     deadline; the import must fail saying so, and the same import run
//     again after the vendor recovers must converge;
//   - temporal-restart: the embedded Temporal server stops and starts again
//     (same port, same database) mid-import.
//
// The vendors of a scenario run at once, on the same two workers, except
// for temporal-restart, which catches one import at a time mid-way. The
// fakes run in this process behind a watch that judges each request (see
// watch.go); the workers are the real binary, built once from ./worker.
//
// Every import is checked: rows = accepted + rejected, the vendor holds
// each valid user, no user delivered twice except by replaying an identical
// request, no overlapping bulks, no request inside a Retry-After window.
// It exits 1 when any row breaks one. It is a command, not a test: it
// asserts nothing about speed, which this shared machine cannot promise.
// Run it from the module root.
//
//	go run ./testsuite/soak                      # everything, 200,000 rows per import
//	go run ./testsuite/soak -rows 20000          # quick
//	go run ./testsuite/soak -scenarios vendor-down -vendors dynamic,fynd
//	go run ./testsuite/soak -postgres            # Temporal on PostgreSQL at 127.0.0.1:5432
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"importer/internal/devserver"
)

type config struct {
	rows, audienceRows int
	runs               int
	scenarios, vendors []string
	killEvery          time.Duration
	postgres, keep     bool
	faultShare         float64
	vendorDeadline     time.Duration
	vendorTimeout      time.Duration
	queue              string
	settings
}

func main() {
	var cfg config
	var scen, vend string
	flag.IntVar(&cfg.rows, "rows", 200_000, "rows per import list")
	flag.IntVar(&cfg.audienceRows, "audience-rows", 0, "rows of the Fynd audience list (default -rows/10: one group)")
	flag.StringVar(&scen, "scenarios", strings.Join(scenarios, ","), "scenarios to run, comma-separated")
	flag.IntVar(&cfg.runs, "runs", 1, "run the scenarios this many times, on one cluster, each run with fresh lists and imports")
	known, unprobed := soaked()
	flag.StringVar(&vend, "vendors", strings.Join(known, ","), "vendors to run them against, comma-separated")
	flag.DurationVar(&cfg.killEvery, "kill-every", 5*time.Second, "worker-loss: SIGKILL a worker this often")
	flag.BoolVar(&cfg.postgres, "postgres", false, "run Temporal on PostgreSQL (fresh databases at 127.0.0.1:5432, or PGHOST/PGPORT; PGUSER, PGPASSWORD) instead of SQLite")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (lists, worker logs, Temporal's database) and PostgreSQL databases")
	flag.Float64Var(&cfg.faultShare, "fault-share", 0.1, "vendor-faults: share of vendor calls answered 500 or 429")
	flag.DurationVar(&cfg.vendorDeadline, "vendor-deadline", 20*time.Second, "vendor-down: the imports' vendor deadline")
	flag.DurationVar(&cfg.vendorTimeout, "vendor-timeout", 5*time.Second, "the workers' timeout for one vendor call (IMPORTER_VENDOR_TIMEOUT)")
	flag.DurationVar(&cfg.latency, "latency", 20*time.Millisecond, "added to every vendor call (and how long a BitLabs bulk holds its lock)")
	flag.IntVar(&cfg.dynamicScale, "dynamic-scale", 10, "Dynamic's limit, 150 requests a minute, sped up this many times")
	flag.DurationVar(&cfg.heartbeat, "heartbeat", 5*time.Second, "imports' heartbeat timeout: how soon a killed worker's work moves on")
	flag.Parse()
	if cfg.audienceRows == 0 {
		cfg.audienceRows = max(cfg.rows/10, 1)
	}
	cfg.queue = "soak"
	var err error
	if cfg.scenarios, err = pick("scenario", scen, scenarios); err == nil {
		cfg.vendors, err = pick("vendor", vend, known)
	}
	if err == nil && cfg.runs <= 0 {
		err = errors.New("-runs must be positive")
	}
	if err == nil && (cfg.rows <= 0 || cfg.audienceRows <= 0 || cfg.latency < 0 || cfg.killEvery <= 0 || cfg.dynamicScale <= 0 || cfg.faultShare <= 0 || cfg.faultShare >= 1 ||
		cfg.vendorDeadline <= 0 || cfg.vendorTimeout <= 0 || cfg.heartbeat <= 0) {
		err = errors.New("-rows, -audience-rows, -kill-every, -dynamic-scale, -vendor-deadline, -vendor-timeout and -heartbeat must be positive, -latency not negative, -fault-share between 0 and 1")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(2)
	}
	if len(unprobed) > 0 {
		fmt.Fprintf(os.Stderr, "soak: no probe of %s in testsuite/soak/vendors.go: not soaked\n", strings.Join(unprobed, ", "))
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rows, err := run(ctx, cfg)
	if len(rows) > 0 {
		report(os.Stdout, cfg, rows)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	for _, r := range rows {
		if len(r.problems) > 0 {
			os.Exit(1)
		}
	}
}

// pick parses a comma-separated selection of known names, keeping the
// known order.
func pick(what, s string, known []string) ([]string, error) {
	want := map[string]bool{}
	for _, name := range strings.Split(s, ",") {
		if name = strings.TrimSpace(name); name != "" {
			want[name] = true
		}
	}
	var out []string
	for _, k := range known {
		if want[k] {
			out = append(out, k)
			delete(want, k)
		}
	}
	for name := range want {
		return nil, fmt.Errorf("unknown %s %q (want some of %s)", what, name, strings.Join(known, ", "))
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s selected", what)
	}
	return out, nil
}

func run(ctx context.Context, cfg config) ([]row, error) {
	dir, err := os.MkdirTemp("", "importer-soak-")
	if err != nil {
		return nil, err
	}
	if cfg.keep {
		fmt.Fprintln(os.Stderr, "soak: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	began := time.Now()
	fmt.Fprintln(os.Stderr, "soak: building the worker binary...")
	bin := filepath.Join(dir, "worker")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./worker")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return nil, fmt.Errorf("go build ./worker (run the soak from the module root): %w", err)
	}

	serverLog, err := os.Create(filepath.Join(dir, "temporal.log"))
	if err != nil {
		return nil, err
	}
	defer serverLog.Close()
	log := zerolog.New(serverLog).Level(zerolog.ErrorLevel).With().Timestamp().Logger()
	store := "SQLite"
	if cfg.postgres {
		store = "PostgreSQL"
	}
	fmt.Fprintf(os.Stderr, "soak: starting Temporal on %s...\n", store)
	cl, err := startCluster(ctx, dir, cfg.postgres, log)
	if err != nil {
		return nil, err
	}
	defer cl.close(cfg.keep)

	endpoints := map[string]*endpoint{}
	urls := map[string]string{}
	// Every vendor the soak knows has a URL, whichever are run, so that the
	// workers' connections are the same for every selection.
	all, _ := soaked()
	for _, v := range all {
		e := newEndpoint()
		defer e.srv.Close()
		endpoints[v], urls[v] = e, e.srv.URL
	}
	ports := make([]int, 2)
	for i := range ports {
		if ports[i], err = devserver.FreePort("127.0.0.1"); err != nil {
			return nil, err
		}
	}
	proxy := newEndpoint()
	proxy.set(newArtifactProxy(ports))
	defer proxy.srv.Close()
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o700); err != nil {
		return nil, err
	}
	env := append(os.Environ(), workerEnv(all, urls, cfg.settings)...)
	env = append(env,
		"IMPORTER_VENDOR_TIMEOUT="+cfg.vendorTimeout.String(),
		"IMPORTER_ARTIFACTS=local",
		"IMPORTER_ARTIFACTS_DIR="+filepath.Join(dir, "artifacts"),
		"IMPORTER_ARTIFACTS_SECRET_FILE="+filepath.Join(dir, "artifacts.key"),
		"IMPORTER_ARTIFACTS_PUBLIC_URL="+proxy.srv.URL,
		// The soak's lists, and its fakes and file servers on loopback.
		"IMPORTER_SOURCE_ROOTS="+dir, "IMPORTER_SOURCE_HOSTS=127.0.0.1,localhost",
		"IMPORTER_MIN_POLL=100ms",
	)
	args := []string{"--address", cl.address(), "--namespace", cl.namespace(), "--task-queue", cfg.queue,
		"--data-dir", filepath.Join(dir, "data"), "--log-format", "json", "--log-level", "warn"}
	p := newPool(bin, args, env, ports, logs)
	defer p.stop(5 * time.Second)
	for i := range ports {
		if err := p.start(i); err != nil {
			return nil, err
		}
	}
	if err := p.waitPollers(ctx, cl.c, cfg.queue); err != nil {
		return nil, fmt.Errorf("workers: %w\n%s", err, p.logTails(20))
	}
	fmt.Fprintf(os.Stderr, "soak: ready in %s; two workers, %d rows per list (%d for Fynd)\n",
		time.Since(began).Round(time.Second), cfg.rows, cfg.audienceRows)

	r := &runner{cfg: cfg, cl: cl, pool: p, endpoints: endpoints, dir: dir}
	var rows []row
	for n := range cfg.runs {
		for _, s := range cfg.scenarios {
			if ctx.Err() != nil {
				return rows, ctx.Err()
			}
			how := "all at once"
			if s == scenarioTemporalRestart {
				how = "one after another"
			}
			if cfg.runs > 1 {
				how += fmt.Sprintf(", run %d of %d", n+1, cfg.runs)
			}
			fmt.Fprintf(os.Stderr, "soak: %s: %s, %s...\n", s, strings.Join(cfg.vendors, ", "), how)
			rows = append(rows, r.scenario(ctx, s, cfg.vendors, func(rw row) {
				fmt.Fprintf(os.Stderr, "soak: %s %s: %s in %s\n", s, rw.vendor, result(rw), rw.took.Round(time.Second))
			})...)
		}
	}
	if cfg.keep {
		fmt.Fprintf(os.Stderr, "soak: worker logs are in %s\n", logs)
	}
	if ctx.Err() != nil {
		return rows, fmt.Errorf("interrupted: %w", ctx.Err())
	}
	fmt.Fprintf(os.Stderr, "soak: done in %s\n", time.Since(began).Round(time.Second))
	return rows, nil
}

func result(r row) string {
	switch len(r.problems) {
	case 0:
		return "ok"
	case 1:
		return "FAILED: " + r.problems[0]
	default:
		return fmt.Sprintf("FAILED: %s (and %d more)", r.problems[0], len(r.problems)-1)
	}
}

func report(out *os.File, cfg config, rows []row) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tvendor\timports run\trows\tworkers killed\tfaults injected\tserver restarts\trows lost\tduplicates\toverlapping bulks\tearly requests\tduration\tresult\tnotes")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n",
			r.scenario, r.vendor, r.imports, r.rows, r.killed, r.faults, r.restarts, r.lost, r.duplicates, r.overlaps, r.early,
			r.took.Round(time.Second), result(r), strings.Join(r.notes, "; "))
	}
	_ = tw.Flush()
	store := "SQLite"
	if cfg.postgres {
		store = "PostgreSQL"
	}
	fmt.Fprintf(out, "\nTemporal on %s; 2 worker processes; vendor latency %s; vendor timeout %s; heartbeat timeout %s; kill every %s; fault share %.0f%%; vendor deadline %s; Dynamic limit 150/min x %d; %d CPUs\n",
		store, cfg.latency, cfg.vendorTimeout, cfg.heartbeat, cfg.killEvery, cfg.faultShare*100, cfg.vendorDeadline, cfg.dynamicScale, runtime.NumCPU())
	for _, r := range rows {
		if len(r.problems) == 0 && len(r.details) == 0 {
			continue
		}
		fmt.Fprintf(out, "\n%s %s:\n", r.scenario, r.vendor)
		for _, p := range r.problems {
			fmt.Fprintf(out, "  FAILED: %s\n", p)
		}
		for _, d := range r.details {
			fmt.Fprintf(out, "  %s\n", strings.ReplaceAll(strings.TrimRight(d, "\n"), "\n", "\n  "))
		}
	}
}
