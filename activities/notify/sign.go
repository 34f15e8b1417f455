package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"time"
)

// Headers of a signed post, as the Standard Webhooks specification
// (standardwebhooks.com) names them. A post to a webhook with a secret
// (IMPORTER_WEBHOOK_[<NAME>_]SECRET, or its secret in the worker's config
// file) carries all three; a post to one without carries none.
const (
	// HeaderWebhookID is the notification's ID, the same on every attempt
	// (and the same as the Idempotency-Key).
	HeaderWebhookID = "webhook-id"
	// HeaderWebhookTimestamp is the attempt's time, in Unix seconds.
	HeaderWebhookTimestamp = "webhook-timestamp"
	// HeaderWebhookSignature is "v1," and the base64 (standard encoding)
	// of HMAC-SHA256 under the secret's key of id.timestamp.body, body
	// being the bytes posted.
	HeaderWebhookSignature = "webhook-signature"
)

// sign sets the Standard Webhooks headers of a post of body for n when its
// webhook has a secret, and nothing when it has none. The only error is a
// secret that is not a Standard Webhooks one, named but not quoted.
func (a *Activities) sign(h http.Header, n Notification, body []byte) error {
	key, ok, err := a.Webhooks.WebhookSecret(n.Webhook)
	if err != nil || !ok {
		return err
	}
	ts := strconv.FormatInt(a.now().Unix(), 10)
	h.Set(HeaderWebhookID, n.ID)
	h.Set(HeaderWebhookTimestamp, ts)
	h.Set(HeaderWebhookSignature, signature(key, n.ID, ts, body))
	return nil
}

// signature is the Standard Webhooks v1 signature of one post.
func signature(key []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// now is the time of an attempt: Activities.Now, or the system's clock.
func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}
