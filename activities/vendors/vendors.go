// Package vendors is the registry: the one list of the vendors the
// importer speaks to. Everything that loops over vendors (the import flow,
// connection schemas, the sandbox, the demo, the generators, the soak, the
// CLI's help) reads it here. Adding a vendor is a folder under activities/
// (its client, its Spec, its Vendor adapter, its fake) and one line in
// registry.
package vendors

import (
	"fmt"
	"slices"
	"strings"

	"importer/activities/bitlabs"
	bitlabsfake "importer/activities/bitlabs/fake"
	"importer/activities/dynamic"
	dynamicfake "importer/activities/dynamic/fake"
	"importer/activities/fynd"
	fyndfake "importer/activities/fynd/fake"
	"importer/activities/mapping"
	"importer/activities/nebuly"
	nebulyfake "importer/activities/nebuly/fake"
	"importer/activities/userpilot"
	userpilotfake "importer/activities/userpilot/fake"
	"importer/activities/vendorapi"
	"importer/activities/vendorapi/fakeapi"
	"importer/internal/connections"
)

// Entry is one vendor.
type Entry struct {
	// Spec is the vendor's name, fields, connection settings and traits.
	Spec vendorapi.Spec
	// Import is how the import flow sends users to the vendor; nil for a
	// vendor that takes no imports (Fynd: Spec.Traits.Audiences).
	Import vendorapi.Vendor
	// Sandbox is the vendor's fake server, for `worker --sandbox` and
	// `starter demo`: as strict as the vendor's documented rules.
	Sandbox func(fakeapi.SandboxOptions) fakeapi.Sandbox
	// Sample is the shape of the vendor's generated user lists, for the
	// demo, the tests and the benchmarks (vendors/gen); nil for a vendor
	// that takes no imports.
	Sample fakeapi.Sample
}

// registry lists every vendor, one line each. It is read-only: the set of
// vendors is fixed at build time, which is what lets workflow code read
// their traits.
var registry = []Entry{
	imports(vendorapi.Batches(nebuly.Vendor{}), nebulyfake.Sandbox, nebulyfake.Sample{}),
	imports(vendorapi.Batches(bitlabs.Vendor{}), bitlabsfake.Sandbox, bitlabsfake.Sample{}),
	imports(vendorapi.Jobs(userpilot.Vendor{}), userpilotfake.Sandbox, userpilotfake.Sample{}),
	imports(vendorapi.Batches(dynamic.Vendor{}), dynamicfake.Sandbox, dynamicfake.Sample{}),
	{Spec: fynd.Spec(), Sandbox: fyndfake.Sandbox},
}

func imports(v vendorapi.Vendor, sandbox func(fakeapi.SandboxOptions) fakeapi.Sandbox, sample fakeapi.Sample) Entry {
	return Entry{Spec: v.Spec(), Import: v, Sandbox: sandbox, Sample: sample}
}

// All lists every vendor, in the registry's order.
func All() []Entry { return slices.Clone(registry) }

// Names lists every vendor whose connections the worker reads: the import
// vendors and the audience ones, sorted.
func Names() []string {
	var names []string
	for _, e := range registry {
		names = append(names, e.Spec.Name)
	}
	slices.Sort(names)
	return names
}

// ImportNames lists the vendors an import can send to, sorted.
func ImportNames() []string {
	var names []string
	for _, e := range registry {
		if e.Import != nil {
			names = append(names, e.Spec.Name)
		}
	}
	slices.Sort(names)
	return names
}

// Get finds a vendor by name, in any case.
func Get(name string) (Entry, error) {
	for _, e := range registry {
		if strings.EqualFold(e.Spec.Name, name) {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("unknown vendor %q: choose one of %s", name, strings.Join(Names(), ", "))
}

// Import finds a vendor an import can send to.
func Import(name string) (vendorapi.Vendor, error) {
	e, err := Get(name)
	if err == nil && e.Import == nil {
		err = fmt.Errorf("%s takes no imports (its lists sync into audiences: see `starter audience sync`)", e.Spec.Name)
	}
	if err != nil {
		if _, unknown := Get(name); unknown != nil {
			err = fmt.Errorf("unknown vendor %q: choose one of %s", name, strings.Join(ImportNames(), ", "))
		}
		return nil, err
	}
	return e.Import, nil
}

// Check says whether name is a vendor an import can send to, and which
// are if it is not.
func Check(name string) error {
	_, err := Import(name)
	return err
}

// Traits returns an import vendor's traits; safe to call from workflow code.
func Traits(name string) (vendorapi.Traits, error) {
	v, err := Import(name)
	if err != nil {
		return vendorapi.Traits{}, err
	}
	return v.Spec().Traits, nil
}

// ConnectionSchema lists, for every vendor, the connection settings its
// code reads: the required ones, the optional ones, and the endpoints among
// them. The worker checks its config file and environment against it.
func ConnectionSchema() connections.Schema {
	s := connections.Schema{}
	for _, e := range registry {
		s[e.Spec.Name] = connections.VendorSchema{Required: slices.Clone(e.Spec.Credentials),
			Optional: slices.Clone(e.Spec.Settings), Endpoints: slices.Clone(e.Spec.Endpoints)}
	}
	return s
}

// MissingColumns says which of an import vendor's required fields a source
// with these columns cannot fill under mapping m, and, for a vendor that
// needs one of several fields, whether it can fill none of them.
func MissingColumns(name string, m mapping.Mapping, columns []string) ([]string, error) {
	v, err := Import(name)
	if err != nil {
		return nil, err
	}
	spec := v.Spec()
	missing := m.Missing(columns, spec.Required)
	if len(spec.AnyOf) > 0 {
		have := m.Provides(columns)
		found := false
		for _, f := range spec.AnyOf {
			found = found || have[f]
		}
		if !found {
			missing = append(missing, "one of "+strings.Join(spec.AnyOf, ", "))
		}
	}
	return missing, nil
}
