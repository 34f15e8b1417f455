package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// pool runs worker processes in a fixed number of slots. A slot keeps its
// artifact server's port across replacements, so a file URL a killed
// worker handed out is served again by its replacement as well as by the
// other slot (through the proxy in front of both).
type pool struct {
	bin   string
	args  []string
	env   []string
	ports []int // artifact server port per slot
	logs  string

	mu      sync.Mutex
	slots   []*proc
	killed  int
	started int
	// exited lists processes that ended without being told to.
	exited []string
}

// proc is one worker process.
type proc struct {
	slot    int
	cmd     *exec.Cmd
	log     string
	done    chan struct{}
	stopped atomic.Bool // killed or stopped by the pool
}

func newPool(bin string, args, env []string, ports []int, logs string) *pool {
	return &pool{bin: bin, args: args, env: env, ports: ports, logs: logs, slots: make([]*proc, len(ports))}
}

// start starts a worker process in slot.
func (p *pool) start(slot int) error {
	p.mu.Lock()
	p.started++
	n := p.started
	p.mu.Unlock()
	logPath := filepath.Join(p.logs, fmt.Sprintf("worker-%d-%03d.log", slot, n))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = append(append([]string{}, p.env...), "IMPORTER_ARTIFACTS_LISTEN=127.0.0.1:"+strconv.Itoa(p.ports[slot]))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start worker: %w", err)
	}
	w := &proc{slot: slot, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() {
		err := cmd.Wait()
		_ = logFile.Close()
		if !w.stopped.Load() {
			p.mu.Lock()
			p.exited = append(p.exited, fmt.Sprintf("worker pid %d exited by itself (%v); its log: %s", cmd.Process.Pid, err, logPath))
			p.mu.Unlock()
		}
		close(w.done)
	}()
	p.mu.Lock()
	p.slots[slot] = w
	p.mu.Unlock()
	return nil
}

// kill SIGKILLs the worker in slot, as a crash or an OOM kill would, and
// waits for it to be gone.
func (p *pool) kill(slot int) {
	p.mu.Lock()
	w := p.slots[slot]
	p.mu.Unlock()
	if w == nil {
		return
	}
	w.stopped.Store(true)
	_ = w.cmd.Process.Kill()
	<-w.done
	p.mu.Lock()
	p.killed++
	p.mu.Unlock()
}

// replace kills the worker in slot and starts another in its place.
func (p *pool) replace(slot int) error {
	p.kill(slot)
	return p.start(slot)
}

func (p *pool) killedCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed
}

// takeExited returns and forgets the processes that ended by themselves.
func (p *pool) takeExited() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.exited
	p.exited = nil
	return out
}

// stop ends every worker: SIGTERM, then SIGKILL after grace.
func (p *pool) stop(grace time.Duration) {
	p.mu.Lock()
	slots := append([]*proc{}, p.slots...)
	p.mu.Unlock()
	for _, w := range slots {
		if w == nil {
			continue
		}
		w.stopped.Store(true)
		_ = w.cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, w := range slots {
		if w == nil {
			continue
		}
		select {
		case <-w.done:
		case <-time.After(grace):
			_ = w.cmd.Process.Kill()
			<-w.done
		}
	}
}

// pids returns the process ids now in the slots.
func (p *pool) pids() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for _, w := range p.slots {
		if w != nil {
			out = append(out, w.cmd.Process.Pid)
		}
	}
	return out
}

// logTails returns the last lines of the current workers' logs.
func (p *pool) logTails(n int) string {
	p.mu.Lock()
	slots := append([]*proc{}, p.slots...)
	p.mu.Unlock()
	var b strings.Builder
	for _, w := range slots {
		if w == nil {
			continue
		}
		lines := tail(w.log, n)
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(&b, "--- %s (last %d lines)\n%s\n", w.log, len(lines), strings.Join(lines, "\n"))
	}
	return b.String()
}

func tail(path string, n int) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return lines
}

// waitPollers waits until every worker process now in the pool polls the
// activity task queue (the SDK's default identity starts with the pid).
func (p *pool) waitPollers(ctx context.Context, c client.Client, queue string) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		resp, err := c.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_ACTIVITY)
		want := p.pids()
		polling := 0
		if err == nil {
			for _, pid := range want {
				for _, pl := range resp.GetPollers() {
					if strings.HasPrefix(pl.GetIdentity(), strconv.Itoa(pid)+"@") {
						polling++
						break
					}
				}
			}
		}
		if polling == len(want) {
			return nil
		}
		if exited := p.takeExited(); len(exited) > 0 {
			return errors.New(strings.Join(exited, "; "))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d workers poll %s after two minutes (last error: %v)", polling, len(want), queue, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// artifactProxy is what a load balancer in front of the workers would be:
// vendors fetch artifact URLs from it, and it serves each from whichever
// worker answers. Responses are read whole before they are passed on, so a
// worker killed in the middle of a transfer costs a retry on the other
// worker, not a broken file at the vendor.
type artifactProxy struct {
	backends []string
	next     atomic.Uint32
	client   *http.Client
}

func newArtifactProxy(ports []int) *artifactProxy {
	p := &artifactProxy{client: &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	for _, port := range ports {
		p.backends = append(p.backends, "http://127.0.0.1:"+strconv.Itoa(port))
	}
	return p
}

func (p *artifactProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	first := int(p.next.Add(1))
	var lastErr error
	for i := range p.backends {
		base := p.backends[(first+i)%len(p.backends)]
		status, header, body, err := p.fetch(r, base)
		if err != nil {
			lastErr = err
			continue
		}
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
		return
	}
	http.Error(w, fmt.Sprintf("no worker serves artifacts: %v", lastErr), http.StatusBadGateway)
}

func (p *artifactProxy) fetch(r *http.Request, base string) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, base+r.URL.RequestURI(), nil)
	if err != nil {
		return 0, nil, nil, err
	}
	for _, h := range []string{"Range", "If-None-Match", "If-Modified-Since"} {
		if v := r.Header.Get(h); v != "" {
			req.Header.Set(h, v)
		}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, resp.Body); err != nil {
		return 0, nil, nil, err
	}
	header := resp.Header.Clone()
	if r.Method == http.MethodGet {
		header.Del("Content-Length") // set again from the body written
	}
	return resp.StatusCode, header, buf.Bytes(), nil
}
