package demo

import (
	"testing"

	"importer/starter/cli"
)

// The --vendor flag reads the registry; its text is what it was when it
// named today's vendors by hand.
func TestVendorFlagComesFromTheRegistry(t *testing.T) {
	fl := NewCommand(&cli.Globals{}).Flags().Lookup("vendor")
	if want := "the sandbox vendor to import into: nebuly, bitlabs, userpilot or dynamic"; fl.Usage != want {
		t.Errorf("usage %q, want %q", fl.Usage, want)
	}
	if fl.DefValue != "nebuly" {
		t.Errorf("default %q", fl.DefValue)
	}
	want := "the demo imports into nebuly, bitlabs, userpilot or dynamic, not \"fynd\" (fynd audiences: see `starter audience sync`)"
	if err := notImported("fynd"); err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}

func TestOneOf(t *testing.T) {
	for _, c := range []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"a"}, "a"},
		{[]string{"a", "b"}, "a or b"},
		{[]string{"a", "b", "c"}, "a, b or c"},
	} {
		if got := oneOf(c.names); got != c.want {
			t.Errorf("oneOf(%q) = %q, want %q", c.names, got, c.want)
		}
	}
}
