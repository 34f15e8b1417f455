// Package state keeps what an incremental import needs between runs: for
// every user the last successful run delivered (or found unchanged), a hash
// of the user's key and a hash of the content sent. A run sends only users
// whose content hash changed or who are new, and writes its own records
// batch by batch; only when the whole run has succeeded do those records
// become the state the next run compares with. A failed run leaves the old
// state, so everything it did not finish is sent again next time. Users the
// vendor refused are not in the new state, so they are retried too.
//
// The state is kept outside workflow history, in a directory that all
// workers of a deployment share (like the rejects). It holds user keys, so
// it is written with owner-only permissions.
//
// It imports nothing from Temporal.
package state

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"importer/internal/atomicfile"
	"importer/internal/fsname"
)

// KeyHash hashes a user key. FNV-1a is stable across processes and
// versions, which the state needs; it is not a defence against crafted
// collisions, which a user list is not.
func KeyHash(key string) uint64 {
	h := fnv.New64a()
	_, _ = io.WriteString(h, key)
	return h.Sum64()
}

// ContentHash hashes a vendor payload as JSON. encoding/json writes struct
// fields in declaration order and map keys sorted, so equal payloads hash
// equally.
func ContentHash(v any) (uint64, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return 0, fmt.Errorf("hash payload: %w", err)
	}
	h := fnv.New64a()
	_, _ = h.Write(b)
	return h.Sum64(), nil
}

// Record is one user as a run saw it.
type Record struct {
	KeyHash     uint64
	ContentHash uint64
	Key         string
	// Kept: the user goes into the new state (delivered, or unchanged and
	// skipped). A user in the list that was not delivered (invalid now, or
	// refused by the vendor) is recorded as seen but not kept, so it is
	// neither skipped next time nor reported as gone.
	Kept bool
}

// Store is a directory of states, one per state key (a schedule, say).
type Store struct {
	Dir string
}

func (s Store) dir(stateKey string) string { return filepath.Join(s.Dir, fsname.Safe(stateKey)) }

// CurrentPath is the committed state of a key.
func (s Store) CurrentPath(stateKey string) string {
	return filepath.Join(s.dir(stateKey), "current.state")
}

func (s Store) runDir(stateKey, runKey string) string {
	return filepath.Join(s.dir(stateKey), "runs", fsname.Safe(runKey))
}

func (s Store) nextPath(stateKey, runKey string) string {
	return filepath.Join(s.runDir(stateKey, runKey), "next.state")
}

// DisappearedPath lists, one key a line, the users of the committed state
// that a run's list no longer has.
func (s Store) DisappearedPath(stateKey, runKey string) string {
	return filepath.Join(s.runDir(stateKey, runKey), "disappeared.txt")
}

const magic = "IMPSTATE1\n"

// WritePart writes (or rewrites) the records of one batch of a run. An
// attempt that runs twice replaces its own part.
func (s Store) WritePart(stateKey, runKey, part string, recs []Record) error {
	dir := filepath.Join(s.runDir(stateKey, runKey), "parts")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	return writeFile(filepath.Join(dir, part), recs)
}

// Index is a committed state in memory: key hashes and content hashes,
// sorted by key hash, 16 bytes a user.
type Index struct {
	keys     []uint64
	contents []uint64
}

// Len is the number of users.
func (x *Index) Len() int {
	if x == nil {
		return 0
	}
	return len(x.keys)
}

// Lookup returns the content hash last delivered for a key hash.
func (x *Index) Lookup(keyHash uint64) (uint64, bool) {
	if x == nil {
		return 0, false
	}
	i := sort.Search(len(x.keys), func(i int) bool { return x.keys[i] >= keyHash })
	if i < len(x.keys) && x.keys[i] == keyHash {
		return x.contents[i], true
	}
	return 0, false
}

// Version identifies a committed state file, for caching an Index.
type Version struct {
	Size    int64
	ModTime int64
}

// StatCurrent returns the version of a key's committed state; a key with
// no state yet has the zero Version and no error.
func (s Store) StatCurrent(stateKey string) (Version, error) {
	fi, err := os.Stat(s.CurrentPath(stateKey))
	if errors.Is(err, os.ErrNotExist) {
		return Version{}, nil
	}
	if err != nil {
		return Version{}, fmt.Errorf("read state: %w", err)
	}
	return Version{Size: fi.Size(), ModTime: fi.ModTime().UnixNano()}, nil
}

// LoadIndex reads a key's committed state; no state yet is an empty index.
func (s Store) LoadIndex(stateKey string) (*Index, error) {
	x := &Index{}
	err := readFile(s.CurrentPath(stateKey), func(r Record) error {
		x.keys = append(x.keys, r.KeyHash)
		x.contents = append(x.contents, r.ContentHash)
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return x, nil
	}
	return x, err
}

// Prepared is what a run's commit would do.
type Prepared struct {
	Users       int // users in the new state
	Disappeared int // users of the old state the list no longer has
}

// Prepare joins a run's parts into its next state and lists the users that
// disappeared, without touching the committed state. A user recorded in
// two parts (the same id in two chunks) is kept once, as the later part
// has it. It is safe to run again.
func (s Store) Prepare(stateKey, runKey string) (Prepared, error) {
	kept := map[uint64]Record{}
	seen := map[uint64]bool{}
	partsDir := filepath.Join(s.runDir(stateKey, runKey), "parts")
	entries, err := os.ReadDir(partsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return Prepared{}, fmt.Errorf("read state parts: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	for _, n := range names {
		err := readFile(filepath.Join(partsDir, n), func(r Record) error {
			seen[r.KeyHash] = true
			if r.Kept {
				kept[r.KeyHash] = r
			} else {
				delete(kept, r.KeyHash)
			}
			return nil
		})
		if err != nil {
			return Prepared{}, err
		}
	}
	recs := make([]Record, 0, len(kept))
	for _, r := range kept {
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].KeyHash < recs[j].KeyHash })
	if err := os.MkdirAll(s.runDir(stateKey, runKey), 0o700); err != nil {
		return Prepared{}, fmt.Errorf("create state directory: %w", err)
	}
	if err := writeFile(s.nextPath(stateKey, runKey), recs); err != nil {
		return Prepared{}, err
	}
	out := Prepared{Users: len(recs)}
	err = atomicfile.Write(s.DisappearedPath(stateKey, runKey), func(w *bufio.Writer) error {
		err := readFile(s.CurrentPath(stateKey), func(r Record) error {
			if seen[r.KeyHash] {
				return nil
			}
			out.Disappeared++
			_, err := w.WriteString(strings.ReplaceAll(r.Key, "\n", " ") + "\n")
			return err
		})
		if errors.Is(err, os.ErrNotExist) {
			return nil // a first run: nobody can have left
		}
		return err
	})
	if err != nil {
		return Prepared{}, fmt.Errorf("list disappeared users: %w", err)
	}
	return out, nil
}

// Disappeared reads the users a prepared run found gone.
func (s Store) Disappeared(stateKey, runKey string, fn func(key string) error) error {
	f, err := os.Open(s.DisappearedPath(stateKey, runKey))
	if err != nil {
		return fmt.Errorf("read disappeared users: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if err := fn(sc.Text()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read disappeared users: %w", err)
	}
	return nil
}

// Commit makes a prepared run's state the current one and removes the
// run's files. Committing a run that was already committed is a no-op.
func (s Store) Commit(stateKey, runKey string) error {
	next := s.nextPath(stateKey, runKey)
	if _, err := os.Stat(next); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(s.runDir(stateKey, runKey)); errors.Is(err, os.ErrNotExist) {
			return nil // committed before, and cleaned up
		}
		return fmt.Errorf("commit state: run %s was not prepared", runKey)
	}
	if err := os.Rename(next, s.CurrentPath(stateKey)); err != nil {
		return fmt.Errorf("commit state: %w", err)
	}
	return s.Discard(stateKey, runKey)
}

// Discard removes a run's files, leaving the committed state as it was:
// what a failed run does, so the next run compares with the last success.
func (s Store) Discard(stateKey, runKey string) error {
	if err := os.RemoveAll(s.runDir(stateKey, runKey)); err != nil {
		return fmt.Errorf("discard run state: %w", err)
	}
	return nil
}

// writeFile writes records atomically: a reader sees the old file or the
// new one, never half of one.
func writeFile(path string, recs []Record) error {
	err := atomicfile.Write(path, func(w *bufio.Writer) error {
		_, _ = w.WriteString(magic)
		var buf [binary.MaxVarintLen64 + 17]byte
		for _, r := range recs {
			binary.LittleEndian.PutUint64(buf[0:8], r.KeyHash)
			binary.LittleEndian.PutUint64(buf[8:16], r.ContentHash)
			buf[16] = 0
			if r.Kept {
				buf[16] = 1
			}
			n := binary.PutUvarint(buf[17:], uint64(len(r.Key)))
			if _, err := w.Write(buf[:17+n]); err != nil {
				return err
			}
			if _, err := w.WriteString(r.Key); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("write state: %w", err)
	}
	return nil
}

// readFile calls fn for each record of a state file.
func readFile(path string, fn func(Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<16)
	head := make([]byte, len(magic))
	if _, err := io.ReadFull(r, head); err != nil || string(head) != magic {
		return fmt.Errorf("state file %s is not a state file", path)
	}
	var fixed [17]byte
	for {
		if _, err := io.ReadFull(r, fixed[:]); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("state file %s is truncated: %w", path, err)
		}
		n, err := binary.ReadUvarint(r)
		if err != nil || n > 1<<20 {
			return fmt.Errorf("state file %s is corrupt", path)
		}
		key := make([]byte, n)
		if _, err := io.ReadFull(r, key); err != nil {
			return fmt.Errorf("state file %s is truncated: %w", path, err)
		}
		rec := Record{
			KeyHash:     binary.LittleEndian.Uint64(fixed[0:8]),
			ContentHash: binary.LittleEndian.Uint64(fixed[8:16]),
			Kept:        fixed[16] == 1,
			Key:         string(key),
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
