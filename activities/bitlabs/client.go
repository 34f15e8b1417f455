package bitlabs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"importer/activities/vendorapi"
)

// DefaultBaseURL is BitLabs' API host.
const DefaultBaseURL = "https://api.bitlabs.ai"

// Path is the Import Users endpoint, relative to the base URL.
const Path = "/v1/publishers/users"

// vendor and op name every error the client returns.
const (
	vendor = "bitlabs"
	opName = "import users"
)

// maxResponse bounds what the client reads of an answer.
const maxResponse = 64 << 20

// Client calls BitLabs' Import Users API with one publisher's S2S token.
type Client struct {
	url   string
	token string
	hc    *http.Client
}

// New makes a client. hc may be nil for http.DefaultClient; give it a
// timeout, since a vendor that never answers would hold a batch forever.
func New(baseURL, s2sToken string, hc *http.Client) *Client {
	return &Client{url: strings.TrimRight(baseURL, "/") + Path, token: s2sToken, hc: hc}
}

// Failure is a user BitLabs would not import, with its reason.
type Failure struct {
	UID    string
	Reason string
}

// Result is what BitLabs made of one request: every user sent is either
// counted in SuccessCount or listed in Failed.
type Result struct {
	SuccessCount int
	Failed       []Failure
}

// Import sends users in one request. BitLabs treats a request with more
// than one user as a bulk import and runs one bulk at a time per publisher:
// a bulk sent while another runs comes back as a *vendorapi.Error with
// Conflict set, which is worth retrying later. Single-user requests may run
// in parallel. Re-importing a uid replaces it, so a retry is safe.
//
// Users refused one by one come back in Result.Failed. Errors are
// *vendorapi.Error, except for a cancelled ctx, which is returned wrapped.
func (c *Client) Import(ctx context.Context, users []User) (Result, error) {
	if len(users) == 0 {
		return Result{}, nil
	}
	sent := make([]User, len(users))
	for i, u := range users {
		// questions is required by the API even when empty, and so are a
		// question's direct_values as far as the docs show: send [] for nil.
		qs := make([]Question, len(u.Questions))
		for j, q := range u.Questions {
			if q.DirectValues == nil {
				q.DirectValues = []string{}
			}
			qs[j] = q
		}
		u.Questions = qs
		sent[i] = u
	}
	status, data, err := vendorapi.Do(ctx, c.hc, vendorapi.Call{
		Vendor:      vendor,
		Op:          opName,
		Method:      http.MethodPost,
		URL:         c.url,
		Header:      http.Header{"X-S2S-Token": {c.token}},
		JSON:        map[string][]User{"users": sent},
		MaxResponse: maxResponse,
		Message:     errorMessage,
		SkipHTML:    true,
		Secrets:     []string{c.token},
	})
	if err != nil {
		if ve, ok := vendorapi.As(err); ok && ve.Status != 0 {
			// BitLabs runs one bulk import at a time; it does not document
			// the status of an overlapping one, so both "conflict" and
			// "locked" count.
			ve.Conflict = status == http.StatusConflict || status == http.StatusLocked
			if env, ok := errorEnvelope(data); ok {
				// Added after Do has trimmed the message, so that a long
				// one keeps the id BitLabs support asks for.
				ve.Message += traceSuffix(env.TraceID)
			}
		}
		return Result{}, err
	}
	return result(status, data, users)
}

// envelope is the frame BitLabs wraps its answers in.
type envelope struct {
	Data  json.RawMessage `json:"data"`
	Error *struct {
		Details struct {
			HTTP json.RawMessage `json:"http"`
			Msg  string          `json:"msg"`
		} `json:"details"`
	} `json:"error"`
	Status  string `json:"status"`
	TraceID string `json:"trace_id"`
}

// importData is the data of a 200 answer.
type importData struct {
	SuccessCount *int                         `json:"success_count"`
	Errors       []map[string]json.RawMessage `json:"errors"`
}

// result reads a 2xx answer and checks that it accounts for every user sent.
func result(status int, data []byte, users []User) (Result, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		// The users may have been imported; a retry is safe because a
		// re-import replaces them.
		return Result{}, &vendorapi.Error{Vendor: vendor, Op: opName, Err: fmt.Errorf("unreadable answer (HTTP %d): %w", status, err)}
	}
	bad := func(msg string) error {
		return &vendorapi.Error{Vendor: vendor, Op: opName, Status: status, Message: msg + traceSuffix(env.TraceID)}
	}
	var d importData
	if len(env.Data) == 0 || string(env.Data) == "null" {
		return Result{}, bad("answer has no data where an import result was expected")
	}
	if err := json.Unmarshal(env.Data, &d); err != nil {
		return Result{}, bad("answer data is not an import result: " + vendorapi.Trim(err.Error()))
	}
	if d.SuccessCount == nil {
		return Result{}, bad("answer has no success_count")
	}
	sent := map[string]bool{}
	for _, u := range users {
		sent[u.UID] = true
	}
	out := Result{SuccessCount: *d.SuccessCount}
	var unknown []string
	for _, e := range d.Errors {
		var uid string
		if raw, ok := e["uid"]; ok {
			if err := json.Unmarshal(raw, &uid); err != nil {
				uid = string(raw)
			}
		}
		if !sent[uid] {
			unknown = append(unknown, uid)
			continue
		}
		out.Failed = append(out.Failed, Failure{UID: uid, Reason: reason(e)})
	}
	if len(unknown) > 0 {
		// The uids themselves stay out of the message: they are not ours.
		return Result{}, bad(fmt.Sprintf("answer lists errors for %d user(s) that were not in the request", len(unknown)))
	}
	if out.SuccessCount < 0 || out.SuccessCount+len(d.Errors) != len(users) {
		return Result{}, bad(fmt.Sprintf("answer accounts for %d imported and %d failed users, but %d were sent",
			out.SuccessCount, len(d.Errors), len(users)))
	}
	return out, nil
}

// Checks BitLabs documents for an errors entry, in the order a reason
// lists them.
var checks = []string{"invalid_birthdate", "invalid_gender", "invalid_zipcode", "invalid_question", "unsupported_languages", "invalid_answer_format"}

// reason lists the failed checks of an errors entry: a field counts when it
// is present, not null and not false. Undocumented fields count the same
// way, after the documented ones.
func reason(e map[string]json.RawMessage) string {
	var extra []string
	known := map[string]bool{"uid": true}
	for _, k := range checks {
		known[k] = true
	}
	for k := range e {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	var parts []string
	for _, k := range append(append([]string(nil), checks...), extra...) {
		raw, ok := e[k]
		if !ok {
			continue
		}
		if p, failed := describe(k, raw); failed {
			parts = append(parts, p)
		}
	}
	if len(parts) == 0 {
		return "BitLabs refused the user without naming a failed check"
	}
	return vendorapi.Trim(strings.Join(parts, "; "))
}

// describe renders one field of an errors entry, and says whether it marks
// a failed check.
func describe(name string, raw json.RawMessage) (string, bool) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return name, true
	}
	switch x := v.(type) {
	case nil:
		return "", false
	case bool:
		if !x {
			return "", false
		}
		if name == "unsupported_languages" {
			return name + ": the user has no supported language", true
		}
		return name, true
	case string:
		if strings.TrimSpace(x) == "" {
			return name, true
		}
		return name + ": " + vendorapi.Trim(x), true
	case map[string]any:
		q, _ := x["question"].(string)
		r, _ := x["reason"].(string)
		if q != "" || r != "" {
			s := name + ":"
			if q != "" {
				s += " question " + q
			}
			if r != "" {
				if q != "" {
					s += ":"
				}
				s += " " + r
			}
			return s, true
		}
	}
	return name + ": " + vendorapi.Trim(string(raw)), true
}

// errorEnvelope reads a failed answer's envelope, if it carries a message.
func errorEnvelope(data []byte) (envelope, bool) {
	var env envelope
	if json.Unmarshal(data, &env) != nil || env.Error == nil || strings.TrimSpace(env.Error.Details.Msg) == "" {
		return envelope{}, false
	}
	return env, true
}

// errorMessage is the envelope's message of a failed answer, never the
// token or the request; a body without one (a proxy's text) stands as it is.
func errorMessage(data []byte) string {
	if env, ok := errorEnvelope(data); ok {
		return env.Error.Details.Msg
	}
	return string(data)
}

func traceSuffix(id string) string {
	id = strings.TrimSpace(id)
	if id == "" {
		return ""
	}
	return " (trace " + clip(id) + ")"
}
