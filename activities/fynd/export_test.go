package fynd

import "time"

// SetClock makes c read time from now, so that a test can share one fake
// clock between the client and the fake server.
func SetClock(c *Client, now func() time.Time) { c.now = now }

// SetPageSize changes the page size c uses when it pages through a list.
func SetPageSize(c *Client, n int) { c.pageSize = n }
