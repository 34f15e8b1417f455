package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"importer/workflows/gate"
	"importer/workflows/pacer"
)

// Register registers the workflows under their public names.
func Register(w worker.WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(Import, workflow.RegisterOptions{Name: ImportWorkflowName})
	w.RegisterWorkflowWithOptions(gate.Workflow, workflow.RegisterOptions{Name: gate.WorkflowName})
	w.RegisterWorkflowWithOptions(pacer.Workflow, workflow.RegisterOptions{Name: pacer.WorkflowName})
	w.RegisterWorkflowWithOptions(AudienceSync, workflow.RegisterOptions{Name: AudienceWorkflowName})
	w.RegisterWorkflowWithOptions(AudienceLookup, workflow.RegisterOptions{Name: AudienceLookupWorkflowName})
	w.RegisterWorkflowWithOptions(Notify, workflow.RegisterOptions{Name: NotifyWorkflowName})
}
