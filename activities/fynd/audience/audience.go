package audience

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"importer/activities/failure"
	"importer/activities/fynd"
	"importer/activities/rejects"
	"importer/activities/source"
	"importer/internal/connections"
	"importer/internal/fsname"
	"importer/internal/steps"
)

// ArtifactStore keeps the files a vendor fetches by URL (Fynd takes user
// lists only as a CSV at a URL). Only keys enter workflow history: a URL,
// which grants read access to user data, is minted inside the activity
// that hands it to the vendor.
type ArtifactStore interface {
	Put(ctx context.Context, key string, r io.Reader) (int64, error)
	Open(ctx context.Context, key string) (io.ReadCloser, error)
	URL(ctx context.Context, key string, ttl time.Duration) (string, error)
	Delete(ctx context.Context, key string) error
}

// artifactTTL is how long a URL handed to Fynd stays valid: its jobs may
// queue for a while before they fetch the file.
const artifactTTL = 24 * time.Hour

// defaultMaxAttributeSets bounds the jobs one sync starts. Fynd's bulk
// update sets the same values on every user of a file, so each distinct
// combination of values is one file and one job.
const defaultMaxAttributeSets = 100

// The vendor-side rejects of a sync are written to parts with this prefix
// and merged, one line per member, when the sync finishes.
const vendorRejectPrefix = "v-"

// mergedVendorPart is the part FinishAudience merges the vendor parts into,
// one line per member Fynd refused.
const mergedVendorPart = "w-vendor"

// fyndConn returns a connection and its (cached) client. The client keeps
// its OAuth token between calls, so it is kept per connection settings.
func (a *Activities) fyndConn(name string) (connections.Connection, *fynd.Client, error) {
	conn, err := a.Connections.Get(AudienceVendor, name)
	if err != nil {
		return conn, nil, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadConnection, nil)
	}
	for _, s := range fynd.Credentials {
		if _, err := conn.Require(s); err != nil {
			return conn, nil, temporal.NewNonRetryableApplicationError(err.Error(), failure.MissingCredentials, nil)
		}
	}
	cfg := fynd.Config{
		BaseURL:       conn.GetOr("BASE_URL", fynd.DefaultBaseURL),
		ClientID:      conn.Get("CLIENT_ID"),
		ClientSecret:  conn.Get("CLIENT_SECRET"),
		CompanyID:     conn.Get("COMPANY_ID"),
		ApplicationID: conn.Get("APPLICATION_ID"),
		Paths:         fynd.DefaultPaths().WithOverrides(conn.Get),
	}
	key := fmt.Sprintf("%s/%s/%+v", conn.Vendor, conn.Name, cfg)
	a.fyndMu.Lock()
	defer a.fyndMu.Unlock()
	if c, ok := a.fyndClients[key]; ok {
		return conn, c, nil
	}
	c, err := fynd.New(cfg, a.HTTP)
	if err != nil {
		return conn, nil, temporal.NewNonRetryableApplicationError(err.Error(), failure.BadConnection, nil)
	}
	if a.fyndClients == nil {
		a.fyndClients = map[string]*fynd.Client{}
	}
	a.fyndClients[key] = c
	return conn, c, nil
}

func (a *Activities) fyndError(conn connections.Connection, err error, format string, args ...any) error {
	return failure.Classify(fmt.Errorf(format+": %w", append(args, err)...), fyndHint(conn))
}

func fyndHint(conn connections.Connection) string {
	if conn.Name != connections.Default {
		return fmt.Sprintf("check the credentials of fynd connection %q", conn.Name)
	}
	var names []string
	for _, s := range fynd.Credentials {
		names = append(names, connections.EnvName(AudienceVendor, s))
	}
	return "check " + strings.Join(names, ", ") + " on the worker"
}

func (a *Activities) artifacts() (ArtifactStore, error) {
	if a.Artifacts == nil {
		return nil, temporal.NewNonRetryableApplicationError("the worker has no artifact store for the files Fynd fetches (see IMPORTER_ARTIFACTS)", failure.Config, nil)
	}
	return a.Artifacts, nil
}

func artifactKey(spec AudienceSpec, name string) string {
	return "audiences/" + fsname.Safe(spec.SyncKey) + "/" + name
}

// ownSync refuses a sync key that is not the calling workflow's own
// (steps.CallerOwns): no input makes an activity write or delete another
// sync's rejects or files.
func ownSync(ctx context.Context, spec AudienceSpec) error {
	if steps.CallerOwns(ctx, spec.SyncKey) {
		return nil
	}
	return temporal.NewNonRetryableApplicationError("the activity was handed the sync key of another workflow", failure.BadInput, nil)
}

// poll is p with its first wait no shorter than the operator allows.
func (a *Activities) poll(p steps.Poll) steps.Poll {
	if minPoll := a.Limits.WithDefaults().MinPoll; p.Every < minPoll {
		p.Every = minPoll
	}
	if p.Max > 0 && p.Max < p.Every {
		p.Max = p.Every
	}
	return p
}

// attributeSet is one combination of attribute values, with the file of
// the users that get it. It lives in the manifest artifact, not in history.
type attributeSet struct {
	Index  int            `json:"index"`
	File   string         `json:"file"`
	Rows   int            `json:"rows"`
	Values map[string]any `json:"values"`
}

type audienceManifest struct {
	Sets []attributeSet `json:"sets"`
}

// The activity names of the Fynd audience sync. Each vendor step is its own
// activity so that what the vendor answered (a job id, a group id) is in the
// workflow's history before anything waits on it: a retried or resumed wait
// polls the same job or group and never submits again.
//
// PrepareAudienceName is what PrepareAudience is registered as and workflows call.
const PrepareAudienceName = "PrepareAudience"

// PrepareAudience reads the source, validates every row, and writes what
// Fynd will fetch: the members file (identifiers of every valid member,
// each once: a user id that appears again replaces the earlier row, which
// is rejected), one file per combination of attribute values, the manifest
// of those combinations, and a lines file that maps members back to their
// source lines. Invalid and duplicate rows go to the rejects.
func (a *Activities) PrepareAudience(ctx context.Context, in PrepareAudienceInput) (PreparedAudience, error) {
	if err := ownSync(ctx, in.Spec); err != nil {
		return PreparedAudience{}, err
	}
	store, err := a.artifacts()
	if err != nil {
		return PreparedAudience{}, err
	}
	maxSets := in.MaxAttributeSets
	if maxSets <= 0 {
		maxSets = defaultMaxAttributeSets
	}
	types := map[string]string{}
	for slug, def := range in.Mapping.Attributes {
		types[slug] = def.Type
	}
	// One planning pass finds the header and the extent of the data; the
	// reads below cover it as a single chunk.
	page, err := source.Plan(ctx, a.Opener, source.PlanRequest{URI: in.Source.URI, Format: in.Source.Format, ChunkRows: math.MaxInt32, MaxChunks: 1},
		func(offset int64) { activity.RecordHeartbeat(ctx, offset) })
	if err != nil {
		return PreparedAudience{}, failure.Classify(err, "") // the source's errors name it
	}
	if in.Source.Format == source.CSV {
		have := in.Mapping.Provides(page.Header)
		if !have[fynd.FieldUserID] && !have[fynd.FieldEmail] && !have[fynd.FieldPhone] {
			return PreparedAudience{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("the source has no user_id, email or phone_number column (it has %d columns, whose names stay out of the sync's history); add one or map one with --mapping", len(page.Header)),
				failure.MissingColumns, nil)
		}
	}
	out := PreparedAudience{
		MembersFile: artifactKey(in.Spec, "members.csv"),
		LinesFile:   artifactKey(in.Spec, "lines.csv"),
		PatchFile:   artifactKey(in.Spec, "patch.csv"),
		Manifest:    artifactKey(in.Spec, "manifest.json"),
		Bytes:       page.Version.Size - page.DataStart,
	}
	if len(page.Chunks) == 0 {
		if err := writeArtifacts(ctx, store, in.Spec, nil, &out); err != nil {
			return PreparedAudience{}, err
		}
		return out, a.Store.PutRejects(ctx, in.Spec.SyncKey, rejects.PartName(0, 0), nil)
	}
	chunk := page.Chunks[0]
	read := func(fn func(line int64, m fynd.Row, err error)) error {
		n := 0
		err := source.ReadChunk(ctx, a.Opener, in.Source.URI, in.Source.Format, page.Header, page.Version, chunk, func(rec source.Record) error {
			if n++; n%10000 == 0 {
				activity.RecordHeartbeat(ctx, n)
			}
			if rec.Err != nil {
				fn(rec.Line, fynd.Row{}, rec.Err)
				return nil
			}
			m, err := fynd.RowFromFields(in.Mapping.Apply(rec.Fields), types)
			fn(rec.Line, m, err)
			return nil
		})
		if err != nil {
			return failure.Classify(err, "") // the source's errors name it
		}
		return nil
	}

	// Pass 1: validate, and find the last line of every member.
	last := map[string]int64{}
	var rejected []rejects.Reject
	err = read(func(line int64, m fynd.Row, err error) {
		out.Counts.Rows++
		if err != nil {
			rejected = append(rejected, rejects.Reject{Line: line, UserID: m.Key(), Vendor: AudienceVendor, Reason: err.Error()})
			return
		}
		last[m.Key()] = line
	})
	if err != nil {
		return PreparedAudience{}, err
	}
	if out.Counts.Rows != int64(chunk.Rows) {
		return PreparedAudience{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s: read %d rows where planning found %d", source.Redact(in.Source.URI), out.Counts.Rows, chunk.Rows), failure.SourceChanged, nil)
	}

	// Pass 2: write each member's last row.
	files, err := newAudienceFiles(maxSets)
	if err != nil {
		return PreparedAudience{}, err
	}
	defer files.close()
	var werr error
	err = read(func(line int64, m fynd.Row, err error) {
		if err != nil || werr != nil {
			return
		}
		key := m.Key()
		if at := last[key]; at != line {
			rejected = append(rejected, rejects.Reject{Line: line, UserID: key, Vendor: AudienceVendor,
				Reason: fmt.Sprintf("duplicate user: line %d names the same user and replaces this row", at)})
			return
		}
		werr = files.add(line, m)
	})
	if err == nil {
		err = werr
	}
	if err != nil {
		return PreparedAudience{}, err
	}
	out.Members = files.members
	out.Counts.Rejected = int64(len(rejected))
	if err := writeArtifacts(ctx, store, in.Spec, files, &out); err != nil {
		return PreparedAudience{}, err
	}
	sort.Slice(rejected, func(i, j int) bool { return rejected[i].Line < rejected[j].Line })
	if err := a.Store.PutRejects(ctx, in.Spec.SyncKey, rejects.PartName(0, 0), rejects.Stored(rejected)); err != nil {
		return PreparedAudience{}, err
	}
	return out, nil
}

// audienceFiles are the local files a sync writes before publishing them.
type audienceFiles struct {
	maxSets int
	members int
	dir     string
	mem     *csvFile
	lines   *csvFile
	sets    map[string]*csvSet // by the values' text
	order   []*csvSet
}

type csvFile struct {
	f *os.File
	w *csv.Writer
}

type csvSet struct {
	csvFile
	values map[string]any
	rows   int
}

func newAudienceFiles(maxSets int) (*audienceFiles, error) {
	dir, err := os.MkdirTemp("", "importer-audience-")
	if err != nil {
		return nil, fmt.Errorf("create a scratch directory: %w", err)
	}
	af := &audienceFiles{maxSets: maxSets, dir: dir, sets: map[string]*csvSet{}}
	if af.mem, err = af.create("members.csv", fynd.IdentifierFields); err != nil {
		af.close()
		return nil, err
	}
	if af.lines, err = af.create("lines.csv", append([]string{"key", "line"}, fynd.IdentifierFields...)); err != nil {
		af.close()
		return nil, err
	}
	return af, nil
}

func (af *audienceFiles) create(name string, header []string) (*csvFile, error) {
	f, err := os.OpenFile(af.dir+"/"+name, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	c := &csvFile{f: f, w: csv.NewWriter(bufio.NewWriterSize(f, 1<<16))}
	if err := c.w.Write(header); err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	return c, nil
}

func (af *audienceFiles) add(line int64, m fynd.Row) error {
	af.members++
	if err := af.mem.w.Write(m.Identifiers()); err != nil {
		return fmt.Errorf("write members file: %w", err)
	}
	if err := af.lines.w.Write(append([]string{m.Key(), strconv.FormatInt(line, 10)}, m.Identifiers()...)); err != nil {
		return fmt.Errorf("write lines file: %w", err)
	}
	if len(m.Attributes) == 0 {
		return nil
	}
	slugs := make([]string, 0, len(m.Attributes))
	for s := range m.Attributes {
		slugs = append(slugs, s)
	}
	sort.Strings(slugs)
	var id strings.Builder
	for _, s := range slugs {
		id.WriteString(s + "=" + fynd.ValueText(m.Attributes[s]) + "\x00")
	}
	set, ok := af.sets[id.String()]
	if !ok {
		if len(af.order) == af.maxSets {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"the attribute values form more than %d distinct combinations; Fynd's bulk update gives every user of a file the same values, so each combination is one job. Map fewer or coarser attributes, or raise --max-attribute-sets",
				af.maxSets), failure.TooManyAttributeSets, nil)
		}
		f, err := af.create(fmt.Sprintf("set-%04d.csv", len(af.order)+1), fynd.IdentifierFields)
		if err != nil {
			return err
		}
		set = &csvSet{csvFile: *f, values: m.Attributes}
		af.sets[id.String()] = set
		af.order = append(af.order, set)
	}
	set.rows++
	if err := set.w.Write(m.Identifiers()); err != nil {
		return fmt.Errorf("write attribute file: %w", err)
	}
	return nil
}

func (af *audienceFiles) close() {
	for _, c := range append([]*csvFile{af.mem, af.lines}, af.setFiles()...) {
		if c != nil && c.f != nil {
			c.f.Close()
		}
	}
	os.RemoveAll(af.dir)
}

func (af *audienceFiles) setFiles() []*csvFile {
	var out []*csvFile
	for _, s := range af.order {
		out = append(out, &s.csvFile)
	}
	return out
}

// publish flushes a local file and puts it in the store.
func publish(ctx context.Context, store ArtifactStore, key string, c *csvFile) error {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	if _, err := c.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind %s: %w", key, err)
	}
	if _, err := store.Put(ctx, key, c.f); err != nil {
		return fmt.Errorf("publish %s: %w", key, err)
	}
	return nil
}

// writeArtifacts publishes the prepared files and the manifest.
func writeArtifacts(ctx context.Context, store ArtifactStore, spec AudienceSpec, af *audienceFiles, out *PreparedAudience) error {
	if af == nil {
		var err error
		if af, err = newAudienceFiles(1); err != nil {
			return err
		}
		defer af.close()
	}
	if err := publish(ctx, store, out.MembersFile, af.mem); err != nil {
		return failure.Classify(err, "")
	}
	if err := publish(ctx, store, out.LinesFile, af.lines); err != nil {
		return failure.Classify(err, "")
	}
	var man audienceManifest
	slugs := map[string]bool{}
	for i, s := range af.order {
		key := artifactKey(spec, fmt.Sprintf("set-%04d.csv", i+1))
		if err := publish(ctx, store, key, &s.csvFile); err != nil {
			return failure.Classify(err, "")
		}
		man.Sets = append(man.Sets, attributeSet{Index: i, File: key, Rows: s.rows, Values: s.values})
		out.Sets = append(out.Sets, AttributeSet{Index: i, File: key, Rows: s.rows})
		for slug := range s.values {
			slugs[slug] = true
		}
	}
	for slug := range slugs {
		out.Slugs = append(out.Slugs, slug)
	}
	sort.Strings(out.Slugs)
	b, err := json.Marshal(man)
	if err != nil {
		return fmt.Errorf("encode manifest: %w", err)
	}
	if _, err := store.Put(ctx, out.Manifest, strings.NewReader(string(b))); err != nil {
		return failure.Classify(fmt.Errorf("publish %s: %w", out.Manifest, err), "")
	}
	return nil
}
