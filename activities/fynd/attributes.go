package fynd

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"importer/activities/vendorapi"
)

// KeyValue is one attribute a bulk update sets: Key is a definition's
// slug, Value a string, number, boolean or list.
type KeyValue struct {
	Key   string
	Value any
}

// BulkJob is Fynd's answer to a bulk attribute update.
type BulkJob struct {
	// JobID names the background job. It is empty only when the vendor
	// says it applied the update at once (processing_type "sync"), which
	// the reference allows for but does not show; there is then nothing
	// to wait for.
	JobID          string
	Success        bool
	Message        string
	ProcessingType string // "async" as documented
	StatusCode     int
}

// Sync says whether the vendor applied the update at once.
func (j BulkJob) Sync() bool {
	t := strings.ToLower(j.ProcessingType)
	return t == "sync" || t == "synchronous"
}

// JobStatus is the state of a bulk attribute job. Fynd's reference shows
// no status endpoint; the fields are read from whichever of the plausible
// names the answer uses.
type JobStatus struct {
	ID        string
	Status    string
	Total     int
	Processed int
	Failed    int
	// ErrorFileURL lists the failed rows, when the vendor offers one.
	ErrorFileURL string
	// Message is the vendor's summary or, for a failed job, its reason.
	Message string
	// Errors are the failed rows the answer lists. Identifier is the value
	// the row named its user by: user data, for a rejects file, never for
	// an error message.
	Errors []RowError
}

// RowError is one row of a job's file that was not applied.
type RowError struct {
	Row        int
	Identifier string
	Reason     string
}

// Terminal says whether the job has ended.
func (j JobStatus) Terminal() bool { return StatusPhase(j.Status) != Waiting }

// Succeeded says whether the job ended as asked; single rows may still
// have failed (Failed, Errors).
func (j JobStatus) Succeeded() bool { return StatusPhase(j.Status) == Done }

// BulkUpdateAttributes sets attrs on every user the CSV at fileURL names
// (by user_id, email or phone_number). Fynd answers 202 and works in the
// background; poll BulkJobStatus with the job id. Each call starts a new
// job.
func (c *Client) BulkUpdateAttributes(ctx context.Context, fileURL string, attrs []KeyValue) (BulkJob, error) {
	const op = "bulk update attributes"
	if strings.TrimSpace(fileURL) == "" {
		return BulkJob{}, fmt.Errorf("fynd: %s: file URL is required", op)
	}
	if len(attrs) == 0 {
		return BulkJob{}, fmt.Errorf("fynd: %s: no attributes to set", op)
	}
	items := make([]map[string]any, len(attrs))
	for i, a := range attrs {
		if strings.TrimSpace(a.Key) == "" {
			return BulkJob{}, fmt.Errorf("fynd: %s: attributes[%d]: key is empty", op, i)
		}
		if a.Value == nil {
			return BulkJob{}, fmt.Errorf("fynd: %s: attributes[%d]: value is required", op, i)
		}
		items[i] = map[string]any{"key": a.Key, "value": a.Value}
	}
	body := map[string]any{"file_url": fileURL, "attributes": items}
	status, m, err := c.callObject(ctx, op, http.MethodPatch, c.endpoint(c.paths.BulkAttributes, "", nil), body)
	if err != nil {
		return BulkJob{}, err
	}
	job := BulkJob{
		// A short-lived SDK release called the job request_id.
		JobID:          str(pick(m, "job_id", "request_id", "_id", "id")),
		Message:        vendorapi.Trim(str(m["message"])),
		ProcessingType: str(m["processing_type"]),
		StatusCode:     count(m["status_code"]),
		Success:        true,
	}
	if v, ok := m["success"]; ok && v != nil {
		job.Success = boolean(v)
	}
	if !job.Success {
		msg := "vendor reports the update was not accepted"
		if job.Message != "" {
			msg += ": " + job.Message
		}
		return BulkJob{}, badAnswer(op, status, vendorapi.Trim(msg))
	}
	if job.JobID == "" && !job.Sync() {
		return BulkJob{}, badAnswer(op, status, "answer has no job_id")
	}
	return job, nil
}

// BulkJobStatus reads the state of a bulk attribute job.
func (c *Client) BulkJobStatus(ctx context.Context, jobID string) (JobStatus, error) {
	const op = "get bulk attribute job"
	if strings.TrimSpace(jobID) == "" {
		return JobStatus{}, fmt.Errorf("fynd: %s: empty job id", op)
	}
	status, m, err := c.callObject(ctx, op, http.MethodGet, c.endpoint(c.paths.BulkJob, jobID, nil), nil)
	if err != nil {
		return JobStatus{}, err
	}
	if d := object(m["data"]); d != nil && m["status"] == nil {
		m = d
	}
	j := JobStatus{
		ID:           str(pick(m, "job_id", "_id", "id")),
		Status:       str(m["status"]),
		Total:        count(pick(m, "total", "total_rows", "count.total")),
		Processed:    count(pick(m, "processed", "processed_count", "success_count", "count.success")),
		Failed:       count(pick(m, "failed", "failed_count", "errors_count", "error_count", "count.error")),
		ErrorFileURL: str(pick(m, "error_file_url", "error_file", "links.error", "error.file_url")),
		Message:      vendorapi.Trim(vendorapi.TextOf(pick(m, "message", "reason", "error"))),
	}
	if j.Status == "" {
		return JobStatus{}, badAnswer(op, status, "answer has no status")
	}
	if j.ID == "" {
		j.ID = jobID
	}
	for _, e := range array(m["errors"]) {
		o := object(e)
		if o == nil {
			if s := str(e); s != "" {
				j.Errors = append(j.Errors, RowError{Reason: vendorapi.Trim(s)})
			}
			continue
		}
		j.Errors = append(j.Errors, RowError{
			Row:        count(pick(o, "row", "line", "index")),
			Identifier: str(pick(o, "identifier", "user_id", "email", "phone_number")),
			Reason:     vendorapi.Trim(vendorapi.TextOf(pick(o, "error", "message", "reason"))),
		})
	}
	j.Failed = max(j.Failed, len(j.Errors))
	return j, nil
}
