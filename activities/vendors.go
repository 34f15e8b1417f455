package activities

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"importer/activities/nebuly"
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
	build(fields map[string]any) (item any, key string, err error)
	// send delivers one batch of payloads built by build.
	send(ctx context.Context, conn connections.Connection, hc *http.Client, items []any) (sendOutcome, error)
	// credentials names the settings that must be set, for a clear error
	// before the first call.
	credentials() []string
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

// registry is read-only after init: the set of vendors is fixed at build time.
var registry = map[string]vendor{
	"nebuly": nebulyVendor{},
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

func (nebulyVendor) name() string          { return "nebuly" }
func (nebulyVendor) required() []string    { return nebuly.RequiredFields }
func (nebulyVendor) credentials() []string { return []string{"API_KEY"} }

func (nebulyVendor) build(fields map[string]any) (any, string, error) {
	u, err := nebuly.FromFields(fields)
	return u, u.EndUser, err
}

func (nebulyVendor) send(ctx context.Context, conn connections.Connection, hc *http.Client, items []any) (sendOutcome, error) {
	key, err := conn.Require("API_KEY")
	if err != nil {
		return sendOutcome{}, err
	}
	users := make([]nebuly.User, len(items))
	for i, it := range items {
		users[i] = it.(nebuly.User)
	}
	c := nebuly.New(conn.GetOr("BASE_URL", nebuly.DefaultBaseURL), key, hc)
	out, err := c.Upsert(ctx, users)
	if err != nil {
		return sendOutcome{}, err
	}
	failed := make(map[string]string, len(out.Failed))
	for _, f := range out.Failed {
		failed[f.EndUser] = f.Reason
	}
	return sendOutcome{Inserted: out.Inserted, Updated: out.Updated, Failed: failed}, nil
}
