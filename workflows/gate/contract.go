// Package gate is the vendor gate flow: its contract (contract.go:
// workflow, signal, query and activity names, the messages, its workflow
// ID), its workflow (gate.go), its two activities (activities.go, with
// their Register), and Lock, the handle an import's workflow code holds
// the gate with (lock.go).
//
// The vendor gate serialises bulk work at one vendor account across every
// import and every worker: BitLabs runs one bulk import at a time per
// account, Userpilot one bulk job. It is a singleton workflow per account
// (ID gate/<vendor>/<connection>), started by the first import that needs
// it (SignalWithStart), granting the account to one holder at a time in
// the order asked.
package gate

import (
	"strings"
	"time"
)

// The gate's names, as registered and as called.
const (
	WorkflowName = "VendorGate"
	// StateQuery returns a Status.
	StateQuery = "state"

	acquireSignal = "acquire"
	releaseSignal = "release"
	// leaveSignal withdraws a request, granted or not: a waiter that is
	// cancelled leaves the queue.
	leaveSignal = "leave"
	// grantPrefix + request ID is the signal a requester waits for; a
	// name per request lets concurrent chunks of one import wait apart.
	grantPrefix = "gate-granted/"

	// DefaultLease is how long a grant lasts before the gate checks that
	// its holder still runs. A live holder keeps the gate; a dead one (a
	// terminated or timed-out import) loses it then.
	DefaultLease        = time.Minute
	defaultGrantsPerRun = 500
)

// Activity names of the gate: the two things it and its users need from
// outside workflow code. Workflow code cannot SignalWithStart by itself,
// and cannot describe another workflow.
const (
	SignalActivity      = "SignalGate"
	HolderAliveActivity = "GateHolderAlive"
)

// SignalInput asks for a signal to a gate workflow, starting the gate if
// it is not running (SignalWithStart), so the first import to need a vendor
// account brings its gate up.
type SignalInput struct {
	GateID    string `json:"gate_id"`
	TaskQueue string `json:"task_queue"`
	// Workflow is the gate's registered name (WorkflowName).
	Workflow string `json:"workflow"`
	// Start is the gate's input, if the signal starts it.
	Start  Input  `json:"workflow_arg"`
	Signal string `json:"signal"`
	// Request is the request the signal carries.
	Request Request `json:"signal_arg"`
}

// HolderRef names one run of a workflow that holds or waits for a gate.
type HolderRef struct {
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
}

// ID is the workflow ID of a vendor account's gate.
func ID(vendor, connection string) string {
	if connection == "" {
		connection = "default"
	}
	return "gate/" + strings.ToLower(vendor) + "/" + connection
}

// Request is one request for the gate.
type Request struct {
	RequestID  string    `json:"request_id"`
	WorkflowID string    `json:"workflow_id"`
	RunID      string    `json:"run_id"`
	Label      string    `json:"label,omitempty"` // what it will do, for people
	AskedAt    time.Time `json:"asked_at"`
}

// Holder is the request that holds the gate.
type Holder struct {
	Request
	Since      time.Time `json:"since"`
	LeaseUntil time.Time `json:"lease_until"`
}

// Input starts or continues a gate.
type Input struct {
	Vendor     string        `json:"vendor"`
	Connection string        `json:"connection"`
	Lease      time.Duration `json:"lease,omitempty"`
	// GrantsPerRun continues the gate as new after this many grants
	// (default 500), carrying its holder and queue.
	GrantsPerRun int    `json:"grants_per_run,omitempty"`
	State        *State `json:"state,omitempty"`
}

// State is what a gate carries across continue-as-new.
type State struct {
	Holder *Holder   `json:"holder,omitempty"`
	Queue  []Request `json:"queue,omitempty"`
	Grants int64     `json:"grants"`
	Taken  int64     `json:"taken_back"` // leases taken back from dead holders
	Runs   int       `json:"runs"`
}

// Status answers StateQuery.
type Status struct {
	Vendor     string        `json:"vendor"`
	Connection string        `json:"connection"`
	Holder     *Holder       `json:"holder,omitempty"`
	HeldFor    time.Duration `json:"held_for,omitempty"`
	Queue      []Request     `json:"queue"`
	Grants     int64         `json:"grants"`
	TakenBack  int64         `json:"taken_back"`
}

type requestSignal struct {
	RequestID string `json:"request_id"`
}
