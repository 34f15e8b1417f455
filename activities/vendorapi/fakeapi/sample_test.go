package fakeapi

import "testing"

func TestSampleOptions(t *testing.T) {
	o := SampleOptions{InvalidEvery: 3}
	var invalid []int
	for i := 0; i < 9; i++ {
		if o.Invalid(i) {
			invalid = append(invalid, i)
		}
	}
	if len(invalid) != 3 || invalid[0] != 2 || invalid[1] != 5 || invalid[2] != 8 {
		t.Errorf("invalid rows %v, want [2 5 8]", invalid)
	}
	if (SampleOptions{}).Invalid(0) {
		t.Error("a row invalid without InvalidEvery")
	}
	for _, c := range []struct{ got, want string }{
		{SampleOptions{}.EOL(), "\n"},
		{SampleOptions{CRLF: true}.EOL(), "\r\n"},
		{SampleOptions{}.Email(7), "user00000007@example.com"},
		{SampleOptions{Domain: "corp.test"}.Email(7), "user00000007@corp.test"},
		{SampleOptions{}.UID(42), "u00000042"},
		{SampleOptions{IDPrefix: "p1-"}.UID(42), "p1-00000042"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
