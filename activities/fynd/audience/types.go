package audience

import (
	"time"

	"importer/activities/mapping"
	"importer/activities/source"
	"importer/internal/steps"
)

// AudienceVendor is the vendor name of audience syncs (connections, rejects).
const AudienceVendor = "fynd"

// AudienceSpec names one sync: the connection, the group, and the key under
// which its artifacts and rejects are kept. It holds no user data.
type AudienceSpec struct {
	Connection  string `json:"connection"`
	Group       string `json:"group"`
	Description string `json:"description,omitempty"`
	Category    string `json:"category,omitempty"`
	// SyncKey names the sync's artifacts and rejects; stable across retries.
	SyncKey string `json:"sync_key"`
	// KeepMissing leaves members that are not in the list in the group; by
	// default the group is made to match the list.
	KeepMissing bool `json:"keep_missing,omitempty"`
}

// PrepareAudienceInput asks for a source to be read, validated and written
// as the files Fynd fetches.
type PrepareAudienceInput struct {
	Spec    AudienceSpec    `json:"spec"`
	Source  source.Ref      `json:"source"`
	Mapping mapping.Mapping `json:"mapping"`
	// MaxAttributeSets bounds the distinct combinations of attribute values
	// (one Fynd job each); default 100.
	MaxAttributeSets int `json:"max_attribute_sets,omitempty"`
}

// AttributeSet is one bulk attribute job: the users of one file get the same
// values. The values themselves stay in the manifest artifact, out of history.
type AttributeSet struct {
	Index int    `json:"index"`
	File  string `json:"file"` // artifact key
	Rows  int    `json:"rows"`
}

// PreparedAudience is what PrepareAudience made: counts and artifact keys.
type PreparedAudience struct {
	Counts  ListCounts `json:"counts"` // Rows = rows read; Rejected = invalid and duplicate rows
	Members int        `json:"members"`
	// MembersFile is the artifact with every member's identifiers.
	MembersFile string `json:"members_file"`
	// LinesFile maps member keys to source lines, for vendor-side rejects.
	LinesFile string `json:"lines_file"`
	// PatchFile is where SyncGroup writes what to add to and remove from
	// an existing group.
	PatchFile string         `json:"patch_file"`
	Manifest  string         `json:"manifest"`
	Slugs     []string       `json:"slugs,omitempty"`
	Sets      []AttributeSet `json:"sets,omitempty"`
	Bytes     int64          `json:"bytes"`
}

// EnsureAttributesInput names the definitions a sync needs.
type EnsureAttributesInput struct {
	Spec    AudienceSpec    `json:"spec"`
	Slugs   []string        `json:"slugs"`
	Mapping mapping.Mapping `json:"mapping"`
}

// AttributeDefinition is one definition as the sync found or made it.
type AttributeDefinition struct {
	Slug   string `json:"slug"`
	ID     string `json:"id"`
	Action string `json:"action"` // created, updated, unchanged
}

// AttributeJobInput starts or waits for the job of one attribute set.
type AttributeJobInput struct {
	Spec     AudienceSpec `json:"spec"`
	Manifest string       `json:"manifest"`
	Set      AttributeSet `json:"set"`
	JobID    string       `json:"job_id,omitempty"`
	// LinesFile maps vendor-side row errors back to source lines.
	LinesFile string     `json:"lines_file,omitempty"`
	Poll      steps.Poll `json:"poll"`
}

// AttributeJobResult is how a job ended.
type AttributeJobResult struct {
	JobID     string `json:"job_id"`
	Status    string `json:"status"`
	Processed int    `json:"processed"`
	Failed    int    `json:"failed"` // rows the vendor refused; in the rejects
}

// SyncGroupInput makes the group hold the members file.
type SyncGroupInput struct {
	Spec        AudienceSpec `json:"spec"`
	MembersFile string       `json:"members_file"`
	PatchFile   string       `json:"patch_file"`
}

// GroupSync is what SyncGroup did.
type GroupSync struct {
	GroupID string `json:"group_id"`
	UID     int64  `json:"uid,omitempty"`
	// Mode is created, patched, unchanged, or busy (the group is still
	// processing an earlier change: wait for it, then sync again).
	Mode    string `json:"mode"`
	Added   int    `json:"added"`
	Removed int    `json:"removed"`
	// File is the artifact the group was given to process: the members
	// file when created, the patch file when patched.
	File string `json:"file,omitempty"`
}

// GroupWaitInput waits for a group to finish processing.
type GroupWaitInput struct {
	Spec      AudienceSpec `json:"spec"`
	GroupID   string       `json:"group_id"`
	LinesFile string       `json:"lines_file,omitempty"`
	Poll      steps.Poll   `json:"poll"`
}

// GroupState is a processed group.
type GroupState struct {
	Status     string `json:"status"`
	ErrorCount int    `json:"error_count"`
	// Rejected counts members the vendor refused (its error file), now in
	// the rejects.
	Rejected int `json:"rejected"`
}

// RefreshInput asks for, or waits for, a refresh of a group's total users.
type RefreshInput struct {
	Spec        AudienceSpec `json:"spec"`
	GroupID     string       `json:"group_id"`
	Expected    int          `json:"expected"`
	Before      TotalUsers   `json:"before"`
	RequestedAt time.Time    `json:"requested_at"`
	Poll        steps.Poll   `json:"poll"`
}

// TotalUsers is a group's member count as Fynd last computed it.
type TotalUsers struct {
	Count     int       `json:"count"`
	UpdatedAt time.Time `json:"updated_at"`
	Known     bool      `json:"known"`
}

// RefreshStarted is a requested refresh.
type RefreshStarted struct {
	Before      TotalUsers `json:"before"`
	RequestedAt time.Time  `json:"requested_at"`
}

// VerifyInput lists a group's members and compares them with the file.
type VerifyInput struct {
	Spec        AudienceSpec `json:"spec"`
	GroupID     string       `json:"group_id"`
	MembersFile string       `json:"members_file"`
	LinesFile   string       `json:"lines_file"`
	// GroupFile is the file the group last processed, whose rows the
	// group's error file numbers.
	GroupFile string `json:"group_file,omitempty"`
}

// Verification compares the group's members with the list.
type Verification struct {
	Expected   int `json:"expected"`
	Present    int `json:"present"`
	Missing    int `json:"missing"`
	Unexpected int `json:"unexpected"`
}

// FinishAudienceInput joins a sync's rejects and cleans its artifacts.
type FinishAudienceInput struct {
	Spec      AudienceSpec `json:"spec"`
	Artifacts []string     `json:"artifacts"`
	// Members is how many members the vendor was given; vendor-side
	// rejects are counted against them once per member.
	Members int `json:"members"`
	// Rejected is how many rows the sync's preparation rejected, by its
	// result in history; with the vendor-side rejects it is what the store
	// must hold (failure.StoreNotShared otherwise). Nil skips the check.
	Rejected *int64 `json:"rejected,omitempty"`
}

// FinishedAudience is the final accounting of vendor-side rejects.
type FinishedAudience struct {
	VendorRejected int `json:"vendor_rejected"`
	// Rejects is how many rejected rows the store holds for the sync.
	Rejects int `json:"rejects"`
}

// ListCounts is the accounting of a list's rows: Rows = members +
// Rejected.
type ListCounts struct {
	Rows     int64 `json:"rows"`
	Rejected int64 `json:"rejected"`
}
