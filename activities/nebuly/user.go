// Package nebuly is a client for Nebuly's eligible-users API and the rules a
// row must meet to become a Nebuly user.
package nebuly

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"importer/activities/vendorapi"
)

// User is one eligible user as Nebuly's API takes it.
type User struct {
	EndUser string `json:"end_user"`
	// Tags is required by the API, even when empty.
	Tags       map[string]string `json:"tags"`
	ActiveFrom string            `json:"active_from"`
	ActiveTo   string            `json:"active_to,omitempty"`
}

// Field names, as the API and the source columns spell them.
const (
	FieldEndUser    = "end_user"
	FieldActiveFrom = "active_from"
	FieldActiveTo   = "active_to"
	TagPrefix       = "tags."
)

// RequiredFields are the fields every row must provide.
var RequiredFields = []string{FieldEndUser, FieldActiveFrom}

// DateLayout is the only date form Nebuly documents (every example uses it),
// so dates are sent in it whatever form the source used.
const DateLayout = "2006-01-02"

// FromFields builds a user from a mapped row: end_user, active_from,
// active_to, and tags.<Name> for each tag. Other fields are ignored. The
// returned user carries EndUser even when the row is invalid, so a reject
// can name the user.
func FromFields(fields map[string]any) (User, error) {
	u := User{Tags: map[string]string{}}
	id, err := vendorapi.Text(fields[FieldEndUser])
	if err != nil {
		return u, fmt.Errorf("end_user: %w", err)
	}
	u.EndUser = strings.TrimSpace(id)
	if u.EndUser == "" {
		return u, fmt.Errorf("end_user is empty")
	}
	from, err := date(fields[FieldActiveFrom])
	if err != nil {
		return u, fmt.Errorf("active_from: %w", err)
	}
	if from.IsZero() {
		return u, fmt.Errorf("active_from is empty")
	}
	u.ActiveFrom = from.Format(DateLayout)
	to, err := date(fields[FieldActiveTo])
	if err != nil {
		return u, fmt.Errorf("active_to: %w", err)
	}
	if !to.IsZero() {
		if to.Before(from) {
			return u, fmt.Errorf("active_to %s is before active_from %s", to.Format(DateLayout), u.ActiveFrom)
		}
		u.ActiveTo = to.Format(DateLayout)
	}
	// Sorted so that an error names the same tag every time.
	names := make([]string, 0, len(fields))
	for k := range fields {
		if strings.HasPrefix(k, TagPrefix) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		name := strings.TrimPrefix(k, TagPrefix)
		if name == "" {
			return u, fmt.Errorf("a tag column has no name after %q", TagPrefix)
		}
		v, err := vendorapi.Text(fields[k])
		if err != nil {
			return u, fmt.Errorf("tag %q: %w", name, err)
		}
		if v == "" {
			continue // an empty cell is no tag, not an empty one
		}
		u.Tags[name] = v
	}
	return u, nil
}

// date reads YYYY-MM-DD or an RFC 3339 timestamp (whose calendar date is
// kept, in the timestamp's own zone). Empty gives the zero time.
func date(v any) (time.Time, error) {
	s, err := vendorapi.Text(v)
	if err != nil {
		return time.Time{}, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(DateLayout, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (want YYYY-MM-DD)", clip(s))
}

// clip keeps error messages short when a cell holds something long.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
