package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	nebulyfake "importer/activities/nebuly/fake"
	"importer/internal/devserver"
)

// The bench runs its embedded Temporal server and its fake vendor as
// copies of itself, so their memory is measured apart from the worker's.
const (
	roleTemporal = "temporal"
	roleFake     = "fake"
	statsPath    = "/bench/stats"
)

// serveTemporal is the temporal role: it prints the frontend address and
// namespace, then serves until its parent closes stdin.
func serveTemporal(dir string) error {
	log := zerolog.New(os.Stderr).Level(zerolog.ErrorLevel)
	srv, err := devserver.Start(context.Background(), devserver.Options{DisableUI: true, DBFile: filepath.Join(dir, "temporal.db"), Logger: log})
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Printf("ready %s %s\n", srv.FrontendAddress(), srv.Namespace())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// fakeStats is what the fake role reports of what it holds.
type fakeStats struct {
	Users  int    `json:"users"`
	Digest uint64 `json:"digest"`
}

// serveFake is the fake role: a compact fake Nebuly, plus statsPath.
func serveFake(latency time.Duration) error {
	fake := nebulyfake.New(nebulyfake.Options{APIKey: key, Latency: latency, Compact: true})
	mux := http.NewServeMux()
	mux.HandleFunc(statsPath, func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(fakeStats{Users: fake.Count(), Digest: fake.Digest()})
	})
	mux.Handle("/", fake)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(ln, mux) }()
	fmt.Printf("ready http://%s\n", ln.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin)
	return nil
}

// child is a process the bench started and measures.
type child struct {
	cmd   *exec.Cmd
	stdin io.Closer
}

// start runs a process and, when ready is set, waits for its "ready ..."
// line and returns the rest of it.
func start(cmd *exec.Cmd, ready bool) (*child, []string, error) {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, nil, err
	}
	cmd.Stderr = os.Stderr
	var out io.ReadCloser
	if ready {
		if out, err = cmd.StdoutPipe(); err != nil {
			return nil, nil, err
		}
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", filepath.Base(cmd.Path), err)
	}
	c := &child{cmd: cmd, stdin: stdin}
	if !ready {
		return c, nil, nil
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		c.stop()
		return nil, nil, fmt.Errorf("%s %s did not start: %w", filepath.Base(cmd.Path), strings.Join(cmd.Args[1:], " "), err)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return c, strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "ready ")), nil
}

func (c *child) stop() {
	_ = c.stdin.Close()
	_ = c.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// cpu is the CPU time the process has used so far.
func (c *child) cpu() time.Duration { return cpuTime(c.cmd.Process.Pid) }

// cpuTime reads a process's user and system CPU time from /proc.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command's closing parenthesis: utime and stime are
	// the 12th and 13th, in clock ticks (USER_HZ, 100 on Linux).
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * (time.Second / 100)
}

// peakMB is the process's high-water resident set size (VmHWM), in MB.
func (c *child) peakMB() float64 { return peakRSS(c.cmd.Process.Pid) }

// peakRSS reads a process's high-water resident set size (VmHWM), in MB.
func peakRSS(pid int) float64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// startFake starts a fake Nebuly process and returns its base URL.
func startFake(self string, latency time.Duration) (*child, string, error) {
	c, f, err := start(exec.Command(self, "-role", roleFake, "-fake-latency", latency.String()), true)
	if err != nil {
		return nil, "", err
	}
	return c, f[0], nil
}

func getFakeStats(ctx context.Context, base string) (fakeStats, error) {
	var st fakeStats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+statsPath, nil)
	if err != nil {
		return st, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, fmt.Errorf("fake stats: %w", err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("fake stats: %w", err)
	}
	return st, nil
}

func goBuild(out, pkg string) error {
	build := exec.Command("go", "build", "-o", out, pkg)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build %s: %w", pkg, err)
	}
	return nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// fileServer serves one file with Range support and counts the bytes it
// sends.
type fileServer struct {
	path string
	sent atomic.Int64
}

func (f *fileServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	file, err := os.Open(f.path)
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	http.ServeContent(&countingWriter{ResponseWriter: w, n: &f.sent}, r, filepath.Base(f.path), st.ModTime(), file)
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// waitFor retries try, for a frontend that is still starting.
func waitFor(ctx context.Context, what string, try func() error) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := try()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("%s: %w", what, errors.Join(err, ctx.Err()))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
