package store_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"importer/internal/store"
)

// openerEnv makes the test binary an opener process for
// TestWorkersStartingTogetherOnAFreshSQLiteStoreAllOpenIt: it waits for a
// line on its stdin, then opens the store named in store.EnvVar.
const openerEnv = "IMPORTER_STORE_TEST_OPENER"

// opener is one such process.
func opener(url string) error {
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fmt.Errorf("wait for the start: %w", err)
	}
	s, err := store.Open(context.Background(), store.Options{URL: url})
	if err != nil {
		return err
	}
	return s.Close()
}

// Workers that start at the same moment on one fresh data directory each
// migrate the SQLite store they find: every one of them must start, in
// this process (goroutines) and in others, however they interleave, and the
// schema ends up migrated once.
func TestWorkersStartingTogetherOnAFreshSQLiteStoreAllOpenIt(t *testing.T) {
	if os.Getenv(openerEnv) != "" {
		return // the opener runs in TestMain
	}
	const rounds, procs, goroutines = 8, 3, 4
	ctx := context.Background()
	for round := range rounds {
		url := "sqlite:" + filepath.Join(t.TempDir(), "data", store.DefaultFile)
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, procs+goroutines)
		var gates []io.WriteCloser
		for p := range procs {
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), openerEnv+"=1", store.EnvVar+"="+url)
			in, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			out := &lockedBuffer{}
			cmd.Stdout, cmd.Stderr = out, out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			gates = append(gates, in)
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := cmd.Wait(); err != nil {
					errs[p] = fmt.Errorf("process %d: %v: %s", p, err, out.String())
				}
			}()
		}
		for g := range goroutines {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				s, err := store.Open(ctx, store.Options{URL: url})
				if err != nil {
					errs[procs+g] = fmt.Errorf("goroutine %d: %w", g, err)
					return
				}
				errs[procs+g] = s.Close()
			}()
		}
		for _, in := range gates {
			_, _ = io.WriteString(in, "go\n")
			_ = in.Close()
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
		s, err := store.Open(ctx, store.Options{URL: url})
		must(t, err)
		v, err := s.SchemaVersion(ctx)
		must(t, err)
		s.Close()
		// Each migration is recorded once, not once per worker.
		db, err := sql.Open("sqlite", strings.TrimPrefix(url, "sqlite:"))
		must(t, err)
		var applied int64
		err = db.QueryRowContext(ctx, `SELECT COUNT(*) FROM importer_schema_version WHERE version_id > 0`).Scan(&applied)
		db.Close()
		must(t, err)
		if v < 1 || applied != v {
			t.Fatalf("round %d: schema version %d with %d migrations recorded", round, v, applied)
		}
	}
}

// lockedBuffer collects a child's output from two streams.
type lockedBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strconv.Quote(string(l.b))
}
