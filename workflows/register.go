package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"importer/activities"
)

// Register registers the workflows under their public names.
func Register(w worker.WorkflowRegistry) {
	w.RegisterWorkflowWithOptions(Import, workflow.RegisterOptions{Name: ImportWorkflowName})
	w.RegisterWorkflowWithOptions(Gate, workflow.RegisterOptions{Name: GateWorkflowName})
	w.RegisterWorkflowWithOptions(Pacer, workflow.RegisterOptions{Name: activities.PacerWorkflowName})
	w.RegisterWorkflowWithOptions(AudienceSync, workflow.RegisterOptions{Name: AudienceWorkflowName})
	w.RegisterWorkflowWithOptions(AudienceLookup, workflow.RegisterOptions{Name: AudienceLookupWorkflowName})
}
