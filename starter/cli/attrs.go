package cli

import (
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"importer/workflows"
)

// searchAttributes are what the Temporal UI filters runs by: the vendor,
// the connection, the source (without a URL's query, which can hold a
// credential) and, for a scheduled run, the schedule.
func searchAttributes(vendor, connection, uri, schedule string) temporal.SearchAttributes {
	updates := []temporal.SearchAttributeUpdate{
		temporal.NewSearchAttributeKeyKeyword(workflows.SAVendor).ValueSet(vendor),
		temporal.NewSearchAttributeKeyKeyword(workflows.SAConnection).ValueSet(connection),
		temporal.NewSearchAttributeKeyKeyword(workflows.SASource).ValueSet(displaySource(uri)),
	}
	if schedule != "" {
		updates = append(updates, temporal.NewSearchAttributeKeyKeyword(workflows.SASchedule).ValueSet(schedule))
	}
	return temporal.NewSearchAttributes(updates...)
}

// explainStart turns a refusal caused by unregistered search attributes
// into the command that fixes it.
func explainStart(err error) error {
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) && strings.Contains(strings.ToLower(invalid.Error()), "search attribute") {
		return fmt.Errorf("%w; the namespace does not know the importer's search attributes yet: register them once with `starter setup`", err)
	}
	return err
}
