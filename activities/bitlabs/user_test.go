package bitlabs_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"importer/activities/bitlabs"
)

func row(extra map[string]any) map[string]any {
	r := map[string]any{"uid": "u-1", "country": "de", "languages": "de, en", "birthdate": "1999-01-01", "gender": "male"}
	for k, v := range extra {
		if v == nil {
			delete(r, k)
			continue
		}
		r[k] = v
	}
	return r
}

func TestFromFieldsValid(t *testing.T) {
	cases := []struct {
		name   string
		fields map[string]any
		want   bitlabs.User
	}{
		{"csv row", row(map[string]any{"uid": " u-1 ", "zipcode": " 10115 ", "username": "Anna99"}),
			bitlabs.User{UID: "u-1", Country: "DE", Languages: []string{"de", "en"}, Zipcode: "10115",
				Birthdate: "1999-01-01", Gender: "MALE", Questions: []bitlabs.Question{}, Username: "Anna99"}},
		{"languages from a list, space separated and duplicated", row(map[string]any{"languages": []any{"DE", "en fr", "de"}, "gender": "Other"}),
			bitlabs.User{UID: "u-1", Country: "DE", Languages: []string{"de", "en", "fr"}, Birthdate: "1999-01-01", Gender: "OTHER", Questions: []bitlabs.Question{}}},
		{"languages as a JSON list in a cell", row(map[string]any{"languages": `["it","PT"]`}),
			bitlabs.User{UID: "u-1", Country: "DE", Languages: []string{"it", "pt"}, Birthdate: "1999-01-01", Gender: "MALE", Questions: []bitlabs.Question{}}},
		{"numeric uid and zipcode from NDJSON", row(map[string]any{"uid": json.Number("42"), "zipcode": json.Number("80331")}),
			bitlabs.User{UID: "42", Country: "DE", Languages: []string{"de", "en"}, Zipcode: "80331", Birthdate: "1999-01-01", Gender: "MALE", Questions: []bitlabs.Question{}}},
		{"questions from a JSON string", row(map[string]any{"questions": `[{"id":"q1","network_id":42,"direct_values":["a","b"]},{"id":"q2","network_id":"7","direct_values":[3]}]`}),
			bitlabs.User{UID: "u-1", Country: "DE", Languages: []string{"de", "en"}, Birthdate: "1999-01-01", Gender: "MALE",
				Questions: []bitlabs.Question{{ID: "q1", NetworkID: 42, DirectValues: []string{"a", "b"}}, {ID: "q2", NetworkID: 7, DirectValues: []string{"3"}}}}},
		{"questions from a list", row(map[string]any{"questions": []any{map[string]any{"id": "q1", "network_id": json.Number("1"), "direct_values": "yes"}}}),
			bitlabs.User{UID: "u-1", Country: "DE", Languages: []string{"de", "en"}, Birthdate: "1999-01-01", Gender: "MALE",
				Questions: []bitlabs.Question{{ID: "q1", NetworkID: 1, DirectValues: []string{"yes"}}}}},
		{"empty questions cell", row(map[string]any{"questions": " "}),
			bitlabs.User{UID: "u-1", Country: "DE", Languages: []string{"de", "en"}, Birthdate: "1999-01-01", Gender: "MALE", Questions: []bitlabs.Question{}}},
		{"a 65-character uid", row(map[string]any{"uid": strings.Repeat("x", 65)}),
			bitlabs.User{UID: strings.Repeat("x", 65), Country: "DE", Languages: []string{"de", "en"}, Birthdate: "1999-01-01", Gender: "MALE", Questions: []bitlabs.Question{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := bitlabs.FromFields(c.fields)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
			// Questions must go out as [] rather than null: the API requires them.
			b, _ := json.Marshal(got)
			if !strings.Contains(string(b), `"questions":[`) {
				t.Fatalf("questions not sent as a list: %s", b)
			}
		})
	}
}

func TestFromFieldsInvalid(t *testing.T) {
	tomorrow := time.Now().UTC().AddDate(0, 0, 2).Format("2006-01-02")
	cases := []struct {
		name   string
		fields map[string]any
		err    string
	}{
		{"no uid", row(map[string]any{"uid": nil}), "uid is empty"},
		{"blank uid", row(map[string]any{"uid": "  "}), "uid is empty"},
		{"uid too long", row(map[string]any{"uid": strings.Repeat("x", 66)}), "uid is 66 characters long; BitLabs takes at most 65"},
		{"uid is a list", row(map[string]any{"uid": []any{"a"}}), "uid: is a list"},
		{"no country", row(map[string]any{"country": nil}), "country is empty"},
		{"three-letter country", row(map[string]any{"country": "DEU"}), `country "DEU" is not a two-letter ISO 3166 code`},
		{"country with a digit", row(map[string]any{"country": "D1"}), `country "D1" is not a two-letter`},
		{"no languages", row(map[string]any{"languages": nil}), "languages is empty"},
		{"only separators", row(map[string]any{"languages": " , "}), "languages is empty"},
		{"empty list", row(map[string]any{"languages": []any{}}), "languages is empty"},
		{"language name", row(map[string]any{"languages": "German"}), `languages: "German" is not a two-letter ISO 639-1 code`},
		{"locale", row(map[string]any{"languages": []any{"en", "de-DE"}}), `"de-DE" is not a two-letter`},
		{"language object", row(map[string]any{"languages": []any{map[string]any{}}}), "languages: entry 1 is an object"},
		{"no birthdate", row(map[string]any{"birthdate": nil}), "birthdate is empty"},
		{"birthdate format", row(map[string]any{"birthdate": "01/02/1999"}), `birthdate "01/02/1999" is not a date (want YYYY-MM-DD)`},
		{"birthdate not a real day", row(map[string]any{"birthdate": "1999-02-30"}), `birthdate "1999-02-30" is not a date`},
		{"birthdate in the future", row(map[string]any{"birthdate": tomorrow}), "is in the future"},
		{"no gender", row(map[string]any{"gender": nil}), "gender is empty"},
		{"unknown gender", row(map[string]any{"gender": "M"}), `gender "M" is not MALE, FEMALE or OTHER`},
		{"username with a space", row(map[string]any{"username": "Anna B"}), "username \"Anna B\" has characters other than letters and digits"},
		{"username with an umlaut", row(map[string]any{"username": "Jörg"}), "has characters other than letters and digits"},
		{"questions not JSON", row(map[string]any{"questions": "q1=a"}), "questions: is not a JSON array"},
		{"questions an object", row(map[string]any{"questions": `{"id":"q1"}`}), "questions: is an object, not an array of questions"},
		{"question without id", row(map[string]any{"questions": `[{"network_id":1}]`}), "questions: question 1: has no id"},
		{"question without network_id", row(map[string]any{"questions": []any{map[string]any{"id": "q1", "network_id": 1}, map[string]any{"id": "q2"}}}), `question 2: "q2" has no network_id`},
		{"network_id not a number", row(map[string]any{"questions": `[{"id":"q1","network_id":"abc"}]`}), `network_id "abc" is not a whole number`},
		{"question a string", row(map[string]any{"questions": []any{"q1"}}), "question 1: is a string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := bitlabs.FromFields(c.fields)
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Fatalf("error %v, want %q", err, c.err)
			}
			if id, ok := c.fields["uid"].(string); ok && strings.TrimSpace(id) != "" && len(id) <= 65 && got.UID != strings.TrimSpace(id) {
				t.Fatalf("invalid row lost its uid: got %q", got.UID)
			}
		})
	}
}

func TestRequiredFields(t *testing.T) {
	want := []string{"uid", "country", "languages", "birthdate", "gender"}
	if !reflect.DeepEqual(bitlabs.RequiredFields, want) {
		t.Fatalf("RequiredFields %v, want %v", bitlabs.RequiredFields, want)
	}
	for _, f := range want {
		if _, err := bitlabs.FromFields(row(map[string]any{f: nil})); err == nil {
			t.Errorf("a row without %s was accepted", f)
		}
	}
}
