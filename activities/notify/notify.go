// Package notify owns the notifications an import or an audience sync sends
// when it ends: when a run notifies (Spec, which --notify-on spells), what a
// notification says (Notification, and the JSON payload a Slack incoming
// webhook takes as is), and its delivery to a webhook the worker knows by
// name (the Deliver activity). Webhook URLs never leave the worker: a
// workflow names a webhook, and what enters history is names, counts, keys
// and the run's own error sentence, never a URL or a row of user data.
package notify

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Events, the reasons a run notifies.
const (
	// OnFailure: the run failed or was canceled.
	OnFailure = "failure"
	// OnCompletion: the run completed, rejects or not.
	OnCompletion = "completion"
	// OnRejects: the run completed but rejected more than the threshold.
	OnRejects = "rejects"
)

// Statuses a run ends with.
const (
	Completed = "completed"
	Failed    = "failed"
	Canceled  = "canceled"
)

// Kinds of run.
const (
	KindImport   = "import"
	KindAudience = "audience sync"
)

// Spec says where a run notifies and on which ends. It is part of the
// workflow input: it names a webhook, never its URL.
type Spec struct {
	// Webhook names a webhook the worker knows (IMPORTER_WEBHOOK_URL is
	// "default"; see internal/connections).
	Webhook string `json:"webhook"`
	// Failure notifies when the run fails or is canceled.
	Failure bool `json:"failure,omitempty"`
	// Completion notifies when the run completes, rejects or not.
	Completion bool `json:"completion,omitempty"`
	// RejectsOver, a percentage, notifies when a completed run rejected
	// more than this share of the rows it read; nil sets no threshold.
	RejectsOver *float64 `json:"rejects_over,omitempty"`
}

// Check says what is wrong with a Spec that arrived in a workflow's input,
// which anyone who may start a workflow writes: a webhook that no webhook
// could be named, or a threshold that is not a percentage.
func (s Spec) Check() error {
	if !validName(s.Webhook) {
		return errors.New("the notification names no webhook by a name (1 to 64 letters, digits, '-' or '_')")
	}
	if s.RejectsOver != nil && (math.IsNaN(*s.RejectsOver) || *s.RejectsOver < 0 || *s.RejectsOver > 100) {
		return errors.New("the notification's reject threshold is not a percentage from 0 to 100")
	}
	return nil
}

// ParseSpec reads --notify NAME and --notify-on LIST: a comma-separated
// list of failure, completion and rejects>N% (N a percentage from 0 to
// 100). A list left empty means failure. Without a webhook there is no
// Spec (nil), and a list without one is an error.
func ParseSpec(webhook, on string) (*Spec, error) {
	webhook = strings.TrimSpace(webhook)
	on = strings.TrimSpace(on)
	if webhook == "" {
		if on != "" {
			return nil, errors.New("--notify-on needs --notify NAME, the webhook (configured on the worker) to notify")
		}
		return nil, nil
	}
	if strings.Contains(webhook, "/") || strings.Contains(webhook, ":") {
		// A URL is a secret: it is not quoted back, and it belongs on the worker.
		return nil, errors.New("--notify takes a webhook's name, not its URL: set the URL on the worker (IMPORTER_WEBHOOK_<NAME>_URL, or webhooks.<name>.url in its config file) and pass the name")
	}
	if !validName(webhook) {
		return nil, fmt.Errorf("--notify %q is not a webhook name: use 1 to 64 letters, digits, '-' or '_' (the worker maps it to its URL)", webhook)
	}
	s := &Spec{Webhook: webhook}
	if on == "" {
		s.Failure = true
		return s, nil
	}
	seen := map[string]bool{}
	for _, item := range strings.Split(on, ",") {
		item = strings.ToLower(strings.TrimSpace(item))
		kind := item
		if strings.HasPrefix(item, "rejects") {
			kind = OnRejects
		}
		if item == "" {
			return nil, fmt.Errorf("--notify-on %q has an empty item: list failure, completion or rejects>N%%, separated by commas", on)
		}
		if seen[kind] {
			return nil, fmt.Errorf("--notify-on %q names %s twice", on, kind)
		}
		seen[kind] = true
		switch kind {
		case OnFailure:
			s.Failure = true
		case OnCompletion:
			s.Completion = true
		case OnRejects:
			p, err := parseThreshold(item)
			if err != nil {
				return nil, err
			}
			s.RejectsOver = &p
		default:
			return nil, fmt.Errorf("unknown --notify-on item %q: use failure, completion or rejects>N%% (for example rejects>5%%)", item)
		}
	}
	return s, nil
}

// parseThreshold reads rejects>N% (the % may be left out).
func parseThreshold(item string) (float64, error) {
	bad := fmt.Errorf("--notify-on %q: write the reject threshold as rejects>N%% with N a percentage from 0 to 100, for example rejects>5%%", item)
	rest, ok := strings.CutPrefix(item, "rejects>")
	if !ok {
		return 0, bad
	}
	rest = strings.TrimSuffix(strings.TrimSpace(rest), "%")
	p, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
	if err != nil || math.IsNaN(p) || p < 0 || p > 100 {
		return 0, bad
	}
	return p, nil
}

// String spells the spec's ends as --notify-on takes them.
func (s Spec) String() string {
	var on []string
	if s.Failure {
		on = append(on, OnFailure)
	}
	if s.Completion {
		on = append(on, OnCompletion)
	}
	if s.RejectsOver != nil {
		on = append(on, "rejects>"+Threshold(*s.RejectsOver))
	}
	return strings.Join(on, ",")
}

// Event decides whether a run that ended with status notifies, and why. A
// run notifies at most once: a completed run over the reject threshold
// sends the rejects event, which says that it completed too.
func (s Spec) Event(status string, rows, rejected int64) (string, bool) {
	switch status {
	case Failed, Canceled:
		return OnFailure, s.Failure
	case Completed:
		if s.RejectsOver != nil && RejectPercent(rows, rejected) > *s.RejectsOver {
			return OnRejects, true
		}
		return OnCompletion, s.Completion
	}
	return "", false
}

// RejectPercent is the share of rows rejected, in percent; 0 without rows.
func RejectPercent(rows, rejected int64) float64 {
	if rows <= 0 {
		return 0
	}
	return 100 * float64(rejected) / float64(rows)
}

// Percent spells a percentage for people: one decimal at most ("0.5%",
// "12%"), and "<0.1%" rather than a reject rounded away.
func Percent(p float64) string {
	if p > 0 && p < 0.05 {
		return "<0.1%"
	}
	return strconv.FormatFloat(float64(int64(p*10+0.5))/10, 'f', -1, 64) + "%"
}

// Threshold spells a reject threshold as it was given ("0.25%").
func Threshold(p float64) string { return strconv.FormatFloat(p, 'f', -1, 64) + "%" }

func validName(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case i > 0 && (r == '-' || r == '_'):
		default:
			return false
		}
	}
	return true
}

// Notification is one notification, as the workflow that ended hands it to
// delivery: what happened, in names, counts and keys. It is the input of
// the notification's workflow and activity, so it is in their history: it
// holds no URL (the source's query is removed) and no row.
type Notification struct {
	// ID names the notification, once: receivers de-duplicate on it (the
	// Idempotency-Key header).
	ID      string `json:"id"`
	Webhook string `json:"webhook"`
	Event   string `json:"event"`  // OnFailure, OnCompletion, OnRejects
	Status  string `json:"status"` // Completed, Failed, Canceled
	Kind    string `json:"kind"`   // KindImport, KindAudience
	// The run that ended: its workflow ID and the run ID of its last run.
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Vendor     string `json:"vendor"`
	Connection string `json:"connection"`
	// Group is the Fynd group of an audience sync.
	Group string `json:"group,omitempty"`
	// Source is the list, without a URL's query (a presigned credential).
	Source string `json:"source"`
	Counts Counts `json:"counts"`
	// RejectsOver is the threshold (a percentage) of a rejects event.
	RejectsOver *float64 `json:"rejects_over,omitempty"`
	// RejectsCommand lists the rejected rows; empty without rejects.
	RejectsCommand string `json:"rejects_command,omitempty"`
	// Error is the failure's own sentence, for a failed run.
	Error      string    `json:"error,omitempty"`
	StartedAt  time.Time `json:"started_at,omitzero"`
	FinishedAt time.Time `json:"finished_at,omitzero"`
}

// Counts are a run's rows, as its summary has them (so far, for a run
// that failed).
type Counts struct {
	Rows     int64 `json:"rows"`
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	// Unchanged: rows an incremental import did not send again.
	Unchanged int64 `json:"unchanged,omitempty"`
	Inserted  int64 `json:"inserted,omitempty"`
	Updated   int64 `json:"updated,omitempty"`
	// Duplicates: rows a later row of the same user replaced (among the
	// rejects).
	Duplicates int `json:"duplicates,omitempty"`
	// Members: the Fynd group's members after an audience sync.
	Members int `json:"members,omitempty"`
}
