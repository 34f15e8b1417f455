package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"

	"importer/activities/vendorapi"
	"importer/internal/connections"
	"importer/internal/vendorcall"
)

// DeliverName is the registered name of the delivery activity.
const DeliverName = "DeliverNotification"

// Failure types of a delivery.
const (
	// UnknownWebhook: the worker has no webhook of that name, or its URL
	// is not usable. Not retried: the operator must configure it.
	UnknownWebhook = "UnknownWebhook"
	// WebhookRefused: the receiver refused the notification for good (a
	// 4xx other than 408, 425 and 429). Not retried.
	WebhookRefused = "WebhookRefused"
	// WebhookUnavailable: no answer, a 5xx, a timeout or throttling;
	// retried with backoff.
	WebhookUnavailable = "WebhookUnavailable"
)

// Defaults of a delivery.
const (
	// DefaultFirstRetry and DefaultMaxRetry bound the wait between two
	// attempts: it doubles from the first to the longest.
	DefaultFirstRetry = time.Second
	DefaultMaxRetry   = 5 * time.Minute
	// DefaultTimeout bounds one POST.
	DefaultTimeout = 30 * time.Second
	// maxRetryAfter bounds how long a receiver's Retry-After is obeyed.
	maxRetryAfter = time.Hour
)

// Backoff is the wait between two delivery attempts: First after the first
// failed attempt, doubling up to Max. Zero values are the defaults (1s and
// 5 minutes); a receiver's Retry-After, up to an hour, wins over both.
type Backoff struct {
	First time.Duration
	Max   time.Duration
}

// Delay is the wait after failed attempt number attempt (1 is the first).
func (b Backoff) Delay(attempt int32) time.Duration {
	first, maxWait := b.First, b.Max
	if first <= 0 {
		first = DefaultFirstRetry
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxRetry
	}
	d := first
	for i := int32(1); i < attempt && d < maxWait; i++ {
		d *= 2
	}
	return min(d, maxWait)
}

// Activities delivers notifications from the worker, which alone knows the
// webhooks' URLs.
type Activities struct {
	// Webhooks maps webhook names to URLs and, for the webhooks whose
	// posts are signed, secrets (internal/connections).
	Webhooks connections.Set
	// HTTP posts the notifications; nil is a client with the system's
	// roots and DefaultTimeout. Redirects are never followed.
	HTTP *http.Client
	// UI is the Temporal web UI's base URL (IMPORTER_UI_URL); "" leaves
	// the run's link out of notifications.
	UI string
	// Retry is the wait between attempts; see Backoff.
	Retry Backoff
	// Now is the clock of a signed post's webhook-timestamp; nil is
	// time.Now.
	Now func() time.Time
	// Runs reads what Temporal recorded of the run a notification reports
	// on (see verify); without it nothing is delivered.
	Runs Runs
}

// Register registers the activity under its public name.
func (a *Activities) Register(w worker.ActivityRegistry) {
	w.RegisterActivityWithOptions(a.Deliver, activity.RegisterOptions{Name: DeliverName})
}

// Deliver posts a notification to its webhook, once: a 2xx answer ends it.
// First it checks, with Temporal, that the notification's workflow was
// started by the run it reports on and that this run ended as it says, and
// takes the run's recorded status, failure and counts (verify): a Notify
// workflow started by hand posts nothing. No answer, a 5xx, 408, 425 or 429 fail the attempt as retryable, after
// the Backoff (or the receiver's Retry-After); any other answer, and a
// webhook the worker does not know, fail it for good. Every attempt sends
// the same Idempotency-Key (the notification's ID), so a receiver can drop
// the copy an attempt that succeeded but was not recorded (a worker that
// died mid-answer) would make. Errors name the webhook, never its URL.
func (a *Activities) Deliver(ctx context.Context, n Notification) error {
	info := activity.GetInfo(ctx)
	n, err := a.verify(ctx, n)
	if err != nil {
		return err
	}
	target, err := a.Webhooks.Webhook(n.Webhook)
	if err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), UnknownWebhook, nil)
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false) // the text is escaped for Slack already
	if err := enc.Encode(BuildPayload(n, info.Namespace, a.UI)); err != nil {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("encode the notification: %v", err), WebhookRefused, nil)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, &body)
	if err != nil {
		// The error would quote the URL.
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("webhook %q has a URL that cannot be requested", n.Webhook), UnknownWebhook, nil)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "importer-notify")
	req.Header.Set("Idempotency-Key", n.ID)
	req.Header.Set("X-Importer-Event", n.Event)
	if err := a.sign(req.Header, n, body.Bytes()); err != nil {
		return temporal.NewNonRetryableApplicationError(err.Error(), UnknownWebhook, nil)
	}
	resp, err := a.client().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		// A *url.Error quotes the URL, the secret: keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return a.retry(info.Attempt, 0, fmt.Sprintf("webhook %q did not answer: %v", n.Webhook, err))
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	answer := resp.Status
	if m := vendorapi.Trim(string(text)); m != "" {
		answer += ": " + m
	}
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		activity.GetLogger(ctx).Info("notification delivered", "webhook", n.Webhook, "event", n.Event,
			"workflow_id", n.WorkflowID, "attempt", info.Attempt)
		return nil
	case code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooEarly || code == http.StatusTooManyRequests:
		wait := min(vendorcall.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), maxRetryAfter)
		return a.retry(info.Attempt, wait, fmt.Sprintf("webhook %q answered %s", n.Webhook, answer))
	default:
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("webhook %q refused the notification: %s", n.Webhook, answer), WebhookRefused, nil)
	}
}

// retry fails an attempt as retryable, the next one after wait (a
// receiver's Retry-After) or else the backoff.
func (a *Activities) retry(attempt int32, wait time.Duration, msg string) error {
	if wait <= 0 {
		wait = a.Retry.Delay(attempt)
	}
	return temporal.NewApplicationErrorWithOptions(msg, WebhookUnavailable, temporal.ApplicationErrorOptions{NextRetryDelay: wait})
}

func (a *Activities) client() *http.Client {
	if a.HTTP != nil {
		return a.HTTP
	}
	return &http.Client{Timeout: DefaultTimeout, CheckRedirect: NoRedirects}
}

// NoRedirects makes a client return a redirect as the answer: a webhook
// that moved is reported, not followed with the notification.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
