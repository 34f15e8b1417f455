package activities

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"importer/activities/bitlabs"
	"importer/activities/dynamic"
	"importer/activities/mapping"
	"importer/activities/nebuly"
	"importer/activities/userpilot"
	"importer/internal/connections"
)

// row is one source record on its way to a vendor. Its vendor payload is
// built by the vendor's own rules; rows that break them are rejected here,
// before anything is sent.
type row struct {
	line   int64
	key    string // the vendor's user id, for rejects and duplicate detection
	item   any    // the vendor payload; nil when rejected
	reason string // why the row is rejected, if it is
	// duplicate: rejected because a later row of the same user replaces it.
	duplicate bool
	// Incremental imports only: the hashes of the key and the payload,
	// whether the last successful run delivered the same payload, and
	// whether it delivered this user at all (the vendor has it).
	keyHash, contentHash uint64
	unchanged            bool
	known                bool
}

// sendOutcome is what a vendor made of one batch of valid rows.
type sendOutcome struct {
	Inserted int
	Updated  int
	Failed   map[string]string // user key → reason
}

// vendor is everything the import needs to know about one vendor.
type vendor interface {
	name() string
	// required lists the vendor fields every row must have, checked against
	// the source header before the import starts.
	required() []string
	// build turns a mapped row into the vendor payload and its user key.
	// The key comes back even for an invalid row, and from the key fields
	// alone, which the duplicate scan relies on.
	build(fields map[string]any) (item any, key string, err error)
	// keyFields are the fields a user's key is made of, and keyOf makes
	// the key from their text values as build would: the duplicate scan
	// reads only these columns.
	keyFields() []string
	keyOf(values []string) string
	// credentials names the settings that must be set, for a clear error
	// before the first call.
	credentials() []string
	// settings names the other connection settings the vendor's code
	// reads. With credentials it is the vendor's ConnectionSchema entry,
	// which config files are checked against: a setting read here and not
	// listed cannot be set from a file.
	settings() []string
	traits() Traits
}

// batchVendor is a vendor whose bulk call answers at once (Nebuly,
// BitLabs); a vendor whose bulk call starts a job is a jobVendor instead.
type batchVendor interface {
	vendor
	// send delivers one batch of payloads built by build.
	send(ctx context.Context, conn connections.Connection, hc *http.Client, items []any) (sendOutcome, error)
}

// knownSender is a batch vendor that sends users it already has
// differently from new ones (Nebuly: PUT, where new users take a POST). An
// incremental import knows from its state which users the vendor has;
// without state a vendor sends as send does.
type knownSender interface {
	sendKnown(ctx context.Context, conn connections.Connection, hc *http.Client, items []any, known map[string]bool) (sendOutcome, error)
}

// Traits are what the import workflow must know to orchestrate a vendor.
type Traits struct {
	// Gated: bulk calls to one account must never overlap, so imports hold
	// the account's gate around them.
	Gated bool `json:"gated,omitempty"`
	// SingleBypass: a request of one user is not a bulk and skips the gate.
	SingleBypass bool `json:"single_bypass,omitempty"`
	// Jobs: a bulk call starts a background job that must be waited for
	// (SubmitJob, then WaitJob).
	Jobs bool `json:"jobs,omitempty"`
	// MaxChunkRows caps rows per chunk (a job's row limit); 0 for none.
	MaxChunkRows int `json:"max_chunk_rows,omitempty"`
}

// VendorTraits returns a vendor's traits. The set of vendors is fixed at
// build time, so this is safe to call from workflow code.
func VendorTraits(vendorName string) (Traits, error) {
	v, err := lookupVendor(vendorName)
	if err != nil {
		return Traits{}, err
	}
	return v.traits(), nil
}

// Vendors lists the vendors the importer knows, for --help and validation.
func Vendors() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ConnectionVendors lists every vendor whose connections the worker reads:
// the import vendors and Fynd, whose audiences sync through their own
// workflow.
func ConnectionVendors() []string {
	return append(Vendors(), AudienceVendor)
}

// ConnectionSchema lists, for every vendor of ConnectionVendors, the
// connection settings its code reads: the required ones (credentials and
// account ids) and the optional ones. The worker checks its config file
// against it.
func ConnectionSchema() connections.Schema {
	s := connections.Schema{}
	for _, name := range ConnectionVendors() {
		if name == AudienceVendor {
			s[name] = connections.VendorSchema{Required: slices.Clone(fyndCredentials), Optional: fyndSettings()}
			continue
		}
		v := registry[name]
		s[name] = connections.VendorSchema{Required: slices.Clone(v.credentials()), Optional: slices.Clone(v.settings())}
	}
	return s
}

// registry is read-only after init: the set of vendors is fixed at build time.
var registry = map[string]vendor{
	"nebuly":    nebulyVendor{},
	"bitlabs":   bitlabsVendor{},
	"userpilot": userpilotVendor{},
	"dynamic":   dynamicVendor{},
}

// anyOfVendor is a vendor whose rows need at least one of several fields
// (Dynamic: an id or an e-mail), checked against the source's columns
// before the import starts.
type anyOfVendor interface {
	anyOf() []string
}

// MissingColumns says which of a vendor's required fields a source with
// these columns cannot fill under mapping m, and, for a vendor that needs
// one of several fields, whether it can fill none of them.
func MissingColumns(vendorName string, m mapping.Mapping, columns []string) ([]string, error) {
	v, err := lookupVendor(vendorName)
	if err != nil {
		return nil, err
	}
	missing := m.Missing(columns, v.required())
	if av, ok := v.(anyOfVendor); ok {
		have := m.Provides(columns)
		found := false
		for _, f := range av.anyOf() {
			found = found || have[f]
		}
		if !found {
			missing = append(missing, "one of "+strings.Join(av.anyOf(), ", "))
		}
	}
	return missing, nil
}

func lookupVendor(name string) (vendor, error) {
	v, ok := registry[strings.ToLower(name)]
	if !ok {
		return nil, fmt.Errorf("unknown vendor %q: choose one of %s", name, strings.Join(Vendors(), ", "))
	}
	return v, nil
}

// CheckVendor says whether name is a known vendor, with the list if not.
func CheckVendor(name string) error {
	_, err := lookupVendor(name)
	return err
}

// RequiredFields lists a vendor's required fields.
func RequiredFields(vendorName string) ([]string, error) {
	v, err := lookupVendor(vendorName)
	if err != nil {
		return nil, err
	}
	return v.required(), nil
}

type nebulyVendor struct{}

func (nebulyVendor) name() string            { return "nebuly" }
func (nebulyVendor) required() []string      { return nebuly.RequiredFields }
func (nebulyVendor) credentials() []string   { return []string{"API_KEY"} }
func (nebulyVendor) settings() []string      { return []string{"BASE_URL"} }
func (nebulyVendor) traits() Traits          { return Traits{} }
func (nebulyVendor) keyFields() []string     { return []string{nebuly.FieldEndUser} }
func (nebulyVendor) keyOf(v []string) string { return strings.TrimSpace(v[0]) }

func (nebulyVendor) build(fields map[string]any) (any, string, error) {
	u, err := nebuly.FromFields(fields)
	return u, u.EndUser, err
}

func (v nebulyVendor) send(ctx context.Context, conn connections.Connection, hc *http.Client, items []any) (sendOutcome, error) {
	return v.sendKnown(ctx, conn, hc, items, nil)
}

func (nebulyVendor) sendKnown(ctx context.Context, conn connections.Connection, hc *http.Client, items []any, known map[string]bool) (sendOutcome, error) {
	key, err := conn.Require("API_KEY")
	if err != nil {
		return sendOutcome{}, err
	}
	users := make([]nebuly.User, len(items))
	for i, it := range items {
		users[i] = it.(nebuly.User)
	}
	c := nebuly.New(conn.GetOr("BASE_URL", nebuly.DefaultBaseURL), key, hc)
	out, err := c.UpsertKnown(ctx, users, known)
	if err != nil {
		return sendOutcome{}, err
	}
	failed := make(map[string]string, len(out.Failed))
	for _, f := range out.Failed {
		failed[f.EndUser] = f.Reason
	}
	return sendOutcome{Inserted: out.Inserted, Updated: out.Updated, Failed: failed}, nil
}

type bitlabsVendor struct{}

func (bitlabsVendor) name() string            { return "bitlabs" }
func (bitlabsVendor) required() []string      { return bitlabs.RequiredFields }
func (bitlabsVendor) credentials() []string   { return []string{"S2S_TOKEN"} }
func (bitlabsVendor) settings() []string      { return []string{"BASE_URL"} }
func (bitlabsVendor) keyFields() []string     { return []string{bitlabs.FieldUID} }
func (bitlabsVendor) keyOf(v []string) string { return strings.TrimSpace(v[0]) }

// BitLabs runs one bulk import (a request of more than one user) at a time
// per account; single-user requests may run in parallel.
func (bitlabsVendor) traits() Traits { return Traits{Gated: true, SingleBypass: true} }

func (bitlabsVendor) build(fields map[string]any) (any, string, error) {
	u, err := bitlabs.FromFields(fields)
	return u, u.UID, err
}

func (bitlabsVendor) send(ctx context.Context, conn connections.Connection, hc *http.Client, items []any) (sendOutcome, error) {
	token, err := conn.Require("S2S_TOKEN")
	if err != nil {
		return sendOutcome{}, err
	}
	users := make([]bitlabs.User, len(items))
	for i, it := range items {
		users[i] = it.(bitlabs.User)
	}
	res, err := bitlabs.New(conn.GetOr("BASE_URL", bitlabs.DefaultBaseURL), token, hc).Import(ctx, users)
	if err != nil {
		return sendOutcome{}, err
	}
	failed := make(map[string]string, len(res.Failed))
	for _, f := range res.Failed {
		failed[f.UID] = f.Reason
	}
	// BitLabs does not say which users were new: all count as inserted.
	return sendOutcome{Inserted: res.SuccessCount, Failed: failed}, nil
}

type userpilotVendor struct{}

func (userpilotVendor) name() string            { return "userpilot" }
func (userpilotVendor) required() []string      { return userpilot.RequiredFields }
func (userpilotVendor) credentials() []string   { return []string{"API_KEY"} }
func (userpilotVendor) settings() []string      { return []string{"BASE_URL"} }
func (userpilotVendor) maxJobRows() int         { return userpilot.MaxBulk }
func (userpilotVendor) keyFields() []string     { return []string{userpilot.FieldUserID} }
func (userpilotVendor) keyOf(v []string) string { return strings.TrimSpace(v[0]) }

// Userpilot processes one bulk job at a time per account, and a bulk call
// only queues a job.
func (userpilotVendor) traits() Traits {
	return Traits{Gated: true, Jobs: true, MaxChunkRows: userpilot.MaxBulk}
}

func (userpilotVendor) build(fields map[string]any) (any, string, error) {
	u, err := userpilot.FromFields(fields)
	return u, u.UserID, err
}

func (v userpilotVendor) client(conn connections.Connection, hc *http.Client) (*userpilot.Client, error) {
	key, err := conn.Require("API_KEY")
	if err != nil {
		return nil, err
	}
	return userpilot.New(conn.GetOr("BASE_URL", userpilot.DefaultBaseURL), key, hc), nil
}

func (v userpilotVendor) submit(ctx context.Context, conn connections.Connection, hc *http.Client, items []any) (string, error) {
	c, err := v.client(conn, hc)
	if err != nil {
		return "", err
	}
	users := make([]userpilot.User, len(items))
	for i, it := range items {
		users[i] = it.(userpilot.User)
	}
	job, err := c.BulkIdentify(ctx, users)
	if err != nil {
		return "", err
	}
	return job.JobID, nil
}

func (v userpilotVendor) job(ctx context.Context, conn connections.Connection, hc *http.Client, id string) (jobStatus, error) {
	c, err := v.client(conn, hc)
	if err != nil {
		return jobStatus{}, err
	}
	j, err := c.Job(ctx, id)
	if err != nil {
		return jobStatus{}, err
	}
	return jobStatus{Status: j.Status, Terminal: j.Terminal(), Failed: j.Failed(), Reason: j.Reason, Done: j.CompletedRows, Total: j.TotalRows}, nil
}

type dynamicVendor struct{}

func (dynamicVendor) name() string        { return "dynamic" }
func (dynamicVendor) required() []string  { return nil }
func (dynamicVendor) anyOf() []string     { return []string{dynamic.FieldID, dynamic.FieldEmail} }
func (dynamicVendor) keyFields() []string { return []string{dynamic.FieldID, dynamic.FieldEmail} }

// keyOf is dynamic.User.Key on the id and e-mail columns.
func (dynamicVendor) keyOf(v []string) string {
	return dynamic.User{ID: strings.TrimSpace(v[0]), Email: strings.TrimSpace(v[1])}.Key()
}
func (dynamicVendor) credentials() []string { return []string{"API_TOKEN", "ENVIRONMENT_ID"} }

// settings: pacing reads REQUESTS_PER_MINUTE and RATE_GROUP.
func (dynamicVendor) settings() []string {
	return []string{"BASE_URL", "REQUESTS_PER_MINUTE", "RATE_GROUP"}
}

// Dynamic's bulk endpoint answers at once; its limit is a request rate
// (150 a minute per IP), which the pacer keeps across workers.
func (dynamicVendor) traits() Traits { return Traits{} }

func (dynamicVendor) build(fields map[string]any) (any, string, error) {
	u, err := dynamic.FromFields(fields)
	return u, u.Key(), err
}

// DefaultDynamicRequestsPerMinute is Dynamic's documented limit on the bulk
// endpoint, per IP.
const DefaultDynamicRequestsPerMinute = 150

// pacing reads the connection's limit: REQUESTS_PER_MINUTE (default 150)
// and RATE_GROUP, the pacer that connections sharing one egress IP share
// (default "shared": every connection of the deployment).
func (dynamicVendor) pacing(conn connections.Connection) (Pacing, error) {
	rpm := DefaultDynamicRequestsPerMinute
	if s := conn.Get("REQUESTS_PER_MINUTE"); s != "" {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return Pacing{}, fmt.Errorf("dynamic connection %q: REQUESTS_PER_MINUTE %q is not a positive whole number", conn.Name, s)
		}
		rpm = n
	}
	return Pacing{Group: conn.GetOr("RATE_GROUP", "shared"), Interval: intervalFor(rpm, time.Minute)}, nil
}

func (dynamicVendor) send(ctx context.Context, conn connections.Connection, hc *http.Client, items []any) (sendOutcome, error) {
	token, err := conn.Require("API_TOKEN")
	if err != nil {
		return sendOutcome{}, err
	}
	env, err := conn.Require("ENVIRONMENT_ID")
	if err != nil {
		return sendOutcome{}, err
	}
	users := make([]dynamic.User, len(items))
	for i, it := range items {
		users[i] = it.(dynamic.User)
	}
	res, err := dynamic.New(conn.GetOr("BASE_URL", dynamic.DefaultBaseURL), token, env, hc).BulkUpsert(ctx, users)
	if err != nil {
		return sendOutcome{}, err
	}
	failed := make(map[string]string, len(res.Failed))
	for _, f := range res.Failed {
		failed[f.Key] = f.Reason
	}
	return sendOutcome{Inserted: res.Created, Updated: res.Updated, Failed: failed}, nil
}
