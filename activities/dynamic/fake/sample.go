package fake

import (
	"fmt"
	"hash/fnv"

	"importer/activities/vendorapi/fakeapi"
)

// Sample is the shape of generated Dynamic user lists: id (36
// characters), email, names, country, username and typed metadata, lines
// ending with LF. An invalid row has a country that is no ISO code, which
// the importer's validation refuses before sending. A user's key is its
// id, SampleID(o, i); its e-mail is SampleEmail(o, i).
type Sample struct{}

var _ fakeapi.Sample = Sample{}

func (Sample) Header(fakeapi.SampleOptions) string {
	return "id,email,firstName,lastName,country,username,metadata.plan,metadata.seats\n"
}

func (Sample) Row(o fakeapi.SampleOptions, i int) string {
	countries := []string{"DE", "US", "FR", "IT", "JP"}
	country := countries[i%len(countries)]
	if o.Invalid(i) {
		country = "Germany"
	}
	return fmt.Sprintf("%s,%s,First%d,Last%d,%s,user_%d,Pro,%d\n", SampleID(o, i), SampleEmail(o, i), i, i, country, i, i%50)
}

func (Sample) Key(o fakeapi.SampleOptions, i int) string { return SampleID(o, i) }

// SampleID is the id of row i in a generated list: 36 characters, shaped
// like a UUID and unique per o.IDPrefix.
func SampleID(o fakeapi.SampleOptions, i int) string {
	sum := fnv.New32a()
	_, _ = sum.Write([]byte(o.Prefix()))
	return fmt.Sprintf("%08x-0000-4000-8000-%012d", sum.Sum32(), i)
}

// SampleEmail is the e-mail of row i in a generated list. Dynamic keeps
// e-mails unique, so lists with other prefixes use other addresses.
func SampleEmail(o fakeapi.SampleOptions, i int) string {
	return fmt.Sprintf("%s%08d@example.com", o.Prefix(), i)
}
