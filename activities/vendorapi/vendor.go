package vendorapi

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"importer/activities/state"
	"importer/internal/connections"
)

// Spec is what the importer must know of a vendor before it sends
// anything: its name, the fields a row must give, how a user's key is
// made, the connection settings its code reads, and its traits.
type Spec struct {
	Name string
	// Required lists the vendor fields every row must have, checked
	// against the source's columns before the import starts.
	Required []string
	// AnyOf lists fields of which a row needs at least one (Dynamic: an
	// id or an e-mail); empty for none.
	AnyOf []string
	// KeyFields are the fields a user's key is made of: the duplicate
	// scan reads only these columns and makes keys with KeyOf.
	KeyFields []string
	// Credentials name the settings that must be set, for a clear error
	// before the first call; Settings the optional ones the vendor's code
	// reads. Together they are the vendor's connection schema, which
	// config files are checked against.
	Credentials []string
	Settings    []string
	// Endpoints are those Settings that say where calls, with the
	// credentials, go: the base URL and any path that may be a full URL.
	// The worker refuses one that is not https:// (except to a loopback
	// host) when it loads its connections.
	Endpoints []string
	Traits    Traits
}

// Traits are what the workflows must know to orchestrate a vendor. They
// are fixed at build time, so workflow code may read them.
type Traits struct {
	// Gated: bulk calls to one account must never overlap, so imports hold
	// the account's gate around them.
	Gated bool `json:"gated,omitempty"`
	// SingleBypass: a request of one user is not a bulk and skips the gate.
	SingleBypass bool `json:"single_bypass,omitempty"`
	// Jobs: a bulk call starts a background job that must be waited for
	// (SubmitJob, then WaitJob); otherwise a batch call answers at once.
	Jobs bool `json:"jobs,omitempty"`
	// MaxChunkRows caps rows per chunk (a job's row limit); 0 for none.
	MaxChunkRows int `json:"max_chunk_rows,omitempty"`
	// Paced: every request first reserves a send time at the vendor's
	// pacer, which keeps one request rate across every worker (Dynamic).
	Paced bool `json:"paced,omitempty"`
	// Deactivates: the vendor can end a user's access, so an incremental
	// import may deactivate the users that left the list (Nebuly).
	Deactivates bool `json:"deactivates,omitempty"`
	// Audiences: the vendor takes no imports; its lists sync into
	// audiences through their own workflow (Fynd).
	Audiences bool `json:"audiences,omitempty"`
}

// Target is where a vendor call goes: the connection's settings and the
// worker's HTTP client, whose timeout bounds the call.
type Target struct {
	Conn connections.Connection
	HTTP *http.Client
}

// Outcome is what a vendor made of one batch of users.
type Outcome struct {
	Inserted int
	Updated  int
	Failed   map[string]string // user key → the vendor's reason
}

// JobStatus is what a vendor says of a background job.
type JobStatus struct {
	Status   string
	Terminal bool
	Failed   bool
	Reason   string
	Done     int
	Total    int
}

// Pacing is how a paced vendor's connection spaces its requests: the
// pacer that connections sharing one limit share, and the least time
// between two requests.
type Pacing struct {
	Group    string
	Interval time.Duration
}

// pacerMargin is the share of a vendor's limit the pacer spends: the time
// between a reservation and the request's arrival varies by a few tens of
// milliseconds, and evenly spaced reservations at 100% would let two
// arrivals bunch into one window now and then.
const pacerMargin = 0.97

// IntervalFor spaces requests for a limit of n per window.
func IntervalFor(n int, window time.Duration) time.Duration {
	return time.Duration(float64(window) / float64(n) / pacerMargin)
}

// Users is what a vendor package implements for its own payload type U:
// its spec, and how a mapped row becomes a U and the user's key.
type Users[U any] interface {
	Spec() Spec
	// Build turns a mapped row into the vendor payload and its user key.
	// The key comes back even for an invalid row, from the key fields
	// alone, as KeyOf makes it.
	Build(fields map[string]any) (user U, key string, err error)
	// KeyOf makes the key from the text of the KeyFields, in their order.
	KeyOf(values []string) string
}

// BatchSender is a vendor whose bulk call answers at once (Nebuly, BitLabs,
// Dynamic). known names the users an incremental state says the vendor
// already has, for a vendor that sends those differently (Nebuly PUTs
// them); nil without state.
type BatchSender[U any] interface {
	Users[U]
	Send(ctx context.Context, to Target, users []U, known map[string]bool) (Outcome, error)
}

// JobSender is a vendor whose bulk call starts a background job
// (Userpilot); the job's ID goes into history before anyone waits for it.
type JobSender[U any] interface {
	Users[U]
	Submit(ctx context.Context, to Target, users []U) (jobID string, err error)
	Job(ctx context.Context, to Target, jobID string) (JobStatus, error)
}

// Paced is a vendor whose request rate must hold across every worker
// (Traits.Paced): each connection says how its requests are spaced.
type Paced interface {
	Pacing(conn connections.Connection) (Pacing, error)
}

// Deactivator is a vendor that can end the access of users that left a
// list (Traits.Deactivates). progress is called after each batch with the
// number deactivated so far.
type Deactivator interface {
	Deactivate(ctx context.Context, to Target, keys map[string]bool, progress func(done int)) (Deactivated, error)
}

// Deactivated is what deactivating users did.
type Deactivated struct {
	Deactivated int
	// Absent counts users that were gone from the vendor already.
	Absent int
}

// Vendor is one vendor as the import flow sees it: its payload type is
// hidden inside the Rows it makes, so nothing between the source and the
// vendor's client handles an untyped payload. Make one with Batches or
// Jobs.
type Vendor interface {
	Spec() Spec
	KeyOf(values []string) string
	// NewRows starts an empty set of this vendor's payloads.
	NewRows(capacity int) Rows
	// Job reads a background job's status (Traits.Jobs).
	Job(ctx context.Context, to Target, jobID string) (JobStatus, error)
	// Pacing reads a connection's request spacing (Traits.Paced).
	Pacing(conn connections.Connection) (Pacing, error)
	// Deactivate ends the access of users (Traits.Deactivates).
	Deactivate(ctx context.Context, to Target, keys map[string]bool, progress func(done int)) (Deactivated, error)
}

// Rows holds the payloads of a chunk's valid rows in the vendor's own type,
// each at the slot Add gave it.
type Rows interface {
	// Add builds one mapped row. It returns the user's key (even for an
	// invalid row), the slot of its payload, and why the row is invalid
	// (slot is then -1).
	Add(fields map[string]any) (key string, slot int, err error)
	// ContentHash hashes one payload (state.ContentHash): an incremental
	// import compares it with the last run's.
	ContentHash(slot int) (uint64, error)
	// Send delivers the payloads at slots in one batch call (batch
	// vendors).
	Send(ctx context.Context, to Target, slots []int, known map[string]bool) (Outcome, error)
	// Submit delivers them as one background job (Traits.Jobs).
	Submit(ctx context.Context, to Target, slots []int) (jobID string, err error)
}

// Batches makes the Vendor of a vendor whose bulk call answers at once.
func Batches[U any](v BatchSender[U]) Vendor {
	return adapt(&vendor[U]{users: v, send: v.Send})
}

// Jobs makes the Vendor of a vendor whose bulk call starts a job.
func Jobs[U any](v JobSender[U]) Vendor {
	return adapt(&vendor[U]{users: v, submit: v.Submit, job: v.Job})
}

// adapt picks up what else the vendor can do, once, when the registry is
// built: nothing on the send path asks a vendor what it is.
func adapt[U any](v *vendor[U]) *vendor[U] {
	if p, ok := v.users.(Paced); ok {
		v.pacing = p.Pacing
	}
	if d, ok := v.users.(Deactivator); ok {
		v.deactivate = d.Deactivate
	}
	return v
}

// vendor adapts one vendor's typed code to Vendor. What it cannot do (a
// batch call of a job vendor, pacing of an unpaced one) is an error that
// names the vendor, never a panic.
type vendor[U any] struct {
	users  Users[U]
	send   func(context.Context, Target, []U, map[string]bool) (Outcome, error)
	submit func(context.Context, Target, []U) (string, error)
	job    func(context.Context, Target, string) (JobStatus, error)
	// pacing and deactivate are nil for a vendor that cannot.
	pacing     func(connections.Connection) (Pacing, error)
	deactivate func(context.Context, Target, map[string]bool, func(int)) (Deactivated, error)
}

func (v *vendor[U]) Spec() Spec                   { return v.users.Spec() }
func (v *vendor[U]) KeyOf(values []string) string { return v.users.KeyOf(values) }

func (v *vendor[U]) NewRows(capacity int) Rows {
	return &rows[U]{v: v, items: make([]U, 0, capacity)}
}

func (v *vendor[U]) Job(ctx context.Context, to Target, jobID string) (JobStatus, error) {
	if v.job == nil {
		return JobStatus{}, v.cannot("run background jobs")
	}
	return v.job(ctx, to, jobID)
}

func (v *vendor[U]) Pacing(conn connections.Connection) (Pacing, error) {
	if v.pacing == nil {
		return Pacing{}, v.cannot("keep a request rate")
	}
	return v.pacing(conn)
}

func (v *vendor[U]) Deactivate(ctx context.Context, to Target, keys map[string]bool, progress func(int)) (Deactivated, error) {
	if v.deactivate == nil {
		return Deactivated{}, v.cannot("deactivate a user; use --missing report")
	}
	return v.deactivate(ctx, to, keys, progress)
}

func (v *vendor[U]) cannot(what string) error {
	return fmt.Errorf("%s has no way to %s", v.users.Spec().Name, what)
}

// rows is a chunk's payloads of type U.
type rows[U any] struct {
	v     *vendor[U]
	items []U
}

func (r *rows[U]) Add(fields map[string]any) (string, int, error) {
	u, key, err := r.v.users.Build(fields)
	if err != nil {
		return key, -1, err
	}
	r.items = append(r.items, u)
	return key, len(r.items) - 1, nil
}

func (r *rows[U]) ContentHash(slot int) (uint64, error) {
	return state.ContentHash(r.items[slot])
}

func (r *rows[U]) pick(slots []int) []U {
	out := make([]U, len(slots))
	for i, s := range slots {
		out[i] = r.items[s]
	}
	return out
}

func (r *rows[U]) Send(ctx context.Context, to Target, slots []int, known map[string]bool) (Outcome, error) {
	if r.v.send == nil {
		return Outcome{}, fmt.Errorf("%s imports run as background jobs, not batches", r.v.users.Spec().Name)
	}
	return r.v.send(ctx, to, r.pick(slots), known)
}

func (r *rows[U]) Submit(ctx context.Context, to Target, slots []int) (string, error) {
	if r.v.submit == nil {
		return "", r.v.cannot("run background jobs")
	}
	return r.v.submit(ctx, to, r.pick(slots))
}
