package fynd

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"importer/activities/vendorapi"
)

// Group is a user group.
type Group struct {
	ID          string // _id
	UID         int64  // uid, the number Fynd shows people
	Name        string
	Description string
	FileURL     string
	Status      string
	Type        string
	Category    string
	IsActive    bool
	TotalUsers  TotalUsers
	Error       GroupError
	CreatedAt   time.Time
	ModifiedAt  time.Time
}

// Processed says whether the group's latest file has been processed.
func (g Group) Processed() bool { return StatusPhase(g.Status) == Done }

// Failed says whether processing the group's latest file failed.
func (g Group) Failed() bool { return StatusPhase(g.Status) == Failed }

// GroupError is what a group reports of rows it could not use: how many,
// and a file that lists them.
type GroupError struct {
	Count   int
	FileURL string
	// Message is the vendor's text, when it sends one instead of or with
	// the file.
	Message string
}

// TotalUsers is a group's user count as Fynd last computed it: it changes
// when a refresh ends, not when members change.
type TotalUsers struct {
	Count     int
	UpdatedAt time.Time
	// Known says whether the answer carried a count at all.
	Known bool
}

// GroupInput creates a group from a CSV file of identifiers (user_id,
// email or phone_number). Fynd requires all four fields.
type GroupInput struct {
	Name, Description, Category, FileURL string
}

// GroupPatch changes a group. FileURL names a CSV whose action column
// (add or remove) says what to do with each user; empty fields are left
// as they are.
type GroupPatch struct {
	FileURL     string `json:"file_url,omitempty"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
}

// Refresh is Fynd's answer to a refresh of total users.
type Refresh struct {
	Message string
	UID     int64
}

// Member is a user in a group. Phones are as Fynd sends them, with the
// country code in front ("+91...") when it is sent apart.
type Member struct {
	UserID string
	Emails []string
	Phones []string
}

// MembersPage is one page of a group's members.
type MembersPage struct {
	Items      []Member
	NextCursor string
	HasNext    bool
}

func decodeGroup(m map[string]any) Group {
	g := Group{
		ID:          str(pick(m, "_id", "id")),
		Name:        str(m["name"]),
		Description: str(m["description"]),
		FileURL:     str(m["file_url"]),
		Status:      str(m["status"]),
		Type:        str(m["type"]),
		Category:    str(m["category"]),
		IsActive:    boolean(m["is_active"]),
		TotalUsers:  decodeTotalUsers(m["total_users"]),
		CreatedAt:   timestamp(m["created_at"]),
		ModifiedAt:  timestamp(m["modified_at"]),
	}
	if uid, ok := integer(m["uid"]); ok {
		g.UID = uid
	}
	switch e := m["error"].(type) {
	case map[string]any:
		g.Error = GroupError{
			Count:   count(pick(e, "count", "total")),
			FileURL: str(pick(e, "file_url", "url", "file")),
			Message: vendorapi.Trim(vendorapi.TextOf(pick(e, "message", "reason"))),
		}
	case string:
		g.Error.Message = vendorapi.Trim(e)
	}
	return g
}

// decodeTotalUsers reads total_users, which the reference types only as
// "object": a count under count, total, value or users (or a bare number,
// or a list of users), and a time under one of the usual names.
func decodeTotalUsers(v any) TotalUsers {
	var tu TotalUsers
	if m := object(v); m != nil {
		v = pick(m, "count", "total", "value", "users")
		tu.UpdatedAt = timestamp(pick(m, "updated_at", "refreshed_at", "last_refreshed_at", "modified_at"))
	}
	if l, isList := v.([]any); isList {
		tu.Count, tu.Known = len(l), true
		return tu
	}
	if n, ok := integer(v); ok && n >= 0 {
		tu.Count, tu.Known = int(n), true
	}
	return tu
}

// FindGroup returns the group with exactly this name, or nil, nil when
// there is none. Group creation is not idempotent, so a caller that may
// run twice looks a group up before creating it.
func (c *Client) FindGroup(ctx context.Context, name string) (*Group, error) {
	const op = "find user group"
	if strings.TrimSpace(name) == "" {
		return nil, fmt.Errorf("fynd: %s: empty name", op)
	}
	return findListed(ctx, c, op, c.paths.Groups, url.Values{"name": {name}}, decodeGroup,
		func(g Group) bool { return g.Name == name && g.ID != "" })
}

// CreateGroup creates a group from a CSV file. Fynd answers at once with
// the group "pending" and reads the file in the background; poll GetGroup
// until Processed or Failed.
func (c *Client) CreateGroup(ctx context.Context, in GroupInput) (Group, error) {
	const op = "create user group"
	if err := required(op, "name", in.Name, "description", in.Description, "category", in.Category, "file URL", in.FileURL); err != nil {
		return Group{}, err
	}
	body := map[string]string{"name": in.Name, "description": in.Description, "category": in.Category, "file_url": in.FileURL}
	return c.groupCall(ctx, op, http.MethodPost, c.endpoint(c.paths.Groups, "", nil), body)
}

// GetGroup reads a group.
func (c *Client) GetGroup(ctx context.Context, id string) (Group, error) {
	const op = "get user group"
	if strings.TrimSpace(id) == "" {
		return Group{}, fmt.Errorf("fynd: %s: empty id", op)
	}
	return c.groupCall(ctx, op, http.MethodGet, c.endpoint(c.paths.Group, id, nil), nil)
}

// PatchGroup changes a group. With a FileURL the group goes back to
// pending until the file is processed.
func (c *Client) PatchGroup(ctx context.Context, id string, p GroupPatch) (Group, error) {
	const op = "patch user group"
	if strings.TrimSpace(id) == "" {
		return Group{}, fmt.Errorf("fynd: %s: empty id", op)
	}
	if p == (GroupPatch{}) {
		return Group{}, fmt.Errorf("fynd: %s: nothing to change", op)
	}
	return c.groupCall(ctx, op, http.MethodPatch, c.endpoint(c.paths.Group, id, nil), p)
}

func (c *Client) groupCall(ctx context.Context, op, method, u string, body any) (Group, error) {
	return recordCall(ctx, c, op, method, u, body, decodeGroup, func(g Group) string { return g.ID })
}

// RefreshGroup asks Fynd to recount a group's users. It answers 202 and
// counts in the background: TotalUsers stays as it was until then, so
// wait for TotalUsers.UpdatedAt to move.
func (c *Client) RefreshGroup(ctx context.Context, id string) (Refresh, error) {
	const op = "refresh user group total"
	if strings.TrimSpace(id) == "" {
		return Refresh{}, fmt.Errorf("fynd: %s: empty id", op)
	}
	status, data, err := c.call(ctx, op, http.MethodPost, c.endpoint(c.paths.GroupRefresh, id, nil), nil)
	if err != nil {
		return Refresh{}, err
	}
	var r Refresh
	if len(strings.TrimSpace(string(data))) == 0 {
		return r, nil // a bare 202 says all there is to say
	}
	m, err := decodeObject(data)
	if err != nil {
		return Refresh{}, badAnswer(op, status, "answer is not a JSON object")
	}
	r.Message = vendorapi.Trim(str(m["message"]))
	if uid, ok := integer(m["uid"]); ok {
		r.UID = uid
	}
	return r, nil
}

// GroupUsers reads one page of a group's members: the first with an
// empty cursor, then each with the NextCursor of the one before, while
// HasNext. pageSize 0 lets Fynd choose.
func (c *Client) GroupUsers(ctx context.Context, groupID, cursor string, pageSize int) (MembersPage, error) {
	const op = "list user group members"
	if strings.TrimSpace(groupID) == "" {
		return MembersPage{}, fmt.Errorf("fynd: %s: empty group id", op)
	}
	q := url.Values{"direction": {"next"}}
	if cursor != "" {
		q.Set("cursor", cursor)
	}
	if pageSize > 0 {
		q.Set("page_size", strconv.Itoa(pageSize))
	}
	status, m, err := c.callObject(ctx, op, http.MethodGet, c.endpoint(c.paths.GroupUsers, groupID, q), nil)
	if err != nil {
		return MembersPage{}, err
	}
	var page MembersPage
	for _, it := range array(m["items"]) {
		if o := object(it); o != nil {
			page.Items = append(page.Items, decodeMember(o))
		}
	}
	p := object(m["page"])
	page.NextCursor = str(p["next_cursor"])
	if v, ok := p["has_next"]; ok && v != nil {
		page.HasNext = boolean(v)
	} else {
		page.HasNext = page.NextCursor != ""
	}
	if page.HasNext && page.NextCursor == "" {
		// The reference's example cursor is a user id: the last one seen
		// is where the next page starts.
		if n := len(page.Items); n > 0 && page.Items[n-1].UserID != "" {
			page.NextCursor = page.Items[n-1].UserID
		} else {
			return MembersPage{}, badAnswer(op, status, "answer says more pages follow but gives no cursor")
		}
	}
	if page.HasNext && page.NextCursor == cursor {
		return MembersPage{}, badAnswer(op, status, "answer gives the same cursor again")
	}
	return page, nil
}

func decodeMember(o map[string]any) Member {
	m := Member{UserID: str(pick(o, "user_id", "_id", "id"))}
	for _, e := range array(o["emails"]) {
		if s := str(e); s != "" {
			m.Emails = append(m.Emails, s)
		} else if s := str(object(e)["email"]); s != "" {
			m.Emails = append(m.Emails, s)
		}
	}
	for _, p := range array(pick(o, "phone_numbers", "phones")) {
		if s := str(p); s != "" {
			m.Phones = append(m.Phones, s)
			continue
		}
		po := object(p)
		phone := str(po["phone"])
		if phone == "" {
			continue
		}
		if cc := strings.TrimPrefix(str(po["country_code"]), "+"); cc != "" && cc != "0" && !strings.HasPrefix(phone, "+") {
			phone = "+" + cc + phone
		}
		m.Phones = append(m.Phones, phone)
	}
	return m
}
