// Command bench measures the importer against the fake Nebuly on the
// embedded Temporal server, next to a plain Go loop that posts the same
// batches to the same fake at the same concurrency without Temporal. The
// ratio of the two is the cost of durability. It prints a table; it is a
// measurement, not a test, because this machine is shared and noisy.
//
// The embedded Temporal server, the worker and the fake vendor each run in
// a process of their own, so that each one's peak memory is its own; the
// fake keeps a digest of what it received instead of the users, so 10M
// rows fit. The list is served over HTTP by this process, which counts the
// bytes the import reads.
//
//	go run ./testsuite/bench -rows 100000,1000000 -latency 0,50ms
//	go run ./testsuite/bench -rows 10000000 -latency 0 -plain=false
//	go run ./testsuite/bench -rows 1000000 -dev   # worker --dev: server and worker in one process
//	go run ./testsuite/bench -rows 10000000 -latency 0 -format parquet
//	go run ./testsuite/bench -incremental -rows 1000000 -store sqlite,postgres
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"importer/activities/imports"
	"importer/activities/source"
	"importer/activities/vendors/gen"
	"importer/workflows"
)

const key = "bench-key"

type config struct {
	rows        []int
	latencies   []time.Duration
	concurrency int
	batch       int
	chunkRows   int
	dir         string
	incremental bool
	backends    []string
	plain       bool // also run the plain loop
	dev         bool // one `worker --dev` process instead of a server and a worker
	timeline    bool // print where each import's time went, from its history
	format      source.Format
	self        string
	workerBin   string
}

func main() {
	role := flag.String("role", "", "internal: run as the bench's temporal server or fake vendor process")
	rowsFlag := flag.String("rows", "100000,1000000", "list sizes, comma-separated")
	latFlag := flag.String("latency", "0,50ms", "added vendor latencies, comma-separated")
	conc := flag.Int("concurrency", workflows.DefaultConcurrency, "chunks (and plain-loop goroutines) in flight")
	batch := flag.Int("batch", imports.DefaultBatchSize, "users per vendor request")
	chunk := flag.Int("chunk-rows", 0, "rows per chunk (default 5 batches)")
	plain := flag.Bool("plain", true, "also run the plain loop, for the ratio")
	dev := flag.Bool("dev", false, "run the import on `worker --dev` (embedded server and worker in one process) instead of a server process and a worker process")
	format := flag.String("format", "csv", "the list's format: csv, or parquet (the same list converted: Snappy, row groups of 1Mi rows)")
	timeline := flag.Bool("timeline", false, "print, for each import, where its time went: each activity type's first schedule, start and last completion, from its history")
	incr := flag.Bool("incremental", false, "measure incremental imports instead, on each -store backend: a first run that writes the state, and a re-run of the unchanged list")
	backends := flag.String("store", "sqlite,postgres", "with -incremental: the store backends, comma-separated")
	dir := flag.String("dir", "", "internal: the temporal role's directory")
	lat := flag.Duration("fake-latency", 0, "internal: the fake role's latency")
	flag.Parse()
	switch *role {
	case "":
	case roleTemporal:
		if err := serveTemporal(*dir); err != nil {
			fatal(err)
		}
		return
	case roleFake:
		if err := serveFake(*lat); err != nil {
			fatal(err)
		}
		return
	default:
		fatal(fmt.Errorf("unknown -role %q", *role))
	}

	cfg := config{concurrency: *conc, batch: *batch, chunkRows: *chunk, incremental: *incr, plain: *plain, dev: *dev, timeline: *timeline, format: source.Format(*format)}
	if cfg.format != source.CSV && cfg.format != source.Parquet || cfg.incremental && cfg.format != source.CSV {
		fatal(fmt.Errorf("bad -format %q: csv or parquet (-incremental measures csv)", *format))
	}
	for _, b := range strings.Split(*backends, ",") {
		cfg.backends = append(cfg.backends, strings.TrimSpace(b))
	}
	if cfg.chunkRows == 0 {
		cfg.chunkRows = cfg.batch * workflows.DefaultBatchesPerChunk
	}
	for _, s := range strings.Split(*rowsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			fatal(fmt.Errorf("bad -rows %q", s))
		}
		cfg.rows = append(cfg.rows, n)
	}
	for _, s := range strings.Split(*latFlag, ",") {
		s = strings.TrimSpace(s)
		if s == "0" {
			s = "0s"
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			fatal(fmt.Errorf("bad -latency %q", s))
		}
		cfg.latencies = append(cfg.latencies, d)
	}
	tmp, err := os.MkdirTemp("", "importer-bench-")
	if err != nil {
		fatal(err)
	}
	defer os.RemoveAll(tmp)
	cfg.dir = tmp
	if cfg.self, err = os.Executable(); err != nil {
		fatal(err)
	}
	if err := run(cfg); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench:", err)
	os.Exit(1)
}

func run(cfg config) error {
	ctx := context.Background()
	fmt.Fprintln(os.Stderr, "building the worker binary...")
	cfg.workerBin = filepath.Join(cfg.dir, "worker")
	if err := goBuild(cfg.workerBin, "./worker"); err != nil {
		return err
	}
	if cfg.incremental {
		return runIncremental(ctx, cfg)
	}
	var results []result
	for _, n := range cfg.rows {
		path := filepath.Join(cfg.dir, fmt.Sprintf("users-%d.csv", n))
		fmt.Fprintf(os.Stderr, "writing a %d-row list...\n", n)
		if _, err := gen.VendorFile("nebuly", path, gen.Options{Rows: n, InvalidEvery: 1000, QuotedNewlineEvery: 100}); err != nil {
			return err
		}
		if cfg.format == source.Parquet {
			fmt.Fprintf(os.Stderr, "converting it to Parquet...\n")
			csvPath := path
			path = strings.TrimSuffix(path, ".csv") + ".parquet"
			if err := toParquet(csvPath, path); err != nil {
				return err
			}
			os.Remove(csvPath)
			share, size, err := columnShare(path, "end_user")
			if err != nil {
				return err
			}
			fmt.Printf("%d rows as Parquet: %.1f MB, the key column (end_user) %.2f of it\n", n, float64(size)/1e6, share)
		}
		for _, lat := range cfg.latencies {
			fmt.Fprintf(os.Stderr, "%d rows, %s vendor latency...\n", n, lat)
			r, err := measure(ctx, cfg, path, n, lat)
			if err != nil {
				return err
			}
			results = append(results, r)
		}
		os.Remove(path)
	}
	printResults(cfg, results)
	return nil
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1f", d.Seconds()) }

func printResults(cfg config, results []result) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "rows\tvendor latency\twall time\ttemporal rows/s\tplain loop rows/s\tratio\thistory events/1k rows\truns\t"+
		"peak RSS MB: worker\tserver\tfake\tbytes read ÷ size\tCPU s: worker\tserver\tfake\tplain loop\tits fake\t\n")
	for _, r := range results {
		plain, ratio := "-", "-"
		if r.plainRPS > 0 {
			plain, ratio = fmt.Sprintf("%.0f", r.plainRPS), fmt.Sprintf("%.2f", r.temporalRPS/r.plainRPS)
		}
		server := fmt.Sprintf("%.0f", r.serverMB)
		if cfg.dev {
			server = "(in worker)"
		}
		cpuServer, cpuPlain, cpuPlainFake := secs(r.cpuServer), "-", "-"
		if cfg.dev {
			cpuServer = "(in worker)"
		}
		if r.plainRPS > 0 {
			cpuPlain, cpuPlainFake = secs(r.cpuPlain), secs(r.cpuPlainFake)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.0f\t%s\t%s\t%.2f\t%d\t%.0f\t%s\t%.0f\t%.3f\t%s\t%s\t%s\t%s\t%s\t\n", r.rows, r.latency, r.wall.Round(100*time.Millisecond),
			r.temporalRPS, plain, ratio, r.eventsPerK, r.runs, r.workerMB, server, r.fakeMB, r.bytesRatio,
			secs(r.cpuWorker), cpuServer, secs(r.cpuFake), cpuPlain, cpuPlainFake)
	}
	tw.Flush()
	how := "the embedded Temporal server (SQLite), the worker and the fake Nebuly each in its own process"
	if cfg.dev {
		how = "`worker --dev` (embedded Temporal server on SQLite and the worker in one process) and the fake Nebuly in another"
	}
	list := "CSV"
	if cfg.format == source.Parquet {
		list = fmt.Sprintf("Parquet (Snappy, row groups of %d rows)", parquetRowGroup)
	}
	fmt.Printf("\n%s list; concurrency %d, batch %d users, chunk %d rows; %s; %d CPUs\n", list, cfg.concurrency, cfg.batch, cfg.chunkRows, how, runtime.NumCPU())
}
