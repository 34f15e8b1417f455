package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// StageLimits cap what decompressing one compressed source may write to
// the staging area. The bytes are counted as they flow, and a stage that
// passes a cap stops there and leaves no copy behind. A zero field is its
// default.
type StageLimits struct {
	// MaxBytes bounds the plain copy of one source
	// (IMPORTER_STAGING_MAX_BYTES; default 50 GiB). A compressed list of
	// users decompresses 5 to 10 times (README, "Sources"): 50 GiB holds
	// the copy of a 5 GB gzip of CSV, about a hundred million rows, and
	// a list larger than that can be imported uncompressed, which is
	// never staged. A stage that passes it fails for good, naming the
	// setting.
	MaxBytes int64
	// MaxRatio bounds how many times larger than the compressed bytes read
	// so far the plain copy may grow (IMPORTER_STAGING_MAX_RATIO; default
	// 1,000). Lists of users compress 5 to 20 times; only a stream of
	// repeated bytes, a decompression bomb, goes past 1,000: gzip reaches
	// about 1,030 at most, zstd tens of thousands. It is checked once the
	// copy is past 64 MiB (ratioCheckedFrom), so a small file of repeated
	// rows still stages. A stage that passes it fails for good, naming the
	// setting.
	MaxRatio int64
	// MinFree is the free space a local staging area keeps
	// (IMPORTER_STAGING_MIN_FREE_BYTES; default 1 GiB). A stage does not
	// start unless the area's file system has MinFree plus twice the
	// compressed size free (a plain copy is larger than its compressed
	// source), and stops, deleting its copy, when free space falls below
	// MinFree, checked every 64 MiB written (freeCheckEvery). Both are
	// errors that a later attempt may not meet, so they are retried. An
	// object-storage staging area has no such check, and neither does a
	// system whose free space this worker cannot read (only Linux, macOS
	// and FreeBSD are).
	MinFree int64

	// freeSpace tells the bytes free for this process on the file system
	// of dir (-1: it cannot tell, and the check is skipped); nil is
	// diskFree. Tests set it, so they need not fill a disk.
	freeSpace func(dir string) (int64, error)
	// freeEvery is how many bytes are written between two free-space
	// checks; 0 is freeCheckEvery. Tests set it lower.
	freeEvery int64
}

// The defaults of StageLimits, and the fixed points of its checks.
const (
	DefaultStagingMaxBytes = 50 << 30
	DefaultStagingMaxRatio = 1_000
	DefaultStagingMinFree  = 1 << 30

	// ratioCheckedFrom is the plain size from which MaxRatio is checked.
	ratioCheckedFrom = 64 << 20
	// freeCheckEvery is how many bytes are written between two checks of
	// a local staging area's free space (a statfs call each).
	freeCheckEvery = 64 << 20
	// freeFactor is how many times its compressed size a stage needs free,
	// on top of MinFree, before it starts.
	freeFactor = 2
)

// StagingSweepAge is how old a temporary file in a local staging area must
// be before SweepStaging deletes it. A stage writes its temporary file all
// the time it runs (its modification time is seconds old), so one untouched
// for an hour was cut off by a worker that died.
const StagingSweepAge = time.Hour

// WithDefaults fills the zero fields with their defaults.
func (l StageLimits) WithDefaults() StageLimits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultStagingMaxBytes
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultStagingMaxRatio
	}
	if l.MinFree <= 0 {
		l.MinFree = DefaultStagingMinFree
	}
	if l.freeSpace == nil {
		l.freeSpace = diskFree
	}
	if l.freeEvery <= 0 {
		l.freeEvery = freeCheckEvery
	}
	return l
}

// StagingLimitsFromEnv reads the staging caps an operator set
// (IMPORTER_STAGING_MAX_BYTES, IMPORTER_STAGING_MAX_RATIO,
// IMPORTER_STAGING_MIN_FREE_BYTES) and fills the rest with defaults. Sizes
// are a number of bytes or a number with KiB, MiB, GiB or TiB (50GiB); a
// value that is not positive is an error that names its variable.
func StagingLimitsFromEnv(getenv func(string) string) (StageLimits, error) {
	var l StageLimits
	for _, v := range []struct {
		name string
		to   *int64
	}{
		{"IMPORTER_STAGING_MAX_BYTES", &l.MaxBytes},
		{"IMPORTER_STAGING_MIN_FREE_BYTES", &l.MinFree},
	} {
		if s := strings.TrimSpace(getenv(v.name)); s != "" {
			n, ok := parseSize(s)
			if !ok {
				return StageLimits{}, fmt.Errorf("%s=%q: want a positive size such as 50GiB, 512MiB or a number of bytes", v.name, s)
			}
			*v.to = n
		}
	}
	if s := strings.TrimSpace(getenv("IMPORTER_STAGING_MAX_RATIO")); s != "" {
		n, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
		if err != nil || n <= 0 {
			return StageLimits{}, fmt.Errorf("IMPORTER_STAGING_MAX_RATIO=%q: want a positive whole number such as 1000", s)
		}
		l.MaxRatio = n
	}
	return l.WithDefaults(), nil
}

// parseSize reads a positive size: a whole number of bytes, or a number
// with B, KiB, MiB, GiB or TiB after it ("1.5GiB", "512 MiB").
func parseSize(s string) (int64, bool) {
	s = strings.ReplaceAll(s, "_", "")
	num := strings.TrimRight(s, "BbIiKkMmGgTt ")
	unit := strings.ToLower(strings.TrimSpace(s[len(num):]))
	shift, ok := map[string]uint{"": 0, "b": 0, "kib": 10, "mib": 20, "gib": 30, "tib": 40}[unit]
	if !ok {
		return 0, false
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil {
		if n <= 0 || n > math.MaxInt64>>shift {
			return 0, false
		}
		return n << shift, true
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || shift == 0 || f <= 0 || f*float64(int64(1)<<shift) >= math.MaxInt64 {
		return 0, false
	}
	return int64(f * float64(int64(1)<<shift)), true
}

// sizeString writes n bytes for a person: 900 B, 62.4 KiB, 32 MiB.
func sizeString(n int64) string {
	if n < 1<<10 {
		return fmt.Sprintf("%d B", n)
	}
	v, unit := float64(n), 0
	for v >= 1<<10 && unit < 4 {
		v /= 1 << 10
		unit++
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + " " + []string{"", "KiB", "MiB", "GiB", "TiB"}[unit]
}

// checkFreeBefore refuses to start staging packed compressed bytes of
// what into the local directory dir when its file system has less than
// MinFree plus freeFactor times packed free.
func (l StageLimits) checkFreeBefore(dir, what string, packed int64) error {
	free, err := l.freeSpace(dir)
	if err != nil {
		return fmt.Errorf("read the free space of the staging area %s: %w", dir, err)
	}
	need := l.MinFree + freeFactor*max(packed, 0)
	if free >= 0 && free < need {
		return fmt.Errorf("the staging area %s has %s free, and decompressing %s needs %s: twice its compressed %s, plus the %s the area keeps free (IMPORTER_STAGING_MIN_FREE_BYTES)",
			dir, sizeString(free), what, sizeString(need), sizeString(max(packed, 0)), sizeString(l.MinFree))
	}
	return nil
}

// guard hands over the plain bytes of a stream being staged, and stops
// the stream at the first cap it passes, with the sentence that says
// which: the copy's size, its expansion, a local staging area's free
// space. It also stops when ctx ends, and tells a stream that cannot be
// decompressed (errCorrupt). Its error is kept: every later Read returns
// it, and the writer of the copy tells its own errors from it.
type guard struct {
	ctx    context.Context
	plain  io.Reader
	packed *countingReader // the compressed bytes read so far
	lim    StageLimits     // with defaults
	what   string          // the source, redacted, for the sentences
	dir    string          // a local staging area; "" for object storage
	n      int64           // plain bytes handed over
	free   int64           // n at the next free-space check
	err    error
}

func (g *guard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	if err := g.ctx.Err(); err != nil {
		return 0, g.fail(err)
	}
	// Read at most one byte past MaxBytes: enough to tell a copy of
	// exactly MaxBytes from a larger one.
	if room := g.lim.MaxBytes - g.n + 1; int64(len(p)) > room {
		p = p[:room]
	}
	n, err := g.plain.Read(p)
	g.n += int64(n)
	switch {
	case g.n > g.lim.MaxBytes:
		return 0, g.fail(permErr(nil, "%s decompresses to more than %s, the most a staged copy may hold (IMPORTER_STAGING_MAX_BYTES)",
			g.what, sizeString(g.lim.MaxBytes)))
	case g.n > ratioCheckedFrom && float64(g.n) > float64(g.lim.MaxRatio)*float64(max(g.packed.n, 1)):
		return 0, g.fail(permErr(nil, "%s decompresses to more than %d times its size (%s from %s so far), the most a staged copy may expand (IMPORTER_STAGING_MAX_RATIO)",
			g.what, g.lim.MaxRatio, sizeString(g.n), sizeString(g.packed.n)))
	}
	if g.dir != "" && g.n >= g.free {
		g.free = g.n + g.lim.freeEvery
		free, ferr := g.lim.freeSpace(g.dir)
		if ferr != nil {
			return 0, g.fail(fmt.Errorf("read the free space of the staging area %s: %w", g.dir, ferr))
		}
		if free >= 0 && free < g.lim.MinFree {
			return 0, g.fail(fmt.Errorf("the staging area %s fell to %s free while decompressing %s, below the %s it keeps free (IMPORTER_STAGING_MIN_FREE_BYTES)",
				g.dir, sizeString(free), g.what, sizeString(g.lim.MinFree)))
		}
	}
	if err != nil && err != io.EOF {
		if ctxErr := g.ctx.Err(); ctxErr != nil {
			return n, g.fail(ctxErr)
		}
		return n, g.fail(fmt.Errorf("%w (%v)", errCorrupt, err))
	}
	return n, err
}

func (g *guard) fail(err error) error {
	g.err = err
	return err
}

// SweepStaging deletes, from a local staging area, the temporary files
// (.tmp-*) of stages cut off by a worker that died, once their last write
// is older than olderThan (StagingSweepAge). A running stage writes its
// temporary file all the time, so it is never swept; staged copies (the
// plain copies of running imports) are never touched, nor anything that
// is not a regular file. An area that does not exist yet holds nothing.
// An object-storage area is not swept: a stage cut off there leaves an
// incomplete multipart upload, which the bucket's lifecycle rule deletes
// (README, "Sources"). The worker calls it when it starts.
func SweepStaging(ctx context.Context, area string, olderThan time.Duration) (removed int, err error) {
	if area == "" || isBlob(area) {
		return 0, nil
	}
	dir := localPath(area)
	root, err := os.OpenRoot(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sweep the staging area %s: %w", dir, err)
	}
	defer root.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("sweep the staging area %s: %w", dir, err)
	}
	cutoff := time.Now().Add(-olderThan)
	for _, e := range entries {
		if ctx.Err() != nil {
			return removed, ctx.Err()
		}
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			continue
		}
		fi, err := root.Lstat(e.Name())
		if err != nil || !fi.Mode().IsRegular() || !fi.ModTime().Before(cutoff) {
			continue // gone already, not a file, or still being written
		}
		if err := root.Remove(e.Name()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("sweep the staging area %s: %w", dir, err)
		}
		removed++
	}
	return removed, nil
}
