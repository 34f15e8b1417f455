package mapping

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestApplyDefaultsToSameNameAndFlattensObjects(t *testing.T) {
	var m Mapping
	got := m.Apply(map[string]any{
		"end_user": "a@x.io",
		"tags":     map[string]any{"Plan": "Free", "Seats": json.Number("3")},
	})
	want := map[string]any{"end_user": "a@x.io", "tags.Plan": "Free", "tags.Seats": json.Number("3")}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestApplyRenamesAndConstants(t *testing.T) {
	m := Mapping{
		Fields:    map[string]string{"end_user": "email", "tags.Plan": "plan"},
		Constants: map[string]string{"active_from": "2026-01-01", "tags.Source": "crm"},
	}
	got := m.Apply(map[string]any{"email": "a@x.io", "plan": "Pro", "other": "kept", "active_from": ""})
	want := map[string]any{
		"end_user": "a@x.io", "tags.Plan": "Pro", "other": "kept",
		"active_from": "2026-01-01", "tags.Source": "crm",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	// A source value wins over the constant when it is there.
	got = m.Apply(map[string]any{"email": "b@x.io", "active_from": "2025-05-05"})
	if got["active_from"] != "2025-05-05" {
		t.Fatalf("constant overrode the source: %v", got)
	}
}

func TestOnlyMappedDropsOtherColumns(t *testing.T) {
	m := Mapping{Fields: map[string]string{"end_user": "email"}, OnlyMapped: true}
	got := m.Apply(map[string]any{"email": "a@x.io", "ssn": "123"})
	if !reflect.DeepEqual(got, map[string]any{"end_user": "a@x.io"}) {
		t.Fatalf("got %v", got)
	}
}

func TestMissingRequiredFields(t *testing.T) {
	m := Mapping{Fields: map[string]string{"end_user": "email"}}
	if got := m.Missing([]string{"email", "x"}, []string{"end_user", "active_from"}); !reflect.DeepEqual(got, []string{"active_from"}) {
		t.Fatalf("got %v", got)
	}
	m.Constants = map[string]string{"active_from": "2026-01-01"}
	if got := m.Missing([]string{"email"}, []string{"end_user", "active_from"}); len(got) != 0 {
		t.Fatalf("constant should satisfy active_from, got %v", got)
	}
	if got := (Mapping{}).Missing([]string{"end_user"}, []string{"end_user", "active_from"}); !reflect.DeepEqual(got, []string{"active_from"}) {
		t.Fatalf("got %v", got)
	}
}

func TestLoadRejectsUnknownKeys(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "m.yaml")
	os.WriteFile(good, []byte("fields:\n  end_user: email\nconstants:\n  active_from: \"2026-01-01\"\n"), 0o600)
	m, err := Load(good)
	if err != nil || m.Fields["end_user"] != "email" || m.Constants["active_from"] != "2026-01-01" {
		t.Fatalf("Load = %+v, %v", m, err)
	}
	js := filepath.Join(dir, "m.json")
	os.WriteFile(js, []byte(`{"fields": {"end_user": "mail"}}`), 0o600)
	if m, err := Load(js); err != nil || m.Fields["end_user"] != "mail" {
		t.Fatalf("JSON mapping: %+v, %v", m, err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("feilds:\n  end_user: email\n"), 0o600)
	if _, err := Load(bad); err == nil || !strings.Contains(err.Error(), "feilds") {
		t.Fatalf("a typo in a key must be an error naming it, got %v", err)
	}
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, []byte("fields:\n  end_user: \"\"\n"), 0o600)
	if _, err := Load(empty); err == nil {
		t.Fatal("a field with no source column must be an error")
	}
	if _, err := Load(filepath.Join(dir, "nope.yaml")); err == nil {
		t.Fatal("a missing file must be an error")
	}
}
