package fynd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Definition is a user attribute definition: the slug is the key that
// bulk updates set values under.
type Definition struct {
	ID               string // _id
	Name             string
	Slug             string
	Description      string
	Type             string
	CustomerEditable bool
	Encrypted        bool
	Pinned           bool
	Locked           bool // is_locked
	CreatedAt        time.Time
	ModifiedAt       time.Time
}

// DefinitionInput creates or updates a definition. Fynd's type words are
// not documented; Type is sent as given. Slug is only sent on create (the
// update operation takes none).
type DefinitionInput struct {
	Name, Slug, Description, Type string
	CustomerEditable              *bool
}

func decodeDefinition(m map[string]any) Definition {
	return Definition{
		ID:               str(pick(m, "_id", "id")),
		Name:             str(m["name"]),
		Slug:             str(m["slug"]),
		Description:      str(m["description"]),
		Type:             str(m["type"]),
		CustomerEditable: boolean(m["customer_editable"]),
		Encrypted:        boolean(m["encrypted"]),
		Pinned:           boolean(m["pinned"]),
		Locked:           boolean(m["is_locked"]),
		CreatedAt:        timestamp(m["created_at"]),
		ModifiedAt:       timestamp(m["modified_at"]),
	}
}

// FindDefinition returns the definition with exactly this slug, or nil,
// nil when there is none. It pages through the list, since the slug filter
// is not documented to be exact.
func (c *Client) FindDefinition(ctx context.Context, slug string) (*Definition, error) {
	const op = "find attribute definition"
	if strings.TrimSpace(slug) == "" {
		return nil, fmt.Errorf("fynd: %s: empty slug", op)
	}
	return findListed(ctx, c, op, c.paths.Definitions, url.Values{"slug": {slug}}, decodeDefinition,
		func(d Definition) bool { return d.Slug == slug && d.ID != "" })
}

// CreateDefinition creates a definition. Fynd requires name, slug,
// description and type.
func (c *Client) CreateDefinition(ctx context.Context, in DefinitionInput) (Definition, error) {
	const op = "create attribute definition"
	if err := required(op, "name", in.Name, "slug", in.Slug, "description", in.Description, "type", in.Type); err != nil {
		return Definition{}, err
	}
	body := map[string]any{"name": in.Name, "slug": in.Slug, "description": in.Description, "type": in.Type}
	if in.CustomerEditable != nil {
		body["customer_editable"] = *in.CustomerEditable
	}
	return c.definitionCall(ctx, op, http.MethodPost, c.endpoint(c.paths.Definitions, "", nil), body)
}

// UpdateDefinition changes a definition's name, description, type and
// customer_editable; empty fields are left as they are.
func (c *Client) UpdateDefinition(ctx context.Context, id string, in DefinitionInput) (Definition, error) {
	const op = "update attribute definition"
	if strings.TrimSpace(id) == "" {
		return Definition{}, fmt.Errorf("fynd: %s: empty id", op)
	}
	body := map[string]any{}
	for k, v := range map[string]string{"name": in.Name, "description": in.Description, "type": in.Type} {
		if v != "" {
			body[k] = v
		}
	}
	if in.CustomerEditable != nil {
		body["customer_editable"] = *in.CustomerEditable
	}
	if len(body) == 0 {
		return Definition{}, fmt.Errorf("fynd: %s: nothing to change", op)
	}
	return c.definitionCall(ctx, op, http.MethodPut, c.endpoint(c.paths.Definition, id, nil), body)
}

// GetDefinition reads one definition.
func (c *Client) GetDefinition(ctx context.Context, id string) (Definition, error) {
	const op = "get attribute definition"
	if strings.TrimSpace(id) == "" {
		return Definition{}, fmt.Errorf("fynd: %s: empty id", op)
	}
	return c.definitionCall(ctx, op, http.MethodGet, c.endpoint(c.paths.Definition, id, nil), nil)
}

func (c *Client) definitionCall(ctx context.Context, op, method, u string, body any) (Definition, error) {
	return recordCall(ctx, c, op, method, u, body, decodeDefinition, func(d Definition) string { return d.ID })
}

// eachListed pages through a number-paged list ({items, page}), calling
// visit for each item until it returns true or the list ends.
// findListed pages through a list for the first item that match accepts;
// nil, nil when none does. Fynd's list filters are not documented to be
// exact, so the caller's match decides.
func findListed[T any](ctx context.Context, c *Client, op, tmpl string, q url.Values, decode func(map[string]any) T, match func(T) bool) (*T, error) {
	var found *T
	err := c.eachListed(ctx, op, tmpl, q, func(item map[string]any) bool {
		if v := decode(item); match(v) {
			found = &v
			return true
		}
		return false
	})
	return found, err
}

// required names the first of the (name, value) pairs whose value is blank.
func required(op string, pairs ...string) error {
	for i := 0; i+1 < len(pairs); i += 2 {
		if strings.TrimSpace(pairs[i+1]) == "" {
			return fmt.Errorf("fynd: %s: %s is required", op, pairs[i])
		}
	}
	return nil
}

func (c *Client) eachListed(ctx context.Context, op, tmpl string, q url.Values, visit func(map[string]any) bool) error {
	for pageNo := 1; pageNo <= maxPages; pageNo++ {
		q.Set("page_no", strconv.Itoa(pageNo))
		q.Set("page_size", strconv.Itoa(c.pageSize))
		_, m, err := c.callObject(ctx, op, http.MethodGet, c.endpoint(tmpl, "", q), nil)
		if err != nil {
			return err
		}
		items := array(m["items"])
		for _, it := range items {
			if o := object(it); o != nil && visit(o) {
				return nil
			}
		}
		if len(items) == 0 || !hasNextPage(object(m["page"]), pageNo, c.pageSize, len(items)) {
			return nil
		}
	}
	// Every page answered 200; retrying would page forever again.
	return badAnswer(op, http.StatusOK, fmt.Sprintf("list did not end after %d pages", maxPages))
}
