package vendorapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"importer/internal/vendorcall"
)

// DefaultMaxResponse bounds what Do reads of an answer.
const DefaultMaxResponse = 32 << 20

// Call is one request to a vendor API.
type Call struct {
	Vendor string // names the vendor in errors
	Op     string // what the call does, e.g. "bulk create users"
	Method string
	URL    string
	// Header is sent as is (authorization, for one).
	Header http.Header
	// JSON, when not nil, is encoded as the request body with
	// Content-Type application/json. Body and ContentType send anything
	// else (a form); at most one of JSON and Body is set.
	JSON        any
	Body        []byte
	ContentType string
	// MaxResponse bounds the answer read; 0 means DefaultMaxResponse.
	MaxResponse int64
	// Message reads the vendor's explanation out of a failed answer's
	// body; nil means DefaultMessage. It must not return user data.
	Message func(body []byte) string
	// SkipHTML keeps a proxy's HTML error page away from Message: an
	// answer labelled HTML reaches it only when its body is JSON. Without
	// Message, an HTML answer is never read.
	SkipHTML bool
	// Secrets are removed from any text the vendor sends back, should it
	// echo a credential.
	Secrets []string
	// Now reads the clock for Retry-After dates; nil means time.Now.
	Now func() time.Time
}

// RedirectRefused is the message of the *Error a redirect becomes.
const RedirectRefused = "the vendor answered with a redirect, which is not followed; check the base URL"

// NoRedirects is an http.Client's CheckRedirect that hands a redirect back
// as the answer instead of following it. Go's client drops only
// Authorization when a redirect leaves the host: any other credential
// header (BitLabs' X-S2S-Token) would go wherever the redirect points.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Do sends c and returns the status and body of a 2xx answer. Any other
// outcome is a *Error: Status 0 when no answer arrived (retryable), the
// status and the vendor's explanation otherwise, with Retry-After read.
// A redirect (3xx) is never followed, whatever hc's CheckRedirect says: it
// comes back as a final *Error whose Message is RedirectRefused.
// A cancelled ctx comes back as ctx.Err(), wrapped, not as a vendor error.
func Do(ctx context.Context, hc *http.Client, c Call) (int, []byte, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	// A shallow copy shares the transport (its connections and metrics)
	// and changes only how redirects are handled.
	refusing := *hc
	refusing.CheckRedirect = NoRedirects
	hc = &refusing
	var rd io.Reader
	contentType := c.ContentType
	switch {
	case c.JSON != nil:
		b, err := json.Marshal(c.JSON)
		if err != nil {
			// The encoder's message can quote a value; keep only its kind.
			return 0, nil, fmt.Errorf("%s: %s: encode request: %s", c.Vendor, c.Op, EncodeProblem(err))
		}
		rd, contentType = bytes.NewReader(b), "application/json"
	case c.Body != nil:
		rd = bytes.NewReader(c.Body)
	}
	req, err := http.NewRequestWithContext(vendorcall.WithVendor(ctx, c.Vendor), c.Method, c.URL, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %s: %w", c.Vendor, c.Op, err)
	}
	for k, vs := range c.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("Accept") == "" {
		req.Header.Set("Accept", "application/json")
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, fmt.Errorf("%s: %s: %w", c.Vendor, c.Op, ctx.Err())
		}
		// The transport error names the URL, never a header or the body.
		return 0, nil, &Error{Vendor: c.Vendor, Op: c.Op, Err: err}
	}
	defer resp.Body.Close()
	limit := c.MaxResponse
	if limit <= 0 {
		limit = DefaultMaxResponse
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil, fmt.Errorf("%s: %s: %w", c.Vendor, c.Op, ctx.Err())
		}
		return 0, nil, &Error{Vendor: c.Vendor, Op: c.Op, Err: fmt.Errorf("read answer: %w", err)}
	}
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp.StatusCode, data, nil
	}
	if resp.StatusCode >= 300 && resp.StatusCode <= 399 {
		// Where it points is not quoted: the Location may carry a token.
		return resp.StatusCode, nil, &Error{Vendor: c.Vendor, Op: c.Op, Status: resp.StatusCode, Message: RedirectRefused}
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	ve := &Error{Vendor: c.Vendor, Op: c.Op, Status: resp.StatusCode,
		RetryAfter: vendorcall.ParseRetryAfter(resp.Header.Get("Retry-After"), now())}
	var msg string
	html := strings.Contains(resp.Header.Get("Content-Type"), "html")
	switch {
	case html && (c.Message == nil || c.SkipHTML && !json.Valid(data)):
		// An HTML error page (a proxy's, a load balancer's) says nothing a
		// person running an import can use.
	case c.Message != nil:
		msg = c.Message(data)
	default:
		msg = DefaultMessage(data)
	}
	ve.Message = Trim(Scrub(msg, c.Secrets...))
	return resp.StatusCode, data, ve
}

// DefaultMessage reads the explanation of a failed answer: the text of a
// JSON body's message, error, detail or errors field (a string, or a
// structure holding one), or a short plain-text body as it is.
func DefaultMessage(body []byte) string {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return ""
	}
	var obj map[string]any
	if err := json.Unmarshal(body, &obj); err != nil {
		if json.Valid(body) {
			return ""
		}
		return string(body)
	}
	var parts []string
	for _, k := range []string{"message", "error", "detail", "errors", "msg", "error_description"} {
		if s := TextOf(obj[k]); s != "" {
			parts = append(parts, s)
		}
	}
	return JoinDistinct("; ", parts...)
}

// TextOf renders an error field, which vendors send as a string, a number,
// a list, or an object with a message inside, as one line of text.
func TextOf(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		var parts []string
		for _, e := range x {
			if s := TextOf(e); s != "" {
				parts = append(parts, s)
			}
		}
		return JoinDistinct("; ", parts...)
	case map[string]any:
		for _, k := range []string{"message", "msg", "details", "detail", "error", "reason", "description"} {
			if s := TextOf(x[k]); s != "" {
				return s
			}
		}
	}
	return ""
}

// Scrub removes secrets from a text a vendor sent back.
func Scrub(msg string, secrets ...string) string {
	for _, s := range secrets {
		if len(s) >= 4 {
			msg = strings.ReplaceAll(msg, s, "[redacted]")
		}
	}
	return msg
}

// EncodeProblem describes a JSON encoding failure without the value.
func EncodeProblem(err error) string {
	var ute *json.UnsupportedTypeError
	if errors.As(err, &ute) {
		return "unsupported value type " + ute.Type.String()
	}
	var uve *json.UnsupportedValueError
	if errors.As(err, &uve) {
		return "unsupported value (for example a non-finite number)"
	}
	var me *json.MarshalerError
	if errors.As(err, &me) {
		return "a value could not be encoded (for example an invalid json.Number)"
	}
	return "a value could not be encoded"
}

// JoinDistinct joins the parts that are not blank with sep, each once:
// vendors often say the same thing in two fields of one error.
func JoinDistinct(sep string, parts ...string) string {
	seen := make(map[string]bool, len(parts))
	kept := make([]string, 0, len(parts))
	for _, p := range parts {
		if strings.TrimSpace(p) == "" || seen[p] {
			continue
		}
		seen[p] = true
		kept = append(kept, p)
	}
	return strings.Join(kept, sep)
}
