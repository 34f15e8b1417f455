package cli

import (
	"io"

	"github.com/rs/zerolog"
	"go.temporal.io/sdk/client"
)

// What the demo command (starter/demo) uses of the CLI.

// Logger is the console logger for the client's own logs.
func (g *Globals) Logger() zerolog.Logger { return g.logger() }

// Stderr is where human-facing messages go.
func (g *Globals) Stderr() io.Writer { return g.stderr }

// TaskQueue is the task queue imports are started on.
func (g *Globals) TaskQueue() string { return g.taskQueue }

// UseServer points links and the namespace at an embedded server.
func (g *Globals) UseServer(uiURL, namespace string) {
	g.uiURL, g.namespace = uiURL, namespace
}

// WorkflowLink is the UI page of a workflow.
func (g *Globals) WorkflowLink(c client.Client, id string) string { return g.workflowLink(c, id) }

// Num formats an integer with thousands separators.
func Num(n int64) string { return num(n) }
