package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// lockPoll is how often lockFile tries again for a lock another process
// holds. Migrating a fresh SQLite file takes tens of milliseconds.
const lockPoll = 20 * time.Millisecond

// errLocked is what tryLock returns while another holder has the lock.
var errLocked = errors.New("locked by another holder")

// lockFile takes an exclusive lock on the file at path (created 0600 if
// missing, and left in place: removing a lock file lets two holders lock
// two different files), waiting until it is free or ctx ends. The lock is
// the operating system's (flock, LockFileEx): it serialises processes and
// goroutines alike, and dies with the process that holds it.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the lock file: %w", err)
	}
	for {
		err := tryLock(f)
		if err == nil {
			return func() { _ = f.Close() }, nil // closing releases the lock
		}
		if !errors.Is(err, errLocked) {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("wait for the lock %s: %w", path, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}
