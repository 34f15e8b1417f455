package dynamic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"importer/activities/vendorapi"
)

// DefaultBaseURL is Dynamic's API host (app.dynamic.xyz/api/v0 serves the
// same API).
const DefaultBaseURL = "https://app.dynamicauth.com/api/v0"

// EnvironmentIDLength is the exact length of an environment id.
const EnvironmentIDLength = 36

// vendor and opName name every error the client returns.
const (
	vendor = "dynamic"
	opName = "bulk upsert users"
)

// Client calls the bulk user API of one Dynamic environment.
type Client struct {
	url   string
	env   string
	token string
	hc    *http.Client
	now   func() time.Time
}

// New makes a client. hc may be nil for http.DefaultClient; give it a
// timeout, since a vendor that never answers would hold a batch forever.
// Check environmentID with ValidEnvironmentID when reading the settings:
// BulkUpsert refuses to send with a malformed one.
func New(baseURL, token, environmentID string, hc *http.Client) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	u := strings.TrimRight(baseURL, "/") + "/environments/" + url.PathEscape(environmentID) + "/users/bulk?upsert=true"
	return &Client{url: u, env: environmentID, token: token, hc: hc, now: time.Now}
}

// ValidEnvironmentID checks the form of an environment id: exactly 36
// characters, as Dynamic documents.
func ValidEnvironmentID(id string) error {
	if n := utf8.RuneCountInString(id); n != EnvironmentIDLength {
		hint := ""
		if strings.TrimSpace(id) != id {
			hint = " (it has spaces around it)"
		}
		return fmt.Errorf("the Dynamic environment id is %d characters long%s; it must be exactly %d, as shown in the dashboard under Developers > SDK & API Keys",
			n, hint, EnvironmentIDLength)
	}
	return nil
}

// Failure is a user Dynamic did not create or update, with its reason.
type Failure struct {
	Key    string // User.Key of the user sent
	Reason string
}

// Result is what Dynamic made of one request: every user sent is counted
// in Created or Updated, or listed in Failed.
type Result struct {
	Created, Updated int
	Failed           []Failure
}

// BulkUpsert sends users in one request with upsert=true, so that a user
// that exists (a retry, or a re-run of an import) is updated rather than
// refused: sending the same batch twice converges.
//
// Users Dynamic refuses one by one come back in Result.Failed, keyed by
// User.Key, with reasons from which values of the request are removed. An
// answer that does not account for every user sent is a non-retryable
// *vendorapi.Error (status 201): the client never guesses what became of a
// user. Other errors are *vendorapi.Error too (429 with RetryAfter, 401,
// 413 with advice on the batch size, 5xx, no answer), except for a
// cancelled ctx, which is returned wrapped.
func (c *Client) BulkUpsert(ctx context.Context, users []User) (Result, error) {
	if len(users) == 0 {
		return Result{}, nil
	}
	if err := ValidEnvironmentID(c.env); err != nil {
		// What Dynamic's validation would answer; nothing is sent, and
		// sending again cannot help.
		return Result{}, &vendorapi.Error{Vendor: vendor, Op: opName, Status: http.StatusBadRequest,
			Message: err.Error() + "; nothing was sent"}
	}
	b := &batch{users: users, token: c.token}
	status, body, err := vendorapi.Do(ctx, c.hc, vendorapi.Call{
		Vendor:  vendor,
		Op:      opName,
		Method:  http.MethodPost,
		URL:     c.url,
		Header:  http.Header{"Authorization": {"Bearer " + c.token}},
		JSON:    users,
		Secrets: []string{c.token},
		Message: func(body []byte) string {
			if bytes.HasPrefix(bytes.TrimSpace(body), []byte("<")) {
				return "" // an HTML error page from a proxy
			}
			return b.clean(vendorapi.DefaultMessage(body))
		},
		Now: c.now,
	})
	if err != nil {
		if ve, ok := vendorapi.As(err); ok && ve.Status == http.StatusRequestEntityTooLarge {
			advice := fmt.Sprintf("a request of %d users is too large for Dynamic; lower --batch-size", len(users))
			if ve.Message != "" {
				advice = ve.Message + "; " + advice
			}
			ve.Message = advice
		}
		return Result{}, err
	}
	return b.result(status, body)
}

// answer is a 2xx answer to a bulk request. Entries are decoded one by one
// and leniently: Dynamic documents created and updated as User objects and
// failed only as "object".
type answer struct {
	Created []json.RawMessage `json:"created"`
	Updated []json.RawMessage `json:"updated"`
	Failed  []json.RawMessage `json:"failed"`
	Total   any               `json:"total"`
}

// failedEntry is what the client can read of one failed entry.
type failedEntry struct {
	id, email string
	index     int // -1 when the entry gives none
	reason    string
}

// result reads a 2xx answer and attributes every failure to a user sent.
func (b *batch) result(status int, data []byte) (Result, error) {
	users := b.users
	bad := func(format string, args ...any) error {
		return &vendorapi.Error{Vendor: vendor, Op: opName, Status: status, Message: fmt.Sprintf(format, args...)}
	}
	var a answer
	if err := json.Unmarshal(data, &a); err != nil {
		return Result{}, bad("answer is not a bulk result (want created, updated, failed and total)")
	}
	n := len(users)
	listed := len(a.Created) + len(a.Updated) + len(a.Failed)
	total, hasTotal, totalOK := count(a.Total)
	if hasTotal && !totalOK {
		return Result{}, bad("answer's total is not a whole number")
	}
	if listed != n || (hasTotal && total != n) {
		t := "no total"
		if hasTotal {
			t = fmt.Sprintf("total %d", total)
		}
		return Result{}, bad("answer lists %d created, %d updated and %d failed users (%s), but %d were sent; "+
			"what became of the others is unknown", len(a.Created), len(a.Updated), len(a.Failed), t, n)
	}

	// Which users sent the answer lists as created or updated. A user sent
	// with an id is known by it alone: another user may hold its e-mail.
	okIDs, okEmails := map[string]bool{}, map[string]bool{}
	for _, raw := range append(append([]json.RawMessage(nil), a.Created...), a.Updated...) {
		var m map[string]any
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		if id, _ := m["id"].(string); id != "" {
			okIDs[id] = true
		}
		if email, _ := m["email"].(string); email != "" {
			okEmails[strings.ToLower(email)] = true
		}
	}
	succeeded := make([]bool, n)
	byID, byEmail := map[string][]int{}, map[string][]int{}
	for i, u := range users {
		if u.ID != "" {
			succeeded[i] = okIDs[u.ID]
			byID[u.ID] = append(byID[u.ID], i)
		} else {
			succeeded[i] = okEmails[strings.ToLower(u.Email)]
		}
		if u.Email != "" {
			byEmail[strings.ToLower(u.Email)] = append(byEmail[strings.ToLower(u.Email)], i)
		}
	}

	taken := make([]bool, n)
	// pick chooses among the users a failed entry names the first one not
	// yet given a failure, preferring one the answer does not also list as
	// created or updated.
	pick := func(cands []int) int {
		first := -1
		for _, i := range cands {
			if taken[i] {
				continue
			}
			if !succeeded[i] {
				return i
			}
			if first < 0 {
				first = i
			}
		}
		return first
	}
	reasons := make([]string, n)
	var orphans []failedEntry
	for _, raw := range a.Failed {
		e := b.entry(raw)
		i := -1
		if e.id != "" {
			i = pick(byID[e.id])
		}
		if i < 0 && e.email != "" {
			i = pick(byEmail[strings.ToLower(e.email)])
		}
		if i < 0 && e.index >= 0 && e.index < n && !taken[e.index] {
			i = e.index
		}
		if i < 0 {
			orphans = append(orphans, e)
			continue
		}
		taken[i], reasons[i] = true, e.reason
	}
	if len(orphans) > 0 {
		// Failures that name no user sent belong, in order, to the users
		// the answer lists nowhere; unless the numbers differ, which would
		// make any attribution a guess.
		var rest []int
		for i := range users {
			if !taken[i] && !succeeded[i] {
				rest = append(rest, i)
			}
		}
		if len(rest) != len(orphans) {
			return Result{}, bad("answer has %d failed entries that name no user sent, and %d users it lists nowhere; "+
				"which users failed is unknown", len(orphans), len(rest))
		}
		for k, i := range rest {
			taken[i], reasons[i] = true, orphans[k].reason
		}
	}

	out := Result{Created: len(a.Created), Updated: len(a.Updated)}
	for i, u := range users {
		if taken[i] {
			out.Failed = append(out.Failed, Failure{Key: u.Key(), Reason: reasons[i]})
		}
	}
	return out, nil
}

// entry reads a failed entry of unknown shape: the user it is about (a
// user object, or id and email at the top), its position in the request,
// and the reason.
func (b *batch) entry(raw json.RawMessage) failedEntry {
	e := failedEntry{index: -1}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		e.reason = "Dynamic listed the user as failed, in an entry the client cannot read"
		return e
	}
	m, isObject := v.(map[string]any)
	if !isObject {
		// A bare message.
		e.reason = b.reason(vendorapi.TextOf(v))
		return e
	}
	e.id, _ = m["id"].(string)
	e.email, _ = m["email"].(string)
	if u, ok := m["user"].(map[string]any); ok {
		if id, _ := u["id"].(string); id != "" {
			e.id = id
		}
		if email, _ := u["email"].(string); email != "" {
			e.email = email
		}
	}
	for _, k := range []string{"index", "position"} {
		if i, ok := whole(m[k]); ok {
			e.index = i
			break
		}
	}
	var parts []string
	for _, k := range []string{"error", "message", "reason", "errors"} {
		if s := vendorapi.TextOf(m[k]); s != "" && !contains(parts, s) {
			parts = append(parts, s)
		}
	}
	e.reason = b.reason(strings.Join(parts, "; "))
	return e
}

func (b *batch) reason(s string) string {
	s = vendorapi.Trim(vendorapi.Scrub(b.clean(s), b.token))
	if s == "" {
		return "Dynamic listed the user as failed without a reason"
	}
	return s
}

// count reads the answer's total: ok is false when it is there but not a
// whole number.
func count(v any) (n int, present, ok bool) {
	if v == nil {
		return 0, false, false
	}
	n, ok = whole(v)
	return n, true, ok
}

// whole reads a whole number sent as a JSON number or a numeric string.
func whole(v any) (int, bool) {
	switch x := v.(type) {
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return int(x), true
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(x)); err == nil {
			return n, true
		}
	}
	return 0, false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// batch is the users of one request. It reads the answer about them, and
// removes their values from texts the vendor sends back ("email
// jane@example.com already in use"), in any ASCII case: reasons and error
// messages end up in logs, rejects files and the Temporal UI, where user
// data must not.
type batch struct {
	users []User
	token string
	// masker turns every value, ASCII-lower-cased, into as many NUL bytes;
	// built on first use, since most answers carry nothing to clean.
	masker *strings.Replacer
}

// minRedacted is the shortest value removed: shorter ones (a country code,
// "XL") would take words of the message with them and identify no one.
const minRedacted = 3

// redacted stands in for a removed value.
const redacted = "[redacted]"

func (b *batch) clean(s string) string {
	if s == "" {
		return s
	}
	if b.masker == nil {
		b.masker = b.build()
	}
	// Lower-casing ASCII only keeps every byte in place, so the mask lines
	// up with s.
	mask := b.masker.Replace(asciiLower(s))
	if mask == asciiLower(s) {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if mask[i] != 0 || s[i] == 0 {
			out.WriteByte(s[i])
			continue
		}
		if i == 0 || mask[i-1] != 0 || s[i-1] == 0 {
			out.WriteString(redacted)
		}
	}
	return out.String()
}

// build makes the masker from every personal value of the users sent,
// longest first so that an e-mail goes before the name inside it.
func (b *batch) build() *strings.Replacer {
	seen := map[string]bool{}
	var vals []string
	add := func(ss ...string) {
		for _, s := range ss {
			v := asciiLower(strings.TrimSpace(s))
			if utf8.RuneCountInString(v) >= minRedacted && !seen[v] {
				seen[v] = true
				vals = append(vals, v)
			}
		}
	}
	for _, u := range b.users {
		// Enumerations (country, mfa state, chain, provider, address
		// type) are left: they identify no one and explain the reason.
		add(u.ID, u.Email, u.Alias, u.FirstName, u.LastName, u.JobTitle, u.PhoneNumber, u.TShirtSize, u.Team,
			u.Username, u.BtcWallet, u.KdaWallet, u.LtcWallet, u.CkbWallet, u.KasWallet, u.DogeWallet)
		addStrings(u.Metadata, add)
		for _, w := range u.Wallets {
			add(w.PublicWalletAddress, w.WalletName)
			for _, a := range w.AdditionalWalletAddresses {
				add(a.Address, a.PublicKey)
			}
		}
		for _, o := range u.OAuthAccounts {
			add(o.AccountID, o.DisplayName, o.Username)
			add(o.Emails...)
			add(o.Photos...)
			addStrings(o.Profile, add)
		}
	}
	sort.SliceStable(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	pairs := make([]string, 0, 2*len(vals))
	for _, v := range vals {
		pairs = append(pairs, v, strings.Repeat("\x00", len(v)))
	}
	return strings.NewReplacer(pairs...)
}

// asciiLower lower-cases ASCII letters only, byte for byte.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// addStrings passes every string inside a JSON value to add.
func addStrings(v any, add func(...string)) {
	switch x := v.(type) {
	case string:
		add(x)
	case []any:
		for _, e := range x {
			addStrings(e, add)
		}
	case map[string]any:
		for _, e := range x {
			addStrings(e, add)
		}
	}
}
