package fake

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"importer/activities/vendorapi/fakeapi"
)

// Definition is a user attribute definition.
type Definition struct {
	ID, Name, Slug, Description, Type string
	CustomerEditable                  bool
	CreatedAt, ModifiedAt             time.Time
}

type definition struct{ Definition }

func (d *definition) json() map[string]any {
	return map[string]any{
		"_id": d.ID, "name": d.Name, "slug": d.Slug, "description": d.Description, "type": d.Type,
		"customer_editable": d.CustomerEditable, "encrypted": false, "pinned": false, "pin_order": 0,
		"is_locked": false, "validations": []any{}, "default_value": nil,
		"created_at": stamp(d.CreatedAt), "modified_at": stamp(d.ModifiedAt),
	}
}

// Definitions returns the attribute definitions, sorted by slug.
func (s *Server) Definitions() []Definition {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Definition, 0, len(s.definitions))
	for _, d := range s.definitions {
		out = append(out, d.Definition)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slug < out[j].Slug })
	return out
}

// definitionBySlug finds a definition. s.mu is held.
func (s *Server) definitionBySlug(slug string) *definition {
	for _, d := range s.definitions {
		if d.Slug == slug {
			return d
		}
	}
	return nil
}

// listDefinitions lists in creation order. The slug filter matches any
// slug containing the text: the reference does not say whether it is exact,
// and a loose filter keeps a client that must find one slug honest.
func (s *Server) listDefinitions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	no, size, problem := paging(q)
	if problem != "" {
		s.fail(w, http.StatusBadRequest, "INVALID_QUERY", problem)
		return
	}
	slug, name := q.Get("slug"), q.Get("name")
	s.mu.Lock()
	var hits []*definition
	for _, d := range s.definitions {
		if (slug == "" || strings.Contains(d.Slug, slug)) && (name == "" || d.Name == name) {
			hits = append(hits, d)
		}
	}
	from, to, page := numberPage(len(hits), no, size)
	items := make([]map[string]any, 0, to-from)
	for _, d := range hits[from:to] {
		items = append(items, d.json())
	}
	s.mu.Unlock()
	fakeapi.WriteJSON(w, http.StatusOK, map[string]any{"items": items, "page": page})
}

func (s *Server) createDefinition(w http.ResponseWriter, r *http.Request) {
	body, ok := decodeBody(w, r)
	if !ok {
		s.fail(w, http.StatusBadRequest, "INVALID_BODY", "body must be a JSON object")
		return
	}
	var d definition
	for _, f := range []struct {
		key string
		v   *string
	}{{"name", &d.Name}, {"slug", &d.Slug}, {"description", &d.Description}, {"type", &d.Type}} {
		v, isText := text(body, f.key)
		if !isText || strings.TrimSpace(v) == "" {
			s.fail(w, http.StatusBadRequest, "VALIDATION_ERROR", f.key+" is required and must be a string")
			return
		}
		*f.v = v
	}
	if ce, has := body["customer_editable"]; has {
		b, isBool := ce.(bool)
		if !isBool {
			s.fail(w, http.StatusBadRequest, "VALIDATION_ERROR", "customer_editable must be a boolean")
			return
		}
		d.CustomerEditable = b
	}
	s.mu.Lock()
	if s.definitionBySlug(d.Slug) != nil {
		s.mu.Unlock()
		s.fail(w, http.StatusBadRequest, "DUPLICATE_SLUG", "an attribute definition with this slug already exists")
		return
	}
	d.ID = s.objectID()
	d.CreatedAt = s.opts.Clock()
	d.ModifiedAt = d.CreatedAt
	s.definitions = append(s.definitions, &d)
	out := d.json()
	s.mu.Unlock()
	fakeapi.WriteJSON(w, http.StatusCreated, out)
}

func (s *Server) findDefinition(id string) *definition {
	for _, d := range s.definitions {
		if d.ID == id {
			return d
		}
	}
	return nil
}

func (s *Server) getDefinition(w http.ResponseWriter, id string) {
	s.mu.Lock()
	d := s.findDefinition(id)
	var out map[string]any
	if d != nil {
		out = d.json()
	}
	s.mu.Unlock()
	if d == nil {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "attribute definition not found")
		return
	}
	fakeapi.WriteJSON(w, http.StatusOK, out)
}

// updateDefinition changes name, description, type and customer_editable;
// the slug stays (values are keyed on it).
func (s *Server) updateDefinition(w http.ResponseWriter, r *http.Request, id string) {
	body, ok := decodeBody(w, r)
	if !ok {
		s.fail(w, http.StatusBadRequest, "INVALID_BODY", "body must be a JSON object")
		return
	}
	var name, desc, typ string
	for _, f := range []struct {
		key string
		v   *string
	}{{"name", &name}, {"description", &desc}, {"type", &typ}} {
		v, isText := text(body, f.key)
		if !isText {
			s.fail(w, http.StatusBadRequest, "VALIDATION_ERROR", f.key+" must be a string")
			return
		}
		*f.v = v
	}
	ce, hasCE := body["customer_editable"]
	editable, isBool := ce.(bool)
	if hasCE && !isBool {
		s.fail(w, http.StatusBadRequest, "VALIDATION_ERROR", "customer_editable must be a boolean")
		return
	}
	s.mu.Lock()
	d := s.findDefinition(id)
	if d == nil {
		s.mu.Unlock()
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "attribute definition not found")
		return
	}
	if name != "" {
		d.Name = name
	}
	if desc != "" {
		d.Description = desc
	}
	if typ != "" {
		d.Type = typ
	}
	if hasCE {
		d.CustomerEditable = editable
	}
	d.ModifiedAt = s.opts.Clock()
	out := d.json()
	s.mu.Unlock()
	fakeapi.WriteJSON(w, http.StatusOK, out)
}

// job is a bulk attribute update.
type job struct {
	id      string
	fileURL string
	attrs   []keyValue
	fail    string // FailNextJob's reason
	status  string
	total   int
	done    int
	errs    []rowError
	message string
}

type keyValue struct {
	key   string
	value any
}

// JobInfo is what the fake knows of a bulk attribute job.
type JobInfo struct {
	ID, Status, Message      string
	Total, Processed, Failed int
}

// Job returns a bulk attribute job.
func (s *Server) Job(id string) (JobInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	j, ok := s.jobs[id]
	if !ok {
		return JobInfo{}, false
	}
	return JobInfo{ID: j.id, Status: j.status, Message: j.message, Total: j.total, Processed: j.done, Failed: len(j.errs)}, true
}

// JobsSubmitted counts accepted bulk attribute updates.
func (s *Server) JobsSubmitted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobsSubmitted
}

// FailNextJob makes the next accepted bulk attribute job fail with reason
// once it has read its file; no value is set.
func (s *Server) FailNextJob(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if reason == "" {
		reason = "job failed"
	}
	s.failNextJob = reason
}

// bulkUpdate accepts {file_url, attributes:[{key,value}]}: every key must
// be a definition's slug. The job runs in the background.
func (s *Server) bulkUpdate(w http.ResponseWriter, r *http.Request) {
	body, ok := decodeBody(w, r)
	if !ok {
		s.fail(w, http.StatusBadRequest, "INVALID_BODY", "body must be a JSON object")
		return
	}
	fileURL, isText := text(body, "file_url")
	if !isText || strings.TrimSpace(fileURL) == "" {
		s.fail(w, http.StatusBadRequest, "VALIDATION_ERROR", "file_url is required and must be a string")
		return
	}
	list, isList := body["attributes"].([]any)
	if !isList || len(list) == 0 {
		s.fail(w, http.StatusBadRequest, "VALIDATION_ERROR", "attributes is required and must be a non-empty list")
		return
	}
	attrs := make([]keyValue, 0, len(list))
	s.mu.Lock()
	for i, item := range list {
		m, isObj := item.(map[string]any)
		key, keyText := text(m, "key")
		if !isObj || !keyText || key == "" {
			s.mu.Unlock()
			s.fail(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("attributes[%d].key is required and must be a string", i))
			return
		}
		if m["value"] == nil {
			s.mu.Unlock()
			s.fail(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("attributes[%d].value is required", i))
			return
		}
		if s.definitionBySlug(key) == nil {
			s.mu.Unlock()
			s.fail(w, http.StatusBadRequest, "UNKNOWN_ATTRIBUTE", fmt.Sprintf("attributes[%d].key %q is not an attribute definition slug", i, key))
			return
		}
		attrs = append(attrs, keyValue{key: key, value: m["value"]})
	}
	j := &job{id: s.objectID(), fileURL: fileURL, attrs: attrs, fail: s.failNextJob, status: JobQueued}
	s.failNextJob = ""
	s.jobs[j.id] = j
	s.jobsSubmitted++
	s.mu.Unlock()
	if !s.background(func() { s.runJob(j) }) {
		s.fail(w, http.StatusServiceUnavailable, "UNAVAILABLE", "server is shutting down")
		return
	}
	fakeapi.WriteJSON(w, http.StatusAccepted, map[string]any{
		"success": true, "message": "Bulk attribute update queued", "processing_type": "async",
		"job_id": j.id, "status_code": http.StatusAccepted,
	})
}

// runJob walks a job through queued → processing (fetching and reading
// the file) → completed or failed.
func (s *Server) runJob(j *job) {
	applied, ok := s.pause(s.opts.JobStep)
	if !ok {
		return
	}
	s.mu.Lock()
	j.status = JobProcessing
	s.mu.Unlock()
	sh, err := s.fetchSheet(j.fileURL)
	s.mu.Lock()
	if err == nil {
		j.total = len(sh.rows)
	}
	s.mu.Unlock()
	applied()

	applied, ok = s.pause(s.opts.JobStep)
	if !ok {
		return
	}
	defer applied()
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case err != nil:
		j.status, j.message = JobFailed, err.Error()
		return
	case j.fail != "":
		j.status, j.message = JobFailed, j.fail
		return
	}
	for _, row := range sh.rows {
		u, problem := s.resolve(row.id, true)
		if u == nil {
			j.errs = append(j.errs, rowError{Row: row.n, Identifier: row.id.first(), Error: problem})
			continue
		}
		for _, kv := range j.attrs {
			u.attrs[kv.key] = kv.value
		}
		j.done++
	}
	j.status = JobCompleted
	j.message = fmt.Sprintf("%d of %d rows updated", j.done, j.total)
}

func (s *Server) getJob(w http.ResponseWriter, id string) {
	s.mu.Lock()
	j, ok := s.jobs[id]
	var out map[string]any
	if ok {
		errs := append([]rowError{}, j.errs...)
		failed := len(errs)
		if j.status == JobFailed {
			failed = j.total
		}
		out = map[string]any{
			"job_id": j.id, "status": j.status, "total": j.total, "processed": j.done,
			"failed": failed, "errors": errs, "message": j.message,
		}
	}
	s.mu.Unlock()
	if !ok {
		s.fail(w, http.StatusNotFound, "NOT_FOUND", "job not found")
		return
	}
	fakeapi.WriteJSON(w, http.StatusOK, out)
}
