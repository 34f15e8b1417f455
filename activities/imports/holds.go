package imports

import (
	"context"
	"net/http"
	"time"

	"go.temporal.io/sdk/activity"

	"importer/activities/vendorapi"
	"importer/internal/connections"
)

// maxHold bounds how long one Retry-After holds a vendor connection.
const maxHold = time.Hour

// awaitHold waits, before a request to a vendor connection, until any
// Retry-After a vendor gave for it has passed: one this attempt got, one an
// earlier attempt of this chunk got (on any worker, even one that died or
// lost its attempt without telling), or one another chunk got. The hold is
// in the store every worker shares.
func (a *Activities) awaitHold(ctx context.Context, vendor string, conn connections.Connection) error {
	until, err := a.Store.VendorHold(ctx, vendor, conn.Name)
	if err != nil {
		return err
	}
	wait := time.Until(until)
	if wait <= 0 {
		return nil
	}
	activity.GetLogger(ctx).Debug("waiting for the vendor's Retry-After", "vendor", vendor, "connection", conn.Name, "wait", wait)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// holdOn429 records a vendor's 429 Retry-After (a second when it gave
// none) as a hold on the connection, before the attempt fails: the next
// attempt of this chunk, and every other chunk, waits it out whatever
// worker runs it. It is recorded even when the attempt was cancelled.
func (a *Activities) holdOn429(ctx context.Context, vendor string, conn connections.Connection, err error) {
	ve, ok := vendorapi.As(err)
	if !ok || ve.Status != http.StatusTooManyRequests {
		return
	}
	wait := min(max(ve.RetryAfter, time.Second), maxHold)
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if herr := a.Store.HoldVendor(hctx, vendor, conn.Name, time.Now().Add(wait)); herr != nil {
		activity.GetLogger(ctx).Warn("could not record the vendor's Retry-After for the other workers; this chunk's retry still waits for it", "error", herr)
	}
}
