package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Register registers the workflows under their public names.
func Register(w worker.WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(Import, workflow.RegisterOptions{Name: ImportWorkflowName})
	w.RegisterWorkflowWithOptions(Gate, workflow.RegisterOptions{Name: GateWorkflowName})
}
