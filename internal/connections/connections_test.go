package connections

import (
	"strings"
	"testing"
)

func TestDefaultConnectionFromEnvironment(t *testing.T) {
	s := FromEnv([]string{
		"IMPORTER_NEBULY_API_KEY=secret-1",
		"IMPORTER_NEBULY_BASE_URL=http://127.0.0.1:9/nebuly",
		"IMPORTER_NEBULYX_API_KEY=other",
		"PATH=/bin",
	}, []string{"nebuly", "bitlabs"})
	c, err := s.Get("nebuly", "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Get("api_key") != "secret-1" || c.Get("BASE_URL") != "http://127.0.0.1:9/nebuly" {
		t.Fatalf("settings: %+v", c)
	}
	b, _ := s.Get("bitlabs", "default")
	_, err = b.Require("S2S_TOKEN")
	if err == nil || !strings.Contains(err.Error(), "IMPORTER_BITLABS_S2S_TOKEN") {
		t.Fatalf("missing credential error must name the variable, got %v", err)
	}
	if _, err := s.Get("nebuly", "eu"); err == nil || !strings.Contains(err.Error(), `"eu"`) {
		t.Fatalf("unknown connection: %v", err)
	}
}

func TestDescribeNeverShowsValues(t *testing.T) {
	s := FromEnv([]string{"IMPORTER_NEBULY_API_KEY=secret-1"}, []string{"nebuly"})
	for _, line := range s.Describe() {
		if strings.Contains(line, "secret-1") {
			t.Fatalf("Describe leaked a secret: %s", line)
		}
	}
	if got := strings.Join(s.Describe(), ";"); !strings.Contains(got, "nebuly/default: api_key") {
		t.Fatalf("Describe = %s", got)
	}
}

func TestWithOverridesOneConnection(t *testing.T) {
	s := FromEnv([]string{"IMPORTER_NEBULY_API_KEY=a"}, []string{"nebuly"})
	s2 := s.With("nebuly", Default, map[string]string{"api_key": "b"})
	c1, _ := s.Get("nebuly", Default)
	c2, _ := s2.Get("nebuly", Default)
	if c1.Get("API_KEY") != "a" || c2.Get("API_KEY") != "b" {
		t.Fatalf("With changed the original or did not apply: %q %q", c1.Get("API_KEY"), c2.Get("API_KEY"))
	}
}
