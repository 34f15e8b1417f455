package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
)

// Search attribute names the importer registers, so the Temporal UI can
// filter imports by vendor, connection and source.
const (
	SAVendor     = "ImporterVendor"
	SAConnection = "ImporterConnection"
	SASource     = "ImporterSource"
	// SASchedule names the schedule that started a run, if one did.
	SASchedule = "ImporterSchedule"
)

// SearchAttributes lists the custom search attributes with their types.
func SearchAttributes() map[string]enumspb.IndexedValueType {
	return map[string]enumspb.IndexedValueType{
		SAVendor:     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SAConnection: enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SASource:     enumspb.INDEXED_VALUE_TYPE_KEYWORD,
		SASchedule:   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	}
}
