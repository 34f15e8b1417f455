package fakeapi

import "fmt"

// Sample is the shape of a vendor's generated user lists, for the demo, the
// tests and the benchmarks (activities/vendors/gen writes them). A list is a CSV
// file: Header, then Row for every row. It is deterministic: the same
// options give the same bytes, and exactly the rows that o.Invalid names
// break one of the vendor's rules, so that tests can assert exact
// accounting.
type Sample interface {
	// Header is a CSV list's first line, with its line end.
	Header(o SampleOptions) string
	// Row is CSV row i (0-based), with its line end (a quoted field may
	// hold more). The row breaks one of the vendor's rules if o.Invalid(i);
	// otherwise the vendor takes it.
	Row(o SampleOptions, i int) string
	// Key is the key the vendor knows the user of valid row i by.
	Key(o SampleOptions, i int) string
}

// ObjectSample is a Sample whose lists can also be NDJSON, one JSON object
// a line.
type ObjectSample interface {
	Sample
	// Object is row i as a JSON object; invalid as Row is.
	Object(o SampleOptions, i int) any
}

// SampleOptions shape a generated list. A sample may ignore the options
// that mean nothing for its vendor.
type SampleOptions struct {
	Rows int
	// InvalidEvery makes every n-th row break one of the vendor's rules;
	// 0 for none.
	InvalidEvery int
	// QuotedNewlineEvery puts a quoted field with a newline and a comma in
	// every n-th row; 0 for none.
	QuotedNewlineEvery int
	// CRLF ends lines with CRLF instead of LF, in a sample that ends its
	// lines with EOL.
	CRLF bool
	// Domain is the domain of Email; default example.com.
	Domain string
	// IDPrefix starts the user ids (UID, and what a sample makes from
	// Prefix); default "u". Two lists with other prefixes have no user in
	// common.
	IDPrefix string
}

// Invalid says whether row i (0-based) is one of the invalid ones.
func (o SampleOptions) Invalid(i int) bool {
	return o.InvalidEvery > 0 && i%o.InvalidEvery == o.InvalidEvery-1
}

// EOL is the line end: CRLF or LF.
func (o SampleOptions) EOL() string {
	if o.CRLF {
		return "\r\n"
	}
	return "\n"
}

// Email is an e-mail address for row i, unique per Domain.
func (o SampleOptions) Email(i int) string {
	d := o.Domain
	if d == "" {
		d = "example.com"
	}
	return fmt.Sprintf("user%08d@%s", i, d)
}

// Prefix is IDPrefix, or its default.
func (o SampleOptions) Prefix() string {
	if o.IDPrefix == "" {
		return "u"
	}
	return o.IDPrefix
}

// UID is a user id for row i, unique per IDPrefix.
func (o SampleOptions) UID(i int) string {
	return fmt.Sprintf("%s%08d", o.Prefix(), i)
}
