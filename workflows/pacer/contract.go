// Package pacer is the pacer flow: its contract (contract.go: workflow,
// update, signal and query names, their messages, its workflow ID, its
// failure types), its workflow (pacer.go), and Client (client.go), the
// activities' side that reserves send times and reports 429s.
//
// The pacer keeps a request-rate limit that holds across every import and
// every worker of a deployment (Dynamic: 150 bulk requests a minute per IP).
// It is a singleton workflow per vendor and rate group, like the gate, but
// it grants reservations instead of exclusive turns: an activity reserves a
// send time with an Update (answered at once, so no update stays in flight
// and the server's per-workflow limit on in-flight updates never bites),
// sleeps until it, checks that no Retry-After pause began since, and sends.
// A 429 is reported with a signal that pauses every later reservation.
package pacer

import (
	"strings"
	"time"
)

// The pacer's names, as registered and as called.
const (
	WorkflowName  = "VendorPacer"
	ReserveUpdate = "reserve" // update: Reserve → Reservation
	PauseSignal   = "pause"   // signal: Pause
	StateQuery    = "state"   // query: Status
)

// Failure types the pacer raises.
const (
	// Draining: the pacer is continuing as new; ask again, and the next
	// run answers.
	Draining = "PacerDraining"
	// BadReserve: a reservation asked for a negative interval.
	BadReserve = "BadInput"
)

// ID is the workflow ID of a vendor's pacer for one rate group (the
// set of connections that share one limit, such as one egress IP).
func ID(vendor, group string) string {
	if group == "" {
		group = "shared"
	}
	return "pacer/" + strings.ToLower(vendor) + "/" + group
}

// Input starts or continues a pacer.
type Input struct {
	Vendor string `json:"vendor"`
	Group  string `json:"group"`
	// ReservationsPerRun continues the pacer as new after this many
	// reservations (default 1000), well inside the server's limit on
	// updates per run.
	ReservationsPerRun int     `json:"reservations_per_run,omitempty"`
	State              *Status `json:"state,omitempty"`
}

// Reserve asks for the next send time.
type Reserve struct {
	// Interval is the least time between two sends, from the worker's
	// connection settings; the latest request's interval applies.
	Interval time.Duration `json:"interval"`
	Label    string        `json:"label,omitempty"` // who asks, for the UI
}

// Reservation is a send time. Epoch is the pacer's pause count when
// the reservation was made: if it has grown by the time the reservation
// comes due, a Retry-After pause began since, and the sender must check it.
type Reservation struct {
	At    time.Time `json:"at"`
	Epoch int64     `json:"epoch"`
}

// Pause reports a 429: nothing is sent until RetryAfter after the
// later of ReceivedAt and the moment the pacer hears of it.
type Pause struct {
	RetryAfter time.Duration `json:"retry_after"`
	ReceivedAt time.Time     `json:"received_at"`
	Reason     string        `json:"reason,omitempty"`
}

// PauseRecord is one pause, as the pacer keeps it for people and tests.
type PauseRecord struct {
	LearnedAt  time.Time     `json:"learned_at"`
	Until      time.Time     `json:"until"`
	RetryAfter time.Duration `json:"retry_after"`
	Reason     string        `json:"reason,omitempty"`
}

// Status is the pacer's state: what it carries across continue-as-new
// and what its query answers.
type Status struct {
	NextSlot     time.Time     `json:"next_slot"`
	PausedUntil  time.Time     `json:"paused_until"`
	Epoch        int64         `json:"epoch"`
	Interval     time.Duration `json:"interval"`
	Reservations int64         `json:"reservations"`
	Pauses       []PauseRecord `json:"pauses,omitempty"` // the most recent ones
	Runs         int           `json:"runs"`
}
