package metrics

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"

	"importer/internal/vendorcall"
)

// VendorTransport counts the vendor requests base sends
// (importer_vendor_requests_total, importer_vendor_request_duration_seconds,
// importer_retry_after_seconds_total) with the metrics handler of the
// activity whose context the request carries, labelled with the vendor
// the request's context names (vendorcall.WithVendor). A request made
// outside an activity, or for no named vendor, is sent as it is and not
// counted. Nothing of the
// request (URL, headers, body) becomes a label.
func VendorTransport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return vendorTransport{base: base}
}

type vendorTransport struct{ base http.RoundTripper }

func (t vendorTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	vendor := vendorcall.VendorOf(ctx)
	if vendor == "" || !activity.IsActivity(ctx) {
		return t.base.RoundTrip(req)
	}
	start := time.Now()
	resp, err := t.base.RoundTrip(req)
	h := activity.GetMetricsHandler(ctx).WithTags(map[string]string{LabelVendor: vendor})
	status := StatusNetwork
	switch {
	case err == nil:
		status = strconv.Itoa(resp.StatusCode)
		h.Timer(VendorRequestDuration).Record(time.Since(start))
		if resp.StatusCode >= 400 {
			if ra := vendorcall.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ra > 0 {
				h.Counter(RetryAfterSecondsTotal).Inc(int64(math.Ceil(ra.Seconds())))
			}
		}
	case ctx.Err() != nil:
		status = StatusCanceled
	}
	h.WithTags(map[string]string{LabelStatus: status}).Counter(VendorRequestsTotal).Inc(1)
	return resp, err
}
