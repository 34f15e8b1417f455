package main

import (
	"slices"
	"testing"
)

// The soak runs every vendor of the registry, in its order, and gives the
// workers the connections it gave them when it named the vendors by hand.
func TestEveryVendorIsSoaked(t *testing.T) {
	names, unprobed := soaked()
	if want := []string{"nebuly", "bitlabs", "userpilot", "dynamic", "fynd"}; !slices.Equal(names, want) || len(unprobed) > 0 {
		t.Fatalf("soaked %v (no probe of %v), want %v", names, unprobed, want)
	}
	urls := map[string]string{}
	for _, n := range names {
		urls[n] = "http://" + n
	}
	got := workerEnv(names, urls, settings{dynamicScale: 10})
	want := []string{
		"IMPORTER_NEBULY_BASE_URL=http://nebuly", "IMPORTER_NEBULY_API_KEY=" + nebulyKey,
		"IMPORTER_BITLABS_BASE_URL=http://bitlabs", "IMPORTER_BITLABS_S2S_TOKEN=" + bitlabsToken,
		"IMPORTER_USERPILOT_BASE_URL=http://userpilot", "IMPORTER_USERPILOT_API_KEY=" + userpilotKey,
		"IMPORTER_DYNAMIC_BASE_URL=http://dynamic", "IMPORTER_DYNAMIC_API_TOKEN=" + dynamicToken,
		"IMPORTER_DYNAMIC_ENVIRONMENT_ID=2762a57b-faa4-41ce-9f16-abff9300e2c9",
		"IMPORTER_DYNAMIC_REQUESTS_PER_MINUTE=1500",
		"IMPORTER_FYND_BASE_URL=http://fynd", "IMPORTER_FYND_CLIENT_ID=" + fyndClientID,
		"IMPORTER_FYND_CLIENT_SECRET=" + fyndSecret, "IMPORTER_FYND_COMPANY_ID=" + fyndCompany,
		"IMPORTER_FYND_APPLICATION_ID=" + fyndApp,
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("worker env\n%q\nwant\n%q", got, want)
	}
}

// Each import vendor's list is gen's list of it, keyed as its fake keys
// users; an audience vendor's list is the soak's own, and smaller.
func TestListsComeFromTheRegistry(t *testing.T) {
	dir := t.TempDir()
	cfg := config{rows: 300, audienceRows: 30}
	firstKeys := map[string]string{
		"nebuly": "user00000000@s01.example.com", "bitlabs": "s0100000000", "userpilot": "s0100000000",
		"dynamic": "8ca32005-0000-4000-8000-000000000000", "fynd": "s01-customer0000000@shop.example",
	}
	for _, v := range []string{"nebuly", "bitlabs", "userpilot", "dynamic", "fynd"} {
		tg, err := newTarget(v, dir, "s01", rowsFor(v, cfg), settings{dynamicScale: 1})
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		l := tg.list
		if want := map[bool]int{true: 30, false: 300}[v == "fynd"]; l.rows != want || l.valid+l.invalid != l.rows || len(l.keys) != l.valid || l.invalid != want/invalidEvery {
			t.Errorf("%s: list %d rows = %d valid + %d invalid, %d keys", v, l.rows, l.valid, l.invalid, len(l.keys))
		}
		if want := firstKeys[v]; l.keys[0] != want {
			t.Errorf("%s: first key %s, want %s", v, l.keys[0], want)
		}
		tg.close()
	}
}
