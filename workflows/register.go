package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"importer/workflows/gate"
	"importer/workflows/pacer"
)

// Register registers the workflows under their public names, with the
// worker's Settings, which the import and the audience sync record once
// per run and hold their input to.
func Register(w worker.WorkflowRegistry, s Settings) {
	f := &flows{settings: s}
	w.RegisterWorkflowWithOptions(f.Import, workflow.RegisterOptions{Name: ImportWorkflowName})
	w.RegisterWorkflowWithOptions(gate.Workflow, workflow.RegisterOptions{Name: gate.WorkflowName})
	w.RegisterWorkflowWithOptions(pacer.Workflow, workflow.RegisterOptions{Name: pacer.WorkflowName})
	w.RegisterWorkflowWithOptions(f.AudienceSync, workflow.RegisterOptions{Name: AudienceWorkflowName})
	w.RegisterWorkflowWithOptions(AudienceLookup, workflow.RegisterOptions{Name: AudienceLookupWorkflowName})
	w.RegisterWorkflowWithOptions(Notify, workflow.RegisterOptions{Name: NotifyWorkflowName})
}

// flows are the workflows that start from a person's input, with the
// settings of the worker that registered them.
type flows struct {
	settings Settings
}
