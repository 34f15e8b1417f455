package workflows

import (
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"importer/activities/vendorapi"
	"importer/workflows/gate"
	"importer/workflows/pacer"
)

// Register registers the workflows under their public names, with the
// worker's Settings, which the import and the audience sync record once
// (with the vendor's traits and the defaults: Decisions) and hold their
// input to.
func Register(w worker.WorkflowRegistry, s Settings) {
	RegisterWithTraits(w, s, nil)
}

// RegisterWithTraits is Register with the vendors' traits read from
// traits instead of the vendor registry (nil): a test stands in for a
// deploy that changes them.
func RegisterWithTraits(w worker.WorkflowRegistry, s Settings, traits func(vendor string) (vendorapi.Traits, error)) {
	f := &flows{settings: s, traits: traits}
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
	// traits reads a vendor's traits; nil is the vendor registry's.
	traits func(vendor string) (vendorapi.Traits, error)
}
