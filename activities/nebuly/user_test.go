package nebuly

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestFromFields(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]any
		want   User
		err    string
	}{
		{"minimal", map[string]any{"end_user": " a@x.io ", "active_from": "2026-01-01"},
			User{EndUser: "a@x.io", Tags: map[string]string{}, ActiveFrom: "2026-01-01"}, ""},
		{"tags and timestamp", map[string]any{"end_user": "a@x.io", "active_from": "2026-01-01T23:30:00-05:00", "active_to": "2026-02-01",
			"tags.Plan": "Pro", "tags.Seats": json.Number("12"), "tags.Trial": true, "tags.Empty": "", "email": "ignored"},
			User{EndUser: "a@x.io", Tags: map[string]string{"Plan": "Pro", "Seats": "12", "Trial": "true"}, ActiveFrom: "2026-01-01", ActiveTo: "2026-02-01"}, ""},
		{"no end_user", map[string]any{"active_from": "2026-01-01"}, User{}, "end_user is empty"},
		{"no active_from", map[string]any{"end_user": "a"}, User{}, "active_from is empty"},
		{"bad date", map[string]any{"end_user": "a", "active_from": "01/02/2026"}, User{}, `active_from: "01/02/2026" is not a date`},
		{"to before from", map[string]any{"end_user": "a", "active_from": "2026-02-01", "active_to": "2026-01-01"}, User{}, "active_to 2026-01-01 is before active_from 2026-02-01"},
		{"list tag", map[string]any{"end_user": "a", "active_from": "2026-02-01", "tags.Roles": []any{"x"}}, User{}, `tag "Roles": is a list`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := FromFields(c.fields)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("error %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.EndUser != c.want.EndUser || got.ActiveFrom != c.want.ActiveFrom || got.ActiveTo != c.want.ActiveTo || len(got.Tags) != len(c.want.Tags) {
				t.Fatalf("got %+v, want %+v", got, c.want)
			}
			for k, v := range c.want.Tags {
				if got.Tags[k] != v {
					t.Fatalf("tag %s = %q, want %q", k, got.Tags[k], v)
				}
			}
		})
	}
}

func TestInvalidRowStillNamesTheUser(t *testing.T) {
	u, err := FromFields(map[string]any{"end_user": "a@x.io", "active_from": "nope"})
	if err == nil || u.EndUser != "a@x.io" {
		t.Fatalf("%+v %v", u, err)
	}
}
