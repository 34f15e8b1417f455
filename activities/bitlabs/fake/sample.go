package fake

import (
	"fmt"

	"importer/activities/vendorapi/fakeapi"
)

// Sample is the shape of generated BitLabs user lists: uid, country,
// languages, birthdate, gender, zipcode, lines ending with LF. An invalid
// row has a birthdate that is no date, which the importer's validation
// refuses before sending. A user's key is its uid, o.UID(i).
type Sample struct{}

var _ fakeapi.Sample = Sample{}

func (Sample) Header(fakeapi.SampleOptions) string {
	return "uid,country,languages,birthdate,gender,zipcode\n"
}

func (Sample) Row(o fakeapi.SampleOptions, i int) string {
	genders := []string{"MALE", "FEMALE", "OTHER"}
	countries := []string{"DE", "US", "FR", "IT"}
	birth := fmt.Sprintf("19%02d-%02d-%02d", 50+i%50, i%12+1, i%28+1)
	if o.Invalid(i) {
		birth = "yesterday"
	}
	return fmt.Sprintf("%s,%s,\"de,en\",%s,%s,%05d\n", o.UID(i), countries[i%len(countries)], birth, genders[i%len(genders)], i%100000)
}

func (Sample) Key(o fakeapi.SampleOptions, i int) string { return o.UID(i) }
