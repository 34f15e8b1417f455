package fake

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"importer/activities/vendorapi/fakeapi"
)

// group is a user group and its processing state.
type group struct {
	id, name, description, category, fileURL, status string
	uid                                              int64
	members                                          map[string]bool // user ids
	errCount                                         int
	errFileURL                                       string
	total                                            int // total_users: stale until a refresh ends
	totalAt                                          time.Time
	created, modified                                time.Time
	// pending counts file operations (create, patch) not finished yet;
	// tail is closed when the latest one has, so that the next waits for
	// it: a group processes one file at a time.
	pending   int
	tail      chan struct{}
	refreshes int
}

// groupOp is one file a group must process.
type groupOp struct {
	fileURL string
	patch   bool   // rows carry an action (add or remove)
	fail    string // FailNextGroup's reason
	base    string // public URL of the fake, for the error file link
}

// GroupInfo is what the fake knows of a group.
type GroupInfo struct {
	ID                          string
	UID                         int64
	Name, Description, Category string
	FileURL, Status             string
	Members                     []string // user ids, sorted
	ErrorCount                  int
	ErrorFileURL                string
	TotalUsers                  int // as reported: stale until a refresh ends
	TotalUsersUpdatedAt         time.Time
	Refreshes                   int // refresh requests received
	Created, Modified           time.Time
}

// Group returns the group of a name.
func (s *Server) Group(name string) (GroupInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.groups {
		if g.name == name {
			return g.info(), true
		}
	}
	return GroupInfo{}, false
}

func (g *group) info() GroupInfo {
	return GroupInfo{
		ID: g.id, UID: g.uid, Name: g.name, Description: g.description, Category: g.category,
		FileURL: g.fileURL, Status: g.status, Members: sortedKeys(g.members),
		ErrorCount: g.errCount, ErrorFileURL: g.errFileURL,
		TotalUsers: g.total, TotalUsersUpdatedAt: g.totalAt, Refreshes: g.refreshes,
		Created: g.created, Modified: g.modified,
	}
}

// Members returns the user ids in a group, sorted; nil for an unknown group.
func (s *Server) Members(groupID string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groupsByID[groupID]
	if !ok {
		return nil
	}
	return sortedKeys(g.members)
}

// GroupsCreated counts groups created.
func (s *Server) GroupsCreated() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.groups)
}

// FailNextGroup makes the next group file operation (create or patch) fail
// with reason once the file has been read; no member changes.
func (s *Server) FailNextGroup(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		reason = "group processing failed"
	}
	s.failNextGroup = reason
}

func (s *Server) groupJSON(g *group) map[string]any {
	out := map[string]any{
		"_id": g.id, "uid": g.uid, "name": g.name, "description": g.description, "file_url": g.fileURL,
		"application_id": s.opts.ApplicationID, "type": "file_url", "status": g.status,
		"category": g.category, "tags": []string{},
		"total_users": map[string]any{"count": g.total, "updated_at": stamp(g.totalAt)},
		"created_at":  stamp(g.created), "modified_at": stamp(g.modified), "is_active": true, "__v": 0,
	}
	if g.errCount > 0 || g.status == GroupFailed {
		out["error"] = map[string]any{"count": g.errCount, "file_url": g.errFileURL}
	}
	return out
}

// listGroups lists in creation order; name filters exactly.
func (s *Server) listGroups(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	no, size, problem := paging(q)
	if problem != "" {
		s.fail(w, http.StatusBadRequest, "INVALID_QUERY", problem)
		return
	}
	name, status, uid := q.Get("name"), q.Get("status"), q.Get("group_uid")
	s.mu.Lock()
	var hits []*group
	for _, g := range s.groups {
		if (name == "" || g.name == name) && (status == "" || g.status == status) &&
			(uid == "" || strconv.FormatInt(g.uid, 10) == uid) {
			hits = append(hits, g)
		}
	}
	from, to, page := numberPage(len(hits), no, size)
	items := make([]map[string]any, 0, to-from)
	for _, g := range hits[from:to] {
		items = append(items, s.groupJSON(g))
	}
	s.mu.Unlock()
	fakeapi.WriteJSON(w, http.StatusOK, map[string]any{"items": items, "page": page})
}

// createGroup takes {name, description, category, file_url}, all required
// as the reference says. Names are unique: a second create of a name is a
// 400, so a client that forgets to look a group up before creating it
// finds out rather than making a duplicate.
func (s *Server) createGroup(w http.ResponseWriter, r *http.Request) {
	body, ok := decodeBody(w, r)
	if !ok {
		s.fail(w, http.StatusBadRequest, "INVALID_BODY", "body must be a JSON object")
		return
	}
	var name, desc, category, fileURL string
	for _, f := range []struct {
		key string
		v   *string
	}{{"name", &name}, {"description", &desc}, {"category", &category}, {"file_url", &fileURL}} {
		v, isText := text(body, f.key)
		if !isText || strings.TrimSpace(v) == "" {
			s.fail(w, http.StatusBadRequest, "VALIDATION_ERROR", f.key+" is required and must be a string")
			return
		}
		*f.v = v
	}
	base := s.publicBase(r)
	s.mu.Lock()
	for _, g := range s.groups {
		if g.name == name {
			s.mu.Unlock()
			s.fail(w, http.StatusBadRequest, "DUPLICATE_NAME", "a user group with this name already exists")
			return
		}
	}
	now := s.opts.Clock()
	s.nextUID++
	g := &group{
		id: s.objectID(), uid: s.nextUID, name: name, description: desc, category: category, fileURL: fileURL,
		status: GroupPending, members: map[string]bool{}, totalAt: now, created: now, modified: now,
		pending: 1, tail: make(chan struct{}),
	}
	op := groupOp{fileURL: fileURL, fail: s.failNextGroup, base: base}
	s.failNextGroup = ""
	s.groups = append(s.groups, g)
	s.groupsByID[g.id] = g
	out := s.groupJSON(g)
	done := g.tail
	s.mu.Unlock()
	prev := make(chan struct{})
	close(prev)
	if !s.background(func() { s.runGroupOp(g, op, prev, done) }) {
		s.fail(w, http.StatusServiceUnavailable, "UNAVAILABLE", "server is shutting down")
		return
	}
	fakeapi.WriteJSON(w, http.StatusCreated, out)
}

func (s *Server) getGroup(w http.ResponseWriter, id string) {
	s.mu.Lock()
	g, ok := s.groupsByID[id]
	var out map[string]any
	if ok {
		out = s.groupJSON(g)
	}
	s.mu.Unlock()
	if !ok {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "user group not found")
		return
	}
	fakeapi.WriteJSON(w, http.StatusOK, out)
}

// patchGroup renames, redescribes, and with file_url adds and removes
// members: the file must carry an action column (add or remove). The group
// goes back to pending until the file is processed.
func (s *Server) patchGroup(w http.ResponseWriter, r *http.Request, id string) {
	body, ok := decodeBody(w, r)
	if !ok {
		s.fail(w, http.StatusBadRequest, "INVALID_BODY", "body must be a JSON object")
		return
	}
	var name, desc, fileURL string
	for _, f := range []struct {
		key string
		v   *string
	}{{"name", &name}, {"description", &desc}, {"file_url", &fileURL}} {
		v, isText := text(body, f.key)
		if !isText {
			s.fail(w, http.StatusBadRequest, "VALIDATION_ERROR", f.key+" must be a string")
			return
		}
		*f.v = strings.TrimSpace(v)
	}
	if name == "" && desc == "" && fileURL == "" {
		s.fail(w, http.StatusBadRequest, "VALIDATION_ERROR", "nothing to update: give file_url, name or description")
		return
	}
	base := s.publicBase(r)
	s.mu.Lock()
	g, found := s.groupsByID[id]
	if !found {
		s.mu.Unlock()
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "user group not found")
		return
	}
	if name != "" && name != g.name {
		for _, o := range s.groups {
			if o.name == name {
				s.mu.Unlock()
				s.fail(w, http.StatusBadRequest, "DUPLICATE_NAME", "a user group with this name already exists")
				return
			}
		}
		g.name = name
	}
	if desc != "" {
		g.description = desc
	}
	g.modified = s.opts.Clock()
	var start func()
	if fileURL != "" {
		op := groupOp{fileURL: fileURL, patch: true, fail: s.failNextGroup, base: base}
		s.failNextGroup = ""
		g.fileURL, g.status = fileURL, GroupPending
		g.pending++
		prev, done := g.tail, make(chan struct{})
		g.tail = done
		start = func() { s.runGroupOp(g, op, prev, done) }
	}
	out := s.groupJSON(g)
	s.mu.Unlock()
	if start != nil && !s.background(start) {
		s.fail(w, http.StatusServiceUnavailable, "UNAVAILABLE", "server is shutting down")
		return
	}
	fakeapi.WriteJSON(w, http.StatusOK, out)
}

// runGroupOp walks one file operation through pending → in_progress
// (fetching and reading the file) → completed or failed, after the
// group's previous operation has ended.
func (s *Server) runGroupOp(g *group, op groupOp, prev <-chan struct{}, done chan struct{}) {
	defer close(done)
	select {
	case <-prev:
	case <-s.ctx.Done():
		return
	}
	applied, ok := s.pause(s.opts.GroupStep)
	if !ok {
		return
	}
	s.mu.Lock()
	g.status, g.modified = GroupInProgress, s.opts.Clock()
	s.mu.Unlock()
	sh, err := s.fetchSheet(op.fileURL)
	applied()

	applied, ok = s.pause(s.opts.GroupStep)
	if !ok {
		return
	}
	defer applied()
	s.mu.Lock()
	defer s.mu.Unlock()
	g.pending--
	g.modified = s.opts.Clock()
	fatal := ""
	switch {
	case err != nil:
		fatal = err.Error()
	case op.patch && !sh.hasAction:
		fatal = "file has no action column (add or remove)"
	case op.fail != "":
		fatal = op.fail
	}
	if fatal != "" {
		// The file as a whole is refused: every row of it is in error.
		g.status = GroupFailed
		g.errCount = max(1, len(sh.rows))
		g.errFileURL = s.storeErrorFile(op.base, []rowError{{Error: fatal}})
		s.settle(g)
		return
	}
	var errs []rowError
	for _, row := range sh.rows {
		add := true
		if op.patch {
			switch row.action {
			case "add":
			case "remove":
				add = false
			default:
				errs = append(errs, rowError{Row: row.n, Identifier: row.id.first(), Error: "action must be add or remove"})
				continue
			}
		}
		u, problem := s.resolve(row.id, add)
		if u == nil {
			errs = append(errs, rowError{Row: row.n, Identifier: row.id.first(), Error: problem})
			continue
		}
		if add {
			g.members[u.UserID] = true
		} else {
			delete(g.members, u.UserID)
		}
	}
	g.status = GroupCompleted
	g.errCount, g.errFileURL = len(errs), ""
	if len(errs) > 0 {
		g.errFileURL = s.storeErrorFile(op.base, errs)
	}
	s.settle(g)
}

// settle keeps a group pending while another file operation waits behind
// the one that just ended, so that a poller never takes the end of an
// older operation for the end of its own. s.mu is held.
func (s *Server) settle(g *group) {
	if g.pending > 0 {
		g.status = GroupPending
	}
}

// storeErrorFile keeps an error file and returns its URL. s.mu is held.
func (s *Server) storeErrorFile(base string, errs []rowError) string {
	id := s.hexID(12)
	s.errorFiles[id] = errorFileCSV(errs)
	return base + fillPath(s.opts.Paths.ErrorFile, map[string]string{"id": id})
}

// refreshGroup recounts total_users in the background; until the refresh
// ends the group reports the old count.
func (s *Server) refreshGroup(w http.ResponseWriter, id string) {
	s.mu.Lock()
	g, ok := s.groupsByID[id]
	var uid int64
	if ok {
		g.refreshes++
		uid = g.uid
	}
	s.mu.Unlock()
	if !ok {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "user group not found")
		return
	}
	started := s.background(func() {
		applied, ok := s.pause(s.opts.RefreshDelay)
		if !ok {
			return
		}
		s.mu.Lock()
		g.total, g.totalAt = len(g.members), s.opts.Clock()
		s.mu.Unlock()
		applied()
	})
	if !started {
		s.fail(w, http.StatusServiceUnavailable, "UNAVAILABLE", "server is shutting down")
		return
	}
	fakeapi.WriteJSON(w, http.StatusAccepted, map[string]any{"message": "Refreshing total users of the group", "uid": uid})
}

// groupUsers pages through members in user id order. The cursor is the
// user id at the edge of the page, as in the reference's example; with
// direction=prev the page before it is returned.
func (s *Server) groupUsers(w http.ResponseWriter, r *http.Request, id string) {
	q := r.URL.Query()
	size := 10
	if v := q.Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			s.fail(w, http.StatusBadRequest, "INVALID_QUERY", "page_size must be a positive integer")
			return
		}
		size = min(n, 100)
	}
	dir := q.Get("direction")
	if dir == "" {
		dir = "next"
	}
	if dir != "next" && dir != "prev" {
		s.fail(w, http.StatusBadRequest, "INVALID_QUERY", "direction must be next or prev")
		return
	}
	cursor := q.Get("cursor")
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.groupsByID[id]
	if !ok {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "user group not found")
		return
	}
	ids := sortedKeys(g.members)
	from := 0
	switch {
	case cursor == "":
	case dir == "next":
		from = sort.SearchStrings(ids, cursor)
		if from < len(ids) && ids[from] == cursor {
			from++
		}
	default:
		from = max(0, sort.SearchStrings(ids, cursor)-size)
	}
	to := min(from+size, len(ids))
	if dir == "prev" && cursor != "" {
		to = min(sort.SearchStrings(ids, cursor), from+size)
	}
	items := make([]map[string]any, 0, to-from)
	for _, uid := range ids[from:to] {
		items = append(items, memberJSON(s.users[uid]))
	}
	hasNext, hasPrev := to < len(ids), from > 0
	page := map[string]any{
		"type": "cursor", "current": from/size + 1, "size": size,
		"has_next": hasNext, "has_prev": hasPrev, "next_cursor": nil, "prev_cursor": nil,
	}
	if hasNext && to > from {
		page["next_cursor"] = ids[to-1]
	}
	if hasPrev && to > from {
		page["prev_cursor"] = ids[from]
	}
	fakeapi.WriteJSON(w, http.StatusOK, map[string]any{"items": items, "page": page})
}

func memberJSON(u *user) map[string]any {
	emails := []map[string]any{}
	if u.Email != "" {
		emails = append(emails, map[string]any{"email": u.Email, "primary": true, "verified": true, "active": true})
	}
	phones := []map[string]any{}
	if u.Phone != "" {
		p := map[string]any{"phone": u.Phone, "primary": true, "verified": true, "active": true}
		if u.CountryCode != 0 {
			p["country_code"] = u.CountryCode
		}
		phones = append(phones, p)
	}
	return map[string]any{"user_id": u.UserID, "emails": emails, "phone_numbers": phones}
}
