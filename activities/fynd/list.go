package fynd

import (
	"context"
	"net/url"
)

// ListGroups returns every group of the application, page by page.
func (c *Client) ListGroups(ctx context.Context) ([]Group, error) {
	var out []Group
	err := c.eachListed(ctx, "list user groups", c.paths.Groups, url.Values{}, func(item map[string]any) bool {
		if g := decodeGroup(item); g.ID != "" {
			out = append(out, g)
		}
		return false
	})
	return out, err
}
