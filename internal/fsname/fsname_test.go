package fsname

import "testing"

func TestSafeKeepsPlainNamesAndReplacesTheRest(t *testing.T) {
	cases := map[string]string{
		"import-nebuly-users-20261123-101500-01a2b3c4": "import-nebuly-users-20261123-101500-01a2b3c4",
		"gate/bitlabs/default":                         "gate_bitlabs_default",
		"../../etc/passwd":                             ".._.._etc_passwd",
		"VIP customers é":                              "VIP_customers__",
	}
	for in, want := range cases {
		if got := Safe(in); got != want {
			t.Errorf("Safe(%q) = %q, want %q", in, got, want)
		}
	}
}
