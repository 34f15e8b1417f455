package notify

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"importer/activities/source"
	"importer/internal/numfmt"
)

// Payload is the JSON body a webhook receives. A Slack incoming webhook
// (and the services that copy its format) shows Text and ignores the rest;
// other receivers read the structured fields.
type Payload struct {
	// Text is one line for people (Text), ending with the run's link in
	// the Temporal UI when the worker knows the UI's address. &, < and >
	// are written &amp;, &lt; and &gt;, as Slack asks: Slack and Markdown
	// renderers show them as the characters.
	Text       string `json:"text"`
	ID         string `json:"id"`
	Event      string `json:"event"`
	Status     string `json:"status"`
	Kind       string `json:"kind"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	Namespace  string `json:"namespace,omitempty"`
	Vendor     string `json:"vendor"`
	Connection string `json:"connection"`
	Group      string `json:"group,omitempty"`
	Source     string `json:"source"`
	Counts     Counts `json:"counts"`
	// RejectRatio is rejected ÷ rows read (0.05 is 5%); RejectThreshold
	// is the ratio a rejects event exceeded.
	RejectRatio     float64  `json:"reject_ratio"`
	RejectThreshold *float64 `json:"reject_threshold,omitempty"`
	// RejectsCommand lists the rejected rows from anywhere that reaches
	// the importer's store.
	RejectsCommand string    `json:"rejects_command,omitempty"`
	Error          string    `json:"error,omitempty"`
	UI             string    `json:"ui_url,omitempty"`
	StartedAt      time.Time `json:"started_at,omitzero"`
	FinishedAt     time.Time `json:"finished_at,omitzero"`
}

// BuildPayload is what a webhook receives for n. uiBase is the Temporal
// UI's base URL ("" leaves the link out), namespace the run's namespace.
func BuildPayload(n Notification, namespace, uiBase string) Payload {
	link := Link(uiBase, namespace, n.WorkflowID, n.RunID)
	p := Payload{
		Text: textEscaper.Replace(Text(n, link)), ID: n.ID, Event: n.Event, Status: n.Status, Kind: n.Kind,
		WorkflowID: n.WorkflowID, RunID: n.RunID, Namespace: namespace,
		Vendor: n.Vendor, Connection: n.Connection, Group: n.Group, Source: source.Redact(n.Source),
		Counts:         n.Counts,
		RejectRatio:    round4(RejectPercent(n.Counts.Rows, n.Counts.Rejected) / 100),
		RejectsCommand: n.RejectsCommand, Error: n.Error, UI: link,
		StartedAt: n.StartedAt, FinishedAt: n.FinishedAt,
	}
	if n.Event == OnRejects && n.RejectsOver != nil {
		t := round4(*n.RejectsOver / 100)
		p.RejectThreshold = &t
	}
	return p
}

func round4(f float64) float64 { return math.Round(f*1e4) / 1e4 }

// textEscaper escapes the characters Slack gives a meaning in text.
var textEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// Link is a run's page in the Temporal UI, or "" when the UI's address or
// the namespace is unknown.
func Link(uiBase, namespace, workflowID, runID string) string {
	if uiBase == "" || namespace == "" || workflowID == "" {
		return ""
	}
	l := strings.TrimRight(uiBase, "/") + "/namespaces/" + url.PathEscape(namespace) + "/workflows/" + url.PathEscape(workflowID)
	if runID != "" {
		l += "/" + url.PathEscape(runID)
	}
	return l
}

// Text is the notification's line for people, for example
//
//	Import import-nebuly-users-20260101-030000 into nebuly completed: 9,950 accepted, 50 rejected (0.5%) of 10,000 rows; rejects: starter rejects import-nebuly-users-20260101-030000.
//
// followed by link when there is one.
func Text(n Notification, link string) string {
	var b strings.Builder
	b.WriteString(subject(n))
	switch {
	case n.Status == Canceled:
		fmt.Fprintf(&b, " was canceled after %s rows.", num(n.Counts.Rows))
	case n.Status == Failed:
		b.WriteString(" failed")
		if msg := strings.TrimSpace(n.Error); msg != "" {
			b.WriteString(": " + sentence(msg))
		} else {
			b.WriteString(".")
		}
	case n.Event == OnRejects && n.RejectsOver != nil:
		fmt.Fprintf(&b, " completed, but rejects %s > %s: %s%s.", Percent(RejectPercent(n.Counts.Rows, n.Counts.Rejected)),
			Threshold(*n.RejectsOver), counts(n.Counts), rejectsTail(n))
	default:
		fmt.Fprintf(&b, " completed: %s%s.", counts(n.Counts), rejectsTail(n))
	}
	if link != "" {
		b.WriteString(" " + link)
	}
	return b.String()
}

func subject(n Notification) string {
	s := fmt.Sprintf("Import %s into %s", n.WorkflowID, n.Vendor)
	if n.Kind == KindAudience {
		s = fmt.Sprintf("Audience sync %s of %s group %q", n.WorkflowID, vendorTitle(n.Vendor), n.Group)
	}
	if n.Connection != "" && n.Connection != "default" {
		s += fmt.Sprintf(" (connection %s)", n.Connection)
	}
	return s
}

// vendorTitle is a vendor's registry name as a title ("fynd": "Fynd").
func vendorTitle(v string) string {
	if v == "" {
		return "the vendor's"
	}
	return strings.ToUpper(v[:1]) + v[1:]
}

func counts(c Counts) string {
	s := fmt.Sprintf("%s accepted, %s rejected (%s)", num(c.Accepted), num(c.Rejected), Percent(RejectPercent(c.Rows, c.Rejected)))
	if c.Unchanged > 0 {
		s += fmt.Sprintf(", %s unchanged", num(c.Unchanged))
	}
	return s + fmt.Sprintf(" of %s rows", num(c.Rows))
}

func rejectsTail(n Notification) string {
	if n.RejectsCommand == "" {
		return ""
	}
	return "; rejects: " + n.RejectsCommand
}

// sentence ends a message with a full stop, once.
func sentence(s string) string {
	if strings.HasSuffix(s, ".") || strings.HasSuffix(s, "!") || strings.HasSuffix(s, "?") {
		return s
	}
	return s + "."
}

// num spells a count for people (numfmt.Count).
func num(n int64) string { return numfmt.Count(n) }
