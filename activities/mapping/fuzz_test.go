package mapping

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// reportPanic, deferred, fails t with the stack of a panic of the input
// being read, instead of ending the test binary (and every test after it)
// when go test replays the corpus.
func reportPanic(t *testing.T) {
	if p := recover(); p != nil {
		t.Fatalf("panic: %v\n%s", p, debug.Stack())
	}
}

// withoutEmpty is m with empty maps as nil: a mapping that says nothing of
// its fields says the same as one with no fields block.
func withoutEmpty(m Mapping) Mapping {
	if len(m.Fields) == 0 {
		m.Fields = nil
	}
	if len(m.Constants) == 0 {
		m.Constants = nil
	}
	if len(m.Attributes) == 0 {
		m.Attributes = nil
	}
	return m
}

// A mapping file of any bytes, YAML or JSON, loads into a valid mapping
// or fails with an error that names the file; nothing panics. A mapping
// that loads travels in the workflow input as JSON and comes out the same
// and still valid, and written back as a JSON file it loads the same. What it says a list's columns provide (Provides, which the
// required-field check reads) is what Apply makes of a row of them.
func FuzzMappingLoad(f *testing.F) {
	f.Add([]byte("fields:\n  end_user: end_user\n  tags.Tier: tags.Tier\nconstants:\n  active_from: \"2026-01-01\"\n"))
	f.Add([]byte(`{"fields": {"end_user": "mail"}, "only_mapped": true, "constants": {"tags.Source": "crm"}}`))
	f.Add([]byte("only_mapped: true\nfields: {id: user_id, email: user_id}\nattributes:\n  plan: {name: Plan, type: text, description: \"the plan\"}\n"))
	f.Add([]byte("base: &b {end_user: email}\nfields: *b\nonly_mapped: true\n"))
	f.Add([]byte("fields:\n  \"\": x\n"))
	f.Add([]byte("attributes:\n  \"has space\": {}\n"))
	f.Add([]byte("fields: [a, b]\n"))
	f.Add([]byte("constants:\n  n: 12\n  b: yes\n  z: ~\n  \"<<\": x\n---\nfeilds: {}\n"))
	f.Add([]byte("a: &a [*a, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer reportPanic(t)
		dir := t.TempDir()
		path := filepath.Join(dir, "mapping.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := Load(path)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "mapping file "+path+": ") {
				t.Fatalf("the error does not name the file: %v", err)
			}
			return
		}
		if err := m.Validate(); err != nil {
			t.Fatalf("Load returned a mapping that is not valid: %v", err)
		}

		// In the workflow input.
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		var travelled Mapping
		if err := json.Unmarshal(b, &travelled); err != nil || travelled.Validate() != nil || !reflect.DeepEqual(withoutEmpty(travelled), withoutEmpty(m)) {
			t.Fatalf("through the workflow input %+v became %+v (%v)", m, travelled, err)
		}

		// Written back as a JSON file. (Nothing writes a mapping as YAML:
		// yaml.v3 writes a "<<" key bare, which reads back as a merge.)
		again := filepath.Join(dir, "again.json")
		if err := os.WriteFile(again, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if reread, err := Load(again); err != nil || !reflect.DeepEqual(withoutEmpty(reread), withoutEmpty(m)) {
			t.Fatalf("%+v written as JSON, %s, loads as %+v (%v)", m, b, reread, err)
		}

		// A row of every column the mapping names, and one more, none of
		// them blank: Apply fills exactly what Provides says it can.
		row := map[string]any{"zz_other": "v"}
		for _, col := range m.Fields {
			row[col] = "v:" + col
		}
		columns := slices.Sorted(maps.Keys(row))
		out := m.Apply(row)
		provided := m.Provides(columns)
		if got, said := slices.Sorted(maps.Keys(out)), slices.Sorted(maps.Keys(provided)); !slices.Equal(got, said) {
			t.Fatalf("for columns %q, %+v provides %q; Apply fills %q", columns, m, said, got)
		}
		for field, col := range m.Fields {
			if out[field] != row[col] {
				t.Fatalf("%+v maps column %q to %q; Apply gave %q", m, col, field, out[field])
			}
		}
	})
}
