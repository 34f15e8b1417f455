package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// HoldVendor records that nothing may be sent to a vendor connection before
// until (a 429's Retry-After): every worker that shares the store waits
// for it (VendorHold). A hold is only ever extended, never shortened.
func (s *Store) HoldVendor(ctx context.Context, vendor, connection string, until time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO vendor_holds (vendor, connection, until_ms) VALUES ($1, $2, $3)
ON CONFLICT (vendor, connection) DO UPDATE SET until_ms =
  CASE WHEN excluded.until_ms > vendor_holds.until_ms THEN excluded.until_ms ELSE vendor_holds.until_ms END`,
		vendor, connection, until.UnixMilli())
	if err != nil {
		return fmt.Errorf("record the hold on %s connection %s (%s): %w", vendor, connection, s.Describe(), err)
	}
	return nil
}

// VendorHold is the time before which nothing may be sent to a vendor
// connection; the zero time when it was never held.
func (s *Store) VendorHold(ctx context.Context, vendor, connection string) (time.Time, error) {
	var ms int64
	err := s.db.QueryRowContext(ctx, `SELECT until_ms FROM vendor_holds WHERE vendor = $1 AND connection = $2`, vendor, connection).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read the hold on %s connection %s (%s): %w", vendor, connection, s.Describe(), err)
	}
	return time.UnixMilli(ms), nil
}
