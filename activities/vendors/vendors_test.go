package vendors

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"importer/activities/fynd"
	"importer/activities/vendorapi"
	"importer/internal/connections"
)

func TestConnectionSchemaIsEachVendorsOwnTable(t *testing.T) {
	s := ConnectionSchema()
	for _, name := range Names() {
		vs, ok := s[name]
		if !ok {
			t.Fatalf("no schema for %s", name)
		}
		e, err := Get(name)
		if err != nil {
			t.Fatal(err)
		}
		creds := e.Spec.Credentials
		if !slices.Equal(vs.Required, creds) {
			t.Errorf("%s: required %v, want its credentials %v", name, vs.Required, creds)
		}
		if !slices.Contains(vs.Optional, "BASE_URL") {
			t.Errorf("%s: every vendor's base URL is configurable, but BASE_URL is not in %v", name, vs.Optional)
		}
		// Every setting that says where credentials go is checked as an
		// endpoint (https://, or loopback) when the worker loads it.
		for _, setting := range vs.Optional {
			where := strings.HasSuffix(setting, "_URL") || strings.HasPrefix(setting, "PATH_")
			if where != slices.Contains(vs.Endpoints, setting) {
				t.Errorf("%s: %s is an endpoint: %v, want %v (endpoints %v)", name, setting, !where, where, vs.Endpoints)
			}
		}
	}
	if len(s) != len(Names()) {
		t.Errorf("schema has %d vendors, ConnectionVendors %d", len(s), len(Names()))
	}
	for _, p := range fynd.PathSettings() {
		if !slices.Contains(s["fynd"].Optional, p) {
			t.Errorf("fynd path override %s cannot be set from a config file", p)
		}
	}
	for _, rs := range []string{"REQUESTS_PER_MINUTE", "RATE_GROUP"} {
		if !slices.Contains(s["dynamic"].Optional, rs) {
			t.Errorf("dynamic pacing reads %s, which the schema lacks", rs)
		}
	}
	// The table handed out is a copy: changing it changes no vendor.
	s["nebuly"].Required[0] = "CHANGED"
	if ConnectionSchema()["nebuly"].Required[0] != "API_KEY" {
		t.Fatal("ConnectionSchema shares its slices with the vendor code")
	}
}

// Each vendor can do what its traits promise, and a vendor that cannot do
// something says so instead of failing somewhere else: the import flow
// trusts traits and never asks a vendor what it is.
func TestEveryImportVendorCanDoWhatItsTraitsPromise(t *testing.T) {
	cannot := func(err error) bool { return err != nil && strings.Contains(err.Error(), "has no way to") }
	ctx := context.Background()
	for _, e := range All() {
		if e.Import == nil {
			if !e.Spec.Traits.Audiences {
				t.Errorf("%s takes no imports but is no audience vendor", e.Spec.Name)
			}
			continue
		}
		v, tr := e.Import, e.Spec.Traits
		// A connection without credentials: a vendor that can do a thing
		// fails on the missing credential, one that cannot says so first.
		to := vendorapi.Target{Conn: connections.Connection{Vendor: e.Spec.Name, Name: "test"}, HTTP: http.DefaultClient}
		_, err := v.Pacing(to.Conn)
		if tr.Paced == cannot(err) {
			t.Errorf("%s: Paced %v, but Pacing says %v", e.Spec.Name, tr.Paced, err)
		}
		_, err = v.Deactivate(ctx, to, map[string]bool{}, func(int) {})
		if tr.Deactivates == cannot(err) {
			t.Errorf("%s: Deactivates %v, but Deactivate says %v", e.Spec.Name, tr.Deactivates, err)
		}
		_, err = v.NewRows(0).Submit(ctx, to, nil)
		if tr.Jobs == cannot(err) {
			t.Errorf("%s: Jobs %v, but Submit says %v", e.Spec.Name, tr.Jobs, err)
		}
		if _, err := v.NewRows(0).Send(ctx, to, nil, nil); tr.Jobs != (err != nil && strings.Contains(err.Error(), "background jobs")) {
			t.Errorf("%s: Jobs %v, but Send says %v", e.Spec.Name, tr.Jobs, err)
		}
		if tr.MaxChunkRows < 0 || (tr.SingleBypass && !tr.Gated) {
			t.Errorf("%s: traits %+v do not hang together", e.Spec.Name, tr)
		}
		if e.Sandbox == nil {
			t.Errorf("%s has no sandbox", e.Spec.Name)
		}
	}
}

// A row keeps the vendor's own payload at the slot Add gives it; a row that
// breaks the vendor's rules gets no slot, a reason, and still its key.
func TestRowsKeepEachVendorsPayloadTyped(t *testing.T) {
	v, err := Import("nebuly")
	if err != nil {
		t.Fatal(err)
	}
	rows := v.NewRows(2)
	key, slot, err := rows.Add(map[string]any{"end_user": " ann@example.com ", "active_from": "2024-01-02"})
	if err != nil || slot != 0 || key != "ann@example.com" {
		t.Fatalf("valid row: key %q, slot %d, err %v", key, slot, err)
	}
	key, slot, err = rows.Add(map[string]any{"end_user": "bob@example.com", "active_from": "yesterday"})
	if err == nil || slot != -1 || key != "bob@example.com" {
		t.Fatalf("invalid row: key %q, slot %d, err %v; want its key, no slot and a reason", key, slot, err)
	}
	a, err := rows.ContentHash(0)
	if err != nil || a == 0 {
		t.Fatalf("content hash %d, %v", a, err)
	}
}

func TestLookupsNameTheChoices(t *testing.T) {
	if _, err := Import("acme"); err == nil || !strings.Contains(err.Error(), strings.Join(ImportNames(), ", ")) {
		t.Errorf("an unknown vendor: %v; want the vendors an import can send to", err)
	}
	if _, err := Import("fynd"); err == nil || !strings.Contains(err.Error(), "audience") {
		t.Errorf("an audience vendor: %v; want it to say fynd syncs audiences", err)
	}
	if _, err := Import("NEBULY"); err != nil {
		t.Errorf("names are matched in any case: %v", err)
	}
}
