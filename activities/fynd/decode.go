package fynd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"importer/activities/vendorapi"
	"math"
	"strconv"
	"strings"
	"time"
)

// Phase is where an asynchronous piece of work (a bulk job, a group's
// processing) stands.
type Phase int

const (
	// Waiting: not finished; poll again.
	Waiting Phase = iota
	// Done: finished as asked (rows may still have failed one by one).
	Done
	// Failed: finished without doing what was asked.
	Failed
)

func (p Phase) String() string {
	switch p {
	case Done:
		return "done"
	case Failed:
		return "failed"
	}
	return "waiting"
}

// StatusPhase classifies a status word. Fynd documents only "pending", so
// the words are read leniently and case-insensitively: anything not known
// to be an end (queued, in_progress, processing, running, or a word never
// seen before) means keep waiting, since giving up on work that is still
// running would be worse than polling until the caller's deadline.
func StatusPhase(status string) Phase {
	s := strings.ToLower(strings.TrimSpace(status))
	s = strings.NewReplacer("-", "_", " ", "_").Replace(s)
	switch s {
	case "completed", "complete", "processed", "success", "succeeded", "successful", "done", "active":
		return Done
	case "failed", "failure", "error", "errored", "cancelled", "canceled", "aborted":
		return Failed
	}
	return Waiting
}

// decodeObject reads a JSON object, numbers kept exact.
func decodeObject(data []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("not an object")
	}
	return m, nil
}

// pick returns the first of keys that is set and not null. A key may be a
// dotted path into nested objects ("count.total").
func pick(m map[string]any, keys ...string) any {
	for _, k := range keys {
		var v any = m
		for _, part := range strings.Split(k, ".") {
			o, ok := v.(map[string]any)
			if !ok {
				v = nil
				break
			}
			v = o[part]
		}
		if v != nil {
			return v
		}
	}
	return nil
}

// str renders a string or number as text; anything else is "".
func str(v any) string {
	switch x := v.(type) {
	case string:
		return strings.TrimSpace(x)
	case json.Number:
		return x.String()
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return ""
}

// number reads a number sent as a number or as numeric text.
func number(v any) (float64, bool) {
	var f float64
	var err error
	switch x := v.(type) {
	case json.Number:
		f, err = x.Float64()
	case float64:
		f = x
	case string:
		f, err = strconv.ParseFloat(strings.TrimSpace(x), 64)
	default:
		return 0, false
	}
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// integer reads a whole count; fractions are cut, out-of-range values are
// refused.
func integer(v any) (int64, bool) {
	f, ok := number(v)
	if !ok || math.Abs(f) >= 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// count reads a non-negative count; 0 when absent or unreadable.
func count(v any) int {
	if n, ok := integer(v); ok && n > 0 {
		return int(n)
	}
	return 0
}

// boolean reads true, "true" or 1.
func boolean(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(x))
		return err == nil && b
	}
	n, ok := integer(v)
	return ok && n != 0
}

// timeLayouts are the date-time forms a timestamp may take.
var timeLayouts = []string{
	time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999", "2006-01-02",
}

// timestamp reads a date-time as text in a common layout, or as Unix
// seconds or milliseconds; zero when unreadable.
func timestamp(v any) time.Time {
	if s, ok := v.(string); ok {
		s = strings.TrimSpace(s)
		for _, l := range timeLayouts {
			if t, err := time.Parse(l, s); err == nil {
				return t
			}
		}
	}
	f, ok := number(v)
	if !ok || f <= 0 {
		return time.Time{}
	}
	if f >= 1e12 { // milliseconds
		return time.UnixMilli(int64(f)).UTC()
	}
	return time.Unix(int64(f), 0).UTC()
}

func object(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func array(v any) []any {
	a, _ := v.([]any)
	return a
}

// hasNextPage reads whether a number-paged list goes on: has_next when the
// answer says, else the item total, else whether the page was full.
func hasNextPage(page map[string]any, pageNo, pageSize, got int) bool {
	if v, ok := page["has_next"]; ok && v != nil {
		return boolean(v)
	}
	if total, ok := integer(page["item_total"]); ok {
		size := pageSize
		if s, ok := integer(page["size"]); ok && s > 0 {
			size = int(s)
		}
		return int64(pageNo)*int64(size) < total
	}
	return got >= pageSize
}

// callObject makes a call whose answer must be a JSON object.
func (c *Client) callObject(ctx context.Context, op, method, u string, body any) (int, map[string]any, error) {
	status, data, err := c.call(ctx, op, method, u, body)
	if err != nil {
		return status, nil, err
	}
	m, err := decodeObject(data)
	if err != nil {
		return status, nil, badAnswer(op, status, "answer is not a JSON object")
	}
	return status, m, nil
}

// recordCall makes a call whose answer is one record (a group, a
// definition), which must carry its id.
func recordCall[T any](ctx context.Context, c *Client, op, method, u string, body any, decode func(map[string]any) T, id func(T) string) (T, error) {
	var zero T
	status, m, err := c.callObject(ctx, op, method, u, body)
	if err != nil {
		return zero, err
	}
	v := decode(m)
	if id(v) == "" {
		return zero, badAnswer(op, status, "answer has no _id")
	}
	return v, nil
}

// badAnswer is a successful status whose body is not what Fynd documents.
func badAnswer(op string, status int, msg string) error {
	return &vendorapi.Error{Vendor: vendor, Op: op, Status: status, Message: msg}
}
