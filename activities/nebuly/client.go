package nebuly

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"importer/activities/vendorapi"
)

// DefaultBaseURL is Nebuly's (non-EU) API host. EU projects set
// IMPORTER_NEBULY_BASE_URL=https://backend.eu.nebuly.com.
const DefaultBaseURL = "https://backend.nebuly.com"

// Path is the eligible-users endpoint, relative to the base URL.
const Path = "/api/external/eligible-users"

// maxResponse bounds what the client reads of an answer; a list of every
// user of a big project fits, a runaway body does not.
const maxResponse = 256 << 20

// vendor names Nebuly in errors.
const vendor = "nebuly"

// Client calls one Nebuly project's eligible-users API.
type Client struct {
	url string
	key string
	hc  *http.Client
}

// New makes a client. hc may be nil for http.DefaultClient; give it a
// timeout, since a vendor that never answers would hold a batch forever.
func New(baseURL, apiKey string, hc *http.Client) *Client {
	return &Client{url: strings.TrimRight(baseURL, "/") + Path, key: apiKey, hc: hc}
}

type usersBody struct {
	Users []User `json:"users"`
}

// Insert adds new users and returns the ones Nebuly reports as inserted.
func (c *Client) Insert(ctx context.Context, users []User) ([]User, error) {
	var out usersBody
	err := c.do(ctx, http.MethodPost, "insert users", usersBody{Users: users}, &out)
	return out.Users, err
}

// Update replaces the tags and dates of existing users (matched on
// end_user) and returns the ones Nebuly reports as updated.
func (c *Client) Update(ctx context.Context, users []User) ([]User, error) {
	var out usersBody
	err := c.do(ctx, http.MethodPut, "update users", usersBody{Users: users}, &out)
	return out.Users, err
}

// Delete removes users by end_user.
func (c *Client) Delete(ctx context.Context, endUsers []string) error {
	return c.do(ctx, http.MethodDelete, "delete users", map[string][]string{"users": endUsers}, nil)
}

// List returns every user of the project; the API has no paging.
func (c *Client) List(ctx context.Context) ([]User, error) {
	var out usersBody
	err := c.do(ctx, http.MethodGet, "list users", nil, &out)
	return out.Users, err
}

// Failure is a user Nebuly would not take, with its reason.
type Failure struct {
	EndUser string
	Reason  string
}

// Outcome is what Upsert made of a batch: every user sent is counted in
// exactly one of Inserted, Updated and Failed.
type Outcome struct {
	Inserted int
	Updated  int
	Failed   []Failure
}

// Upsert makes every user of the batch exist with the given fields. Nebuly's
// POST only inserts new users, and what it does with existing ones is not
// documented: it may leave them out of its answer or refuse the request
// with 409. Either way the users it did not insert are sent again with PUT,
// which matches on end_user. So a batch sent twice (a retry after a lost
// answer, or a re-run of a whole import) converges instead of failing.
//
// Users the vendor refuses one by one (422 naming the user) come back in
// Failed; a request too large for the vendor (413) is split. Errors are
// *vendorapi.Error for the call that failed.
func (c *Client) Upsert(ctx context.Context, users []User) (Outcome, error) {
	return c.UpsertKnown(ctx, users, nil)
}

// UpsertKnown is Upsert for a caller that knows which users Nebuly already
// has (an incremental import's state): those are sent with PUT first and
// the others with POST first, so each user costs one row sent. A known
// user Nebuly no longer has is POSTed after its PUT finds nothing, and a
// new user it has already is PUT after its POST, so a wrong guess costs a
// second send, never a lost user.
func (c *Client) UpsertKnown(ctx context.Context, users []User, known map[string]bool) (Outcome, error) {
	var out Outcome
	if len(users) == 0 {
		return out, nil
	}
	failed := map[string]string{}
	var old, fresh []User
	for _, u := range users {
		if known[u.EndUser] {
			old = append(old, u)
		} else {
			fresh = append(fresh, u)
		}
	}
	updated, err := c.each(ctx, old, failed, c.Update)
	if err != nil {
		return out, err
	}
	fresh = append(fresh, missing(old, updated, failed)...)
	inserted, updatedToo, err := c.insertFirst(ctx, fresh, failed)
	if err != nil {
		return out, err
	}
	for k := range updatedToo {
		updated[k] = true
	}
	out.Inserted = count(users, inserted)
	out.Updated = count(users, updated)
	for _, u := range users {
		if r, ok := failed[u.EndUser]; ok {
			out.Failed = append(out.Failed, Failure{EndUser: u.EndUser, Reason: r})
		}
	}
	return out, nil
}

// insertFirst POSTs users and PUTs those the POST did not insert (or, when
// the vendor refuses a POST with any existing user in it, PUTs first and
// POSTs what the PUT did not find). Users neither call took are failed.
func (c *Client) insertFirst(ctx context.Context, users []User, failed map[string]string) (inserted, updated map[string]bool, err error) {
	inserted, err = c.each(ctx, users, failed, c.Insert)
	conflict := false
	if ve, ok := vendorapi.As(err); ok && ve.Status == http.StatusConflict {
		conflict, err = true, nil
		inserted = map[string]bool{}
	}
	if err != nil {
		return nil, nil, err
	}
	rest := missing(users, inserted, failed)
	updated, err = c.each(ctx, rest, failed, c.Update)
	if err != nil {
		return nil, nil, err
	}
	rest = missing(rest, updated, failed)
	if conflict && len(rest) > 0 {
		late, err := c.each(ctx, rest, failed, c.Insert)
		if err != nil {
			return nil, nil, err
		}
		for k := range late {
			inserted[k] = true
		}
		rest = missing(rest, late, failed)
	}
	for _, u := range rest {
		failed[u.EndUser] = "Nebuly neither inserted nor updated this user"
	}
	return inserted, updated, nil
}

// each sends users with call and returns the end_users the vendor took. A
// 422 that names users by position moves them to failed and resends the
// rest; a 413, or a 422 that names no one, halves the batch until the
// culprit stands alone.
func (c *Client) each(ctx context.Context, users []User, failed map[string]string, call func(context.Context, []User) ([]User, error)) (map[string]bool, error) {
	took := map[string]bool{}
	if len(users) == 0 {
		return took, nil
	}
	got, err := call(ctx, users)
	if err == nil {
		for _, u := range got {
			took[u.EndUser] = true
		}
		return took, nil
	}
	ve, ok := vendorapi.As(err)
	if !ok || (ve.Status != http.StatusUnprocessableEntity && ve.Status != http.StatusRequestEntityTooLarge) {
		return nil, err
	}
	if ve.Status == http.StatusUnprocessableEntity {
		bad := badUsers(ve, len(users))
		if len(bad) > 0 {
			var rest []User
			for i, u := range users {
				if reason, isBad := bad[i]; isBad {
					failed[u.EndUser] = "Nebuly refused the user: " + reason
				} else {
					rest = append(rest, u)
				}
			}
			return c.each(ctx, rest, failed, call)
		}
		if len(users) == 1 {
			failed[users[0].EndUser] = "Nebuly refused the user: " + ve.Message
			return took, nil
		}
	}
	if len(users) == 1 {
		return nil, err // 413 for a single user: nothing left to split
	}
	half := len(users) / 2
	for _, part := range [][]User{users[:half], users[half:]} {
		t, err := c.each(ctx, part, failed, call)
		if err != nil {
			return nil, err
		}
		for k := range t {
			took[k] = true
		}
	}
	return took, nil
}

// missing lists the users neither taken nor failed.
func missing(users []User, took map[string]bool, failed map[string]string) []User {
	var out []User
	for _, u := range users {
		if !took[u.EndUser] {
			if _, f := failed[u.EndUser]; !f {
				out = append(out, u)
			}
		}
	}
	return out
}

// count counts the users of the batch in set; the vendor's answer may name
// users we did not send, and those must not be counted.
func count(users []User, set map[string]bool) int {
	n := 0
	for _, u := range users {
		if set[u.EndUser] {
			n++
		}
	}
	return n
}

// validationDetail is the FastAPI-style body Nebuly's OpenAPI backend is
// expected to answer a 422 with.
type validationDetail struct {
	Loc []any  `json:"loc"`
	Msg string `json:"msg"`
}

// badUsers reads the positions of refused users from a 422's details,
// which the client keeps in ve.Err as a *detailError.
func badUsers(ve *vendorapi.Error, n int) map[int]string {
	de, ok := ve.Err.(*detailError)
	if !ok {
		return nil
	}
	bad := map[int]string{}
	for _, d := range de.details {
		// loc is ["body", "users", <index>, <field>...]
		for i := 0; i+1 < len(d.Loc); i++ {
			if d.Loc[i] != "users" {
				continue
			}
			idx, ok := d.Loc[i+1].(float64)
			if !ok || int(idx) < 0 || int(idx) >= n || idx != float64(int(idx)) {
				continue
			}
			field := ""
			if i+2 < len(d.Loc) {
				field = fmt.Sprint(d.Loc[i+2]) + ": "
			}
			bad[int(idx)] = field + d.Msg
		}
	}
	return bad
}

// detailError carries a 422's parsed details to Upsert.
type detailError struct{ details []validationDetail }

func (e *detailError) Error() string { return fmt.Sprintf("%d validation errors", len(e.details)) }

func (c *Client) do(ctx context.Context, method, op string, body, out any) error {
	status, data, err := vendorapi.Do(ctx, c.hc, vendorapi.Call{
		Vendor:      vendor,
		Op:          op,
		Method:      method,
		URL:         c.url,
		Header:      http.Header{"Authorization": {"Bearer " + c.key}},
		JSON:        body,
		MaxResponse: maxResponse,
		Message:     errorMessage,
		SkipHTML:    true,
		Secrets:     []string{c.key},
	})
	if err != nil {
		if ve, ok := vendorapi.As(err); ok && ve.Status != 0 {
			if details := validationDetails(data); len(details) > 0 {
				// Upsert reads the refused users' positions from here.
				ve.Err = &detailError{details: details}
			}
		}
		return err
	}
	if out == nil || len(bytes.TrimSpace(data)) == 0 {
		if out != nil && method != http.MethodDelete {
			return &vendorapi.Error{Vendor: vendor, Op: op, Status: status, Message: "empty answer where a user list was expected"}
		}
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		// A 2xx we cannot read may still have stored the users; retrying
		// is safe because Upsert converges.
		return &vendorapi.Error{Vendor: vendor, Op: op, Err: fmt.Errorf("unreadable answer (HTTP %d): %w", status, err)}
	}
	return nil
}

// errorBody is what Nebuly's failed answers may hold: FastAPI's detail (a
// list of problems for 422, a string otherwise), or a message or error.
type errorBody struct {
	Detail  json.RawMessage `json:"detail"`
	Message string          `json:"message"`
	Error   string          `json:"error"`
}

// validationDetails reads a failed answer's list of problems, if it has one.
func validationDetails(data []byte) []validationDetail {
	var body errorBody
	var details []validationDetail
	if json.Unmarshal(data, &body) != nil || json.Unmarshal(body.Detail, &details) != nil {
		return nil
	}
	return details
}

// errorMessage is the vendor's explanation of a failed answer without any
// echo of user data: for 422 only each problem's location and message are
// kept, not its input. A body that is not Nebuly's JSON (a proxy's text)
// stands as it is.
func errorMessage(data []byte) string {
	var body errorBody
	if json.Unmarshal(data, &body) != nil {
		return string(data)
	}
	var detail string
	switch details := validationDetails(data); {
	case len(details) > 0:
		parts := make([]string, 0, len(details))
		for i, d := range details {
			if i == 5 {
				parts = append(parts, fmt.Sprintf("and %d more", len(details)-5))
				break
			}
			parts = append(parts, locString(d.Loc)+": "+d.Msg)
		}
		return strings.Join(parts, "; ")
	case json.Unmarshal(body.Detail, &detail) == nil && detail != "":
		return detail
	case body.Message != "":
		return body.Message
	}
	return body.Error
}

// locString renders ["body","users",3,"active_from"] as users[3].active_from.
func locString(loc []any) string {
	var b strings.Builder
	for i, p := range loc {
		switch x := p.(type) {
		case float64:
			fmt.Fprintf(&b, "[%d]", int(x))
		case string:
			if i == 0 && x == "body" && len(loc) > 1 {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(x)
		}
	}
	return b.String()
}
