package sandbox

import (
	"io"
	"net/http"
	"testing"

	"importer/activities/vendors"
	"importer/internal/connections"
)

// Every vendor of the registry is served, and its default connection
// points at its fake with every credential its code requires.
func TestEveryVendorIsServedAndConnected(t *testing.T) {
	sb, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	unmounted := get(t, sb.URL+"/nosuch/")
	conns := sb.Connections(connections.FromEnv(nil, vendors.Names()))
	for _, e := range vendors.All() {
		name := e.Spec.Name
		if sb.Vendor(name) == nil {
			t.Fatalf("%s: no fake", name)
		}
		if n := sb.Vendor(name).Count(); n != 0 {
			t.Errorf("%s: a new fake holds %d users", name, n)
		}
		c, err := conns.Get(name, connections.Default)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, want := c.Get("BASE_URL"), sb.URL+"/"+name; got != want {
			t.Errorf("%s: BASE_URL %q, want %q", name, got, want)
		}
		for _, cred := range e.Spec.Credentials {
			if _, err := c.Require(cred); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		if got := get(t, c.Get("BASE_URL")+"/"); got == unmounted {
			t.Errorf("%s: nothing is served at %s", name, c.Get("BASE_URL"))
		}
	}
	if sb.Vendor("nosuch") != nil || sb.Settings("nosuch") != nil {
		t.Error("a fake for a vendor the registry does not have")
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Status + " " + string(b)
}
