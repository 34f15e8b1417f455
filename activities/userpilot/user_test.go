package userpilot_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"importer/activities/userpilot"
)

func TestFromFieldsTypesMetadata(t *testing.T) {
	cases := []struct {
		in   any
		want any // nil: left out
	}{
		// CSV text
		{"12", json.Number("12")},
		{"0", json.Number("0")},
		{"-3.5", json.Number("-3.5")},
		{"0.25", json.Number("0.25")},
		{"true", true},
		{"false", false},
		{"00123", "00123"},
		{"1e5", "1e5"},
		{"+5", "+5"},
		{"12 ", "12 "},
		{" 12", " 12"},
		{"1.50", "1.50"},
		{".5", ".5"},
		{"5.", "5."},
		{"-", "-"},
		{"--1", "--1"},
		{"1,000", "1,000"},
		{"NaN", "NaN"},
		{"Inf", "Inf"},
		{"0x1F", "0x1F"},
		{"TRUE", "TRUE"},
		{"yes", "yes"},
		{"12345678901234567890", "12345678901234567890"}, // would lose digits as a number
		{"+33 6 12 34 56 78", "+33 6 12 34 56 78"},
		{"2024-01-15T08:00:00Z", "2024-01-15T08:00:00Z"},
		{"", nil},
		{nil, nil},
		// JSON values
		{json.Number("1e5"), json.Number("1e5")},
		{json.Number("42"), json.Number("42")},
		{true, true},
		{false, false},
	}
	for _, tc := range cases {
		u, err := userpilot.FromFields(map[string]any{"user_id": "u1", "metadata.v": tc.in})
		if err != nil {
			t.Fatalf("%#v: %v", tc.in, err)
		}
		got, has := u.Metadata["v"]
		if tc.want == nil {
			if has {
				t.Fatalf("%#v: sent as %#v, want left out", tc.in, got)
			}
			continue
		}
		if !has || got != tc.want {
			t.Fatalf("%#v: got %#v (%T), want %#v (%T)", tc.in, got, got, tc.want, tc.want)
		}
	}
}

func TestFromFieldsBuildsTheUser(t *testing.T) {
	u, err := userpilot.FromFields(map[string]any{
		"user_id":         " u-1 ",
		"company_id":      json.Number("77"),
		"metadata.plan":   "pro",
		"metadata.seats":  "3",
		"metadata.empty":  "",
		"ignored_column":  []any{"x"},
		"metadata.active": true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if u.UserID != "u-1" || u.CompanyID != "77" || len(u.Metadata) != 3 {
		t.Fatalf("user: %+v", u)
	}
	b, _ := json.Marshal(u)
	want := `{"user_id":"u-1","company_id":"77","metadata":{"active":true,"plan":"pro","seats":3}}`
	if string(b) != want {
		t.Fatalf("sent as %s, want %s", b, want)
	}
	// No metadata and no company: both left out of the request.
	u, err = userpilot.FromFields(map[string]any{"user_id": "u2", "company_id": "", "metadata.x": nil})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(u); string(b) != `{"user_id":"u2"}` {
		t.Fatalf("sent as %s", b)
	}
}

func TestFromFieldsErrors(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]any
		wantID string
		want   string
	}{
		{"missing user_id", map[string]any{"metadata.plan": "pro"}, "", "user_id"},
		{"blank user_id", map[string]any{"user_id": "  "}, "", "user_id"},
		{"list user_id", map[string]any{"user_id": []any{"a"}}, "", "user_id"},
		{"list metadata", map[string]any{"user_id": "u1", "metadata.tags": []any{"secret-a", "b"}}, "u1", `metadata "tags"`},
		{"object metadata", map[string]any{"user_id": "u1", "metadata.addr": map[string]any{"city": "secret-city"}}, "u1", `metadata "addr"`},
		{"object company", map[string]any{"user_id": "u1", "company_id": map[string]any{}}, "u1", "company_id"},
		{"nameless metadata", map[string]any{"user_id": "u1", "metadata.": "x"}, "u1", "no name"},
		{"bad number", map[string]any{"user_id": "u1", "metadata.n": json.Number("12abc")}, "u1", `metadata "n"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, err := userpilot.FromFields(tc.fields)
			if err == nil {
				t.Fatalf("accepted: %+v", u)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
				t.Fatalf("error %q, want it to name %q and no value", err, tc.want)
			}
			if u.UserID != tc.wantID {
				t.Fatalf("UserID %q, want %q", u.UserID, tc.wantID)
			}
		})
	}
	if len(userpilot.RequiredFields) != 1 || userpilot.RequiredFields[0] != "user_id" {
		t.Fatal(fmt.Sprint(userpilot.RequiredFields))
	}
}
