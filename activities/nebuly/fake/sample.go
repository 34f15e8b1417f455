package fake

import (
	"fmt"

	"importer/activities/vendorapi/fakeapi"
)

// Sample is the shape of generated Nebuly user lists: end_user, an access
// window and tags, as CSV (lines end with o.EOL(); every
// o.QuotedNewlineEvery-th note is a quoted field with a comma, a line end
// and quotes) or as NDJSON, tags nested. An invalid CSV row has, in turn,
// no end_user, a date in another format, or an active_to before its
// active_from; an invalid NDJSON row has an active_from that is no date.
// A user's key is its end_user, o.Email(i).
type Sample struct{}

var _ fakeapi.ObjectSample = Sample{}

func (Sample) Header(o fakeapi.SampleOptions) string {
	return "end_user,active_from,active_to,tags.Plan,tags.Country,tags.Note" + o.EOL()
}

func (Sample) Row(o fakeapi.SampleOptions, i int) string {
	eol := o.EOL()
	plans := []string{"Free", "Standard", "Premium"}
	countries := []string{"US", "DE", "IT", "CA", "JP"}
	email, from, to := o.Email(i), sampleFrom(i), ""
	if i%7 == 0 {
		to = "2027-01-31"
	}
	note := fmt.Sprintf("row %d", i)
	if o.QuotedNewlineEvery > 0 && i%o.QuotedNewlineEvery == 0 {
		note = fmt.Sprintf("\"line one, with a comma%sline two with \"\"quotes\"\"\"", eol)
	}
	if o.Invalid(i) {
		switch (i / o.InvalidEvery) % 3 {
		case 0:
			email = ""
		case 1:
			from = "31/12/2025"
		case 2:
			to = "2024-01-01"
		}
	}
	return fmt.Sprintf("%s,%s,%s,%s,%s,%s%s", email, from, to, plans[i%len(plans)], countries[i%len(countries)], note, eol)
}

func (Sample) Object(o fakeapi.SampleOptions, i int) any {
	u := map[string]any{
		"end_user":    o.Email(i),
		"active_from": sampleFrom(i),
		"tags":        map[string]any{"Plan": "Standard", "Seats": i % 50, "Note": "multi\nline"},
	}
	if o.Invalid(i) {
		u["active_from"] = "not a date"
	}
	return u
}

func (Sample) Key(o fakeapi.SampleOptions, i int) string { return o.Email(i) }

func sampleFrom(i int) string { return fmt.Sprintf("2025-%02d-%02d", i%12+1, i%28+1) }
