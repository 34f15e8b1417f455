// Package mapping turns a source row (column name → value) into a row keyed
// by vendor field names. By default a column maps to the vendor field of the
// same name; a mapping file renames columns and sets constants. The mapping
// holds column names and constants, never user data, so it travels in the
// workflow input and every worker applies the same one.
package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Mapping says where each vendor field comes from.
type Mapping struct {
	// Fields maps a vendor field ("end_user", "tags.Tier") to the source
	// column that fills it.
	Fields map[string]string `json:"fields,omitempty" yaml:"fields"`
	// Constants sets a vendor field to a fixed value for every row; a source
	// column of the same name wins when it has a value.
	Constants map[string]string `json:"constants,omitempty" yaml:"constants"`
	// OnlyMapped drops the columns that Fields does not name, instead of
	// passing them through under their own names.
	OnlyMapped bool `json:"only_mapped,omitempty" yaml:"only_mapped"`
	// Attributes describes vendor-side attribute definitions by slug (Fynd
	// user attributes): the name, type and description to create or update
	// them with. Values come from the "attributes.<slug>" fields.
	Attributes map[string]Attribute `json:"attributes,omitempty" yaml:"attributes"`
}

// Attribute is how a vendor-side attribute is defined. Empty parts take the
// vendor's defaults (the slug as name, text as type).
type Attribute struct {
	Name        string `json:"name,omitempty" yaml:"name"`
	Type        string `json:"type,omitempty" yaml:"type"`
	Description string `json:"description,omitempty" yaml:"description"`
}

// Load reads a mapping file (YAML, of which JSON is a subset). Unknown keys
// are errors, so a typo does not silently map nothing.
func Load(path string) (Mapping, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Mapping{}, fmt.Errorf("read mapping file: %w", err)
	}
	var m Mapping
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return Mapping{}, fmt.Errorf("mapping file %s: %w", path, err)
	}
	if err := m.Validate(); err != nil {
		return Mapping{}, fmt.Errorf("mapping file %s: %w", path, err)
	}
	return m, nil
}

// Validate checks that the mapping is usable.
func (m Mapping) Validate() error {
	sources := map[string]string{}
	for field, col := range m.Fields {
		if strings.TrimSpace(field) == "" {
			return fmt.Errorf("a vendor field name is empty (source column %q)", col)
		}
		if strings.TrimSpace(col) == "" {
			return fmt.Errorf("vendor field %q has no source column", field)
		}
		if other, dup := sources[col]; dup && other != field {
			// One column feeding two fields is allowed; say nothing.
			continue
		}
		sources[col] = field
	}
	for slug := range m.Attributes {
		if strings.TrimSpace(slug) == "" || strings.ContainsAny(slug, " .") {
			return fmt.Errorf("attribute slug %q must be one word without dots or spaces", slug)
		}
	}
	return nil
}

// Apply maps one source row. NDJSON rows can hold nested objects: an object
// under a column is flattened into "column.key" entries, so "tags" as an
// object and "tags.Tier" as a CSV column mean the same thing.
func (m Mapping) Apply(row map[string]any) map[string]any {
	flat := make(map[string]any, len(row))
	for k, v := range row {
		flatten(flat, k, v)
	}
	out := make(map[string]any, len(flat)+len(m.Constants))
	for k, v := range m.Constants {
		out[k] = v
	}
	renamed := make(map[string]bool, len(m.Fields))
	for field, col := range m.Fields {
		renamed[col] = true
		if v, ok := flat[col]; ok && !isBlank(v) {
			out[field] = v
		}
	}
	if !m.OnlyMapped {
		for k, v := range flat {
			if renamed[k] {
				continue
			}
			if _, set := out[k]; set && isBlank(v) {
				continue // keep a constant rather than an empty column
			}
			out[k] = v
		}
	}
	return out
}

// Fields lists which vendor fields a source with these columns can fill:
// used to check, before the import starts, that required fields are there.
func (m Mapping) Provides(columns []string) map[string]bool {
	have := map[string]bool{}
	for _, c := range columns {
		have[c] = true
	}
	out := map[string]bool{}
	for k := range m.Constants {
		out[k] = true
	}
	renamed := make(map[string]bool, len(m.Fields))
	for field, col := range m.Fields {
		renamed[col] = true
		if have[col] {
			out[field] = true
		}
	}
	if !m.OnlyMapped {
		// As Apply: a column a field is mapped from fills that field, not
		// a field of its own name.
		for c := range have {
			if !renamed[c] {
				out[c] = true
			}
		}
	}
	return out
}

// Missing returns the required fields that columns cannot fill, in the
// order of required.
func (m Mapping) Missing(columns, required []string) []string {
	have := m.Provides(columns)
	var missing []string
	for _, f := range required {
		if !have[f] {
			missing = append(missing, f)
		}
	}
	return missing
}

func flatten(out map[string]any, prefix string, v any) {
	if obj, ok := v.(map[string]any); ok {
		for k, inner := range obj {
			flatten(out, prefix+"."+k, inner)
		}
		return
	}
	out[prefix] = v
}

func isBlank(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(x) == ""
	case json.Number:
		return x == ""
	}
	return false
}
