package fake

import (
	"fmt"

	"importer/activities/vendorapi/fakeapi"
)

// Sample is the shape of generated Userpilot user lists: user_id,
// company_id and typed metadata, lines ending with LF. An invalid row has
// no user_id. A user's key is its user_id, o.UID(i).
type Sample struct{}

var _ fakeapi.Sample = Sample{}

func (Sample) Header(fakeapi.SampleOptions) string {
	return "user_id,company_id,metadata.plan,metadata.seats,metadata.trial\n"
}

func (Sample) Row(o fakeapi.SampleOptions, i int) string {
	id := o.UID(i)
	if o.Invalid(i) {
		id = ""
	}
	return fmt.Sprintf("%s,company-%d,Pro,%d,%t\n", id, i%100, i%50, i%2 == 0)
}

func (Sample) Key(o fakeapi.SampleOptions, i int) string { return o.UID(i) }
