package userpilot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"importer/activities/vendorapi"
)

// DefaultBaseURL is Userpilot's (US) API host. EU accounts use
// https://analytex-eu.userpilot.io; enterprise accounts may have their own.
const DefaultBaseURL = "https://analytex.userpilot.io"

// MaxBulk is the most users one bulk identify request may carry.
const MaxBulk = 10000

// Paths, relative to the base URL.
const (
	BulkIdentifyPath = "/v1/users/bulk_identify"
	JobsPath         = "/v1/background_jobs"
)

// Job statuses Userpilot documents. Only completed and failed are final;
// the others (queued, validating, processing, pending_refresh) mean "keep
// polling".
const (
	StatusQueued         = "queued"
	StatusValidating     = "validating"
	StatusProcessing     = "processing"
	StatusPendingRefresh = "pending_refresh"
	StatusCompleted      = "completed"
	StatusFailed         = "failed"
)

// vendor names Userpilot in errors.
const vendor = "userpilot"

// Job is a background job, as far as the importer needs it.
type Job struct {
	JobID         string `json:"job_id"`
	Status        string `json:"status"`
	TotalRows     int    `json:"total_rows"`
	CompletedRows int    `json:"completed_rows"`
	// Reason is, for a failed job, the job's error or message text if the
	// vendor gave one.
	Reason string `json:"-"`
}

// Terminal says whether the job has ended (completed or failed).
func (j Job) Terminal() bool {
	s := strings.ToLower(strings.TrimSpace(j.Status))
	return s == StatusCompleted || s == StatusFailed
}

// Failed says whether the job ended in failure.
func (j Job) Failed() bool {
	return strings.EqualFold(strings.TrimSpace(j.Status), StatusFailed)
}

// Client calls one Userpilot environment's bulk API.
type Client struct {
	base string
	key  string
	hc   *http.Client
}

// New makes a client. hc may be nil for http.DefaultClient; give it a
// timeout, since a vendor that never answers would hold an activity forever.
func New(baseURL, apiKey string, hc *http.Client) *Client {
	return &Client{base: strings.TrimRight(baseURL, "/"), key: apiKey, hc: hc}
}

// BulkIdentify submits users (create or update) as one background job and
// returns the job as Userpilot accepted it. More than MaxBulk users, or
// none, are refused before anything is sent. A 409 (another job is running)
// comes back as a *vendorapi.Error with Conflict set: nothing was accepted,
// and the same users may be sent again later.
func (c *Client) BulkIdentify(ctx context.Context, users []User) (Job, error) {
	const op = "bulk identify users"
	if len(users) > MaxBulk {
		return Job{}, fmt.Errorf("userpilot: %s: %d users, at most %d in one request", op, len(users), MaxBulk)
	}
	if len(users) == 0 {
		return Job{}, fmt.Errorf("userpilot: %s: no users to send", op)
	}
	body := struct {
		Users []User `json:"users"`
	}{users}
	data, status, err := c.do(ctx, http.MethodPost, BulkIdentifyPath, op, body)
	if err != nil {
		return Job{}, err
	}
	return decodeJob(op, status, data)
}

// Job returns the state of a background job. Job IDs contain colons
// ("bulk:jobs:NX-…:…"), which stay as they are in the path.
func (c *Client) Job(ctx context.Context, id string) (Job, error) {
	const op = "get background job"
	if strings.TrimSpace(id) == "" {
		return Job{}, fmt.Errorf("userpilot: %s: empty job id", op)
	}
	data, status, err := c.do(ctx, http.MethodGet, JobsPath+"/"+url.PathEscape(id), op, nil)
	if err != nil {
		return Job{}, err
	}
	return decodeJob(op, status, data)
}

// Jobs lists the environment's background jobs. Listed jobs carry no
// completed_rows.
func (c *Client) Jobs(ctx context.Context) ([]Job, error) {
	const op = "list background jobs"
	data, status, err := c.do(ctx, http.MethodGet, JobsPath, op, nil)
	if err != nil {
		return nil, err
	}
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		// The docs show a bare array; take a wrapped one too.
		var wrapped struct {
			Jobs []json.RawMessage `json:"jobs"`
			Data []json.RawMessage `json:"data"`
		}
		if json.Unmarshal(data, &wrapped) != nil || (wrapped.Jobs == nil && wrapped.Data == nil) {
			return nil, &vendorapi.Error{Vendor: vendor, Op: op, Status: status, Message: "answer is not a list of jobs"}
		}
		raws = append(wrapped.Jobs, wrapped.Data...)
	}
	jobs := make([]Job, 0, len(raws))
	for _, raw := range raws {
		j, err := decodeJob(op, status, raw)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// rawJob is a job as the vendor may send it. The docs disagree on its
// shape (a prose example with submitted_at, an OpenAPI schema with
// start_time, file_size, ...), so only job_id and status are required and
// everything else is read if it is there.
type rawJob struct {
	JobID         any             `json:"job_id"`
	Status        any             `json:"status"`
	TotalRows     any             `json:"total_rows"`
	CompletedRows any             `json:"completed_rows"`
	Error         json.RawMessage `json:"error"`
	Message       json.RawMessage `json:"message"`
	Errors        json.RawMessage `json:"errors"`
}

func decodeJob(op string, status int, data []byte) (Job, error) {
	var raw rawJob
	if err := json.Unmarshal(data, &raw); err != nil {
		return Job{}, &vendorapi.Error{Vendor: vendor, Op: op, Status: status, Message: "answer is not a job object"}
	}
	var j Job
	j.JobID = scalar(raw.JobID)
	j.Status = strings.TrimSpace(scalar(raw.Status))
	if j.JobID == "" || j.Status == "" {
		return Job{}, &vendorapi.Error{Vendor: vendor, Op: op, Status: status, Message: "answer has no job_id or status"}
	}
	j.TotalRows = count(raw.TotalRows)
	j.CompletedRows = count(raw.CompletedRows)
	if j.Failed() {
		j.Reason = vendorapi.Trim(vendorapi.JoinDistinct("; ", reasonText(raw.Errors), reasonText(raw.Error), reasonText(raw.Message)))
	}
	return j, nil
}

// scalar renders a JSON string or number as text; anything else is "".
func scalar(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

// count reads a row count sent as a number or a numeric string; 0 otherwise.
func count(v any) int {
	switch x := v.(type) {
	case float64:
		if x > 0 && x < 1<<53 {
			return int(x)
		}
	case string:
		if n, err := strconv.Atoi(strings.TrimSpace(x)); err == nil && n > 0 {
			return n
		}
	}
	return 0
}

// errorItem is one entry of Userpilot's ErrorResponse.
type errorItem struct {
	Details   any    `json:"details"`
	Error     any    `json:"error"`
	ErrorCode any    `json:"error_code"`
	Message   string `json:"message"`
}

// reasonText reads a job's or an error answer's explanation: a string, an
// {"errors":[…]}-style list of items or strings, or one such item.
func reasonText(raw json.RawMessage) string {
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return strings.TrimSpace(s)
	}
	var list []json.RawMessage
	if json.Unmarshal(raw, &list) == nil {
		var parts []string
		for _, item := range list {
			parts = append(parts, reasonText(item))
		}
		return vendorapi.JoinDistinct("; ", parts...)
	}
	var item errorItem
	if json.Unmarshal(raw, &item) == nil {
		return itemText(item)
	}
	return ""
}

// itemText joins an error item's message and details, e.g.
// "Invalid request: users[3].metadata.plan must be a primitive". The error
// code or name stands in when there is neither.
func itemText(it errorItem) string {
	msg := strings.TrimSpace(it.Message)
	details := strings.TrimSpace(textOf(it.Details))
	name := strings.TrimSpace(textOf(it.Error))
	code := strings.TrimSpace(textOf(it.ErrorCode))
	switch {
	case msg == "" && details == "":
		return vendorapi.JoinDistinct(": ", name, code)
	case msg == "":
		msg = details
	case details != "" && !strings.Contains(msg, details):
		msg = strings.TrimRight(msg, ".:; ") + ": " + details
	}
	if msg == "" {
		msg = name
	}
	return msg
}

// textOf renders a details/error field, which may be a string or a
// structure, as text.
func textOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		var parts []string
		for _, e := range x {
			if s := textOf(e); strings.TrimSpace(s) != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, "; ")
	case map[string]any:
		for _, k := range []string{"message", "details", "detail", "error"} {
			if s := textOf(x[k]); s != "" {
				return s
			}
		}
	}
	return ""
}

// do sends one request (body, when not nil, as JSON) and returns the body
// of a 2xx answer. A 409 means another job is running: Conflict is set so
// that the caller retries later.
func (c *Client) do(ctx context.Context, method, path, op string, body any) ([]byte, int, error) {
	status, data, err := vendorapi.Do(ctx, c.hc, vendorapi.Call{
		Vendor:   vendor,
		Op:       op,
		Method:   method,
		URL:      c.base + path,
		Header:   http.Header{"Authorization": {"Token " + c.key}},
		JSON:     body,
		Message:  errorMessage,
		SkipHTML: true,
		Secrets:  []string{c.key},
	})
	if err != nil {
		if ve, ok := vendorapi.As(err); ok && status == http.StatusConflict {
			ve.Conflict = true
		}
		return nil, status, err
	}
	return data, status, nil
}

// errorMessage reads the explanation of a failed answer; a body that is not
// a JSON object (a proxy's text) stands as it is.
func errorMessage(data []byte) string {
	var body struct {
		Errors  json.RawMessage `json:"errors"`
		Message json.RawMessage `json:"message"`
		Error   json.RawMessage `json:"error"`
		Detail  json.RawMessage `json:"detail"`
	}
	if json.Unmarshal(data, &body) != nil {
		return string(data)
	}
	return vendorapi.JoinDistinct("; ", reasonText(body.Errors), reasonText(body.Message),
		reasonText(body.Error), reasonText(body.Detail))
}
