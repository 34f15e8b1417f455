// Package bitlabs is a client for BitLabs' publisher Import Users API and the
// rules a row must meet to become a BitLabs user.
package bitlabs

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"importer/activities/vendorapi"
)

// Question is one profiling answer sent with a user.
type Question struct {
	ID           string   `json:"id"`
	NetworkID    int      `json:"network_id"`
	DirectValues []string `json:"direct_values"`
}

// User is one user as the Import Users API takes it.
type User struct {
	UID       string   `json:"uid"`
	Country   string   `json:"country"`
	Languages []string `json:"languages"`
	Zipcode   string   `json:"zipcode,omitempty"`
	Birthdate string   `json:"birthdate"`
	Gender    string   `json:"gender"`
	// Questions is required by the API, so it is always sent, [] when none.
	Questions []Question `json:"questions"`
	Username  string     `json:"username,omitempty"`
}

// Field names, as the API and the source columns spell them.
const (
	FieldUID       = "uid"
	FieldCountry   = "country"
	FieldLanguages = "languages"
	FieldZipcode   = "zipcode"
	FieldBirthdate = "birthdate"
	FieldGender    = "gender"
	FieldUsername  = "username"
	FieldQuestions = "questions"
)

// RequiredFields are the fields every row must provide.
var RequiredFields = []string{FieldUID, FieldCountry, FieldLanguages, FieldBirthdate, FieldGender}

// MaxUID is the longest uid BitLabs supports ("up to 65 character long ids").
const MaxUID = 65

// DateLayout is the birthdate form every BitLabs example uses.
const DateLayout = "2006-01-02"

// Genders BitLabs accepts.
var genders = map[string]bool{"MALE": true, "FEMALE": true, "OTHER": true}

// FromFields builds a user from a mapped row: uid, country, languages (a
// list, or text such as "de,en" or "de en"), zipcode, birthdate, gender,
// username and questions (a JSON array, or its text in a CSV cell). Other
// fields are ignored. The returned user carries UID even when the row is
// invalid, so a reject can name the user.
func FromFields(fields map[string]any) (User, error) {
	u := User{Questions: []Question{}}
	uid, err := vendorapi.Text(fields[FieldUID])
	if err != nil {
		return u, fmt.Errorf("uid: %w", err)
	}
	u.UID = strings.TrimSpace(uid)
	switch n := utf8.RuneCountInString(u.UID); {
	case n == 0:
		return u, fmt.Errorf("uid is empty")
	case n > MaxUID:
		return u, fmt.Errorf("uid is %d characters long; BitLabs takes at most %d", n, MaxUID)
	}

	country, err := vendorapi.Text(fields[FieldCountry])
	if err != nil {
		return u, fmt.Errorf("country: %w", err)
	}
	country = strings.TrimSpace(country)
	if country == "" {
		return u, fmt.Errorf("country is empty")
	}
	if !letters(country, 2) {
		return u, fmt.Errorf("country %q is not a two-letter ISO 3166 code such as DE", clip(country))
	}
	u.Country = strings.ToUpper(country)

	langs, err := languages(fields[FieldLanguages])
	if err != nil {
		return u, fmt.Errorf("languages: %w", err)
	}
	if len(langs) == 0 {
		return u, fmt.Errorf("languages is empty; BitLabs needs at least one")
	}
	u.Languages = langs

	zip, err := vendorapi.Text(fields[FieldZipcode])
	if err != nil {
		return u, fmt.Errorf("zipcode: %w", err)
	}
	u.Zipcode = strings.TrimSpace(zip)

	birth, err := vendorapi.Text(fields[FieldBirthdate])
	if err != nil {
		return u, fmt.Errorf("birthdate: %w", err)
	}
	birth = strings.TrimSpace(birth)
	if birth == "" {
		return u, fmt.Errorf("birthdate is empty")
	}
	t, err := time.Parse(DateLayout, birth)
	if err != nil {
		return u, fmt.Errorf("birthdate %q is not a date (want YYYY-MM-DD)", clip(birth))
	}
	// A birthdate that is today somewhere on Earth is not in the future, so
	// compare with the date in the easternmost time zone (UTC+14).
	today := time.Now().UTC().Add(14 * time.Hour).Format(DateLayout)
	if t.Format(DateLayout) > today {
		return u, fmt.Errorf("birthdate %s is in the future", birth)
	}
	u.Birthdate = birth

	gender, err := vendorapi.Text(fields[FieldGender])
	if err != nil {
		return u, fmt.Errorf("gender: %w", err)
	}
	gender = strings.ToUpper(strings.TrimSpace(gender))
	if gender == "" {
		return u, fmt.Errorf("gender is empty")
	}
	if !genders[gender] {
		return u, fmt.Errorf("gender %q is not MALE, FEMALE or OTHER", clip(gender))
	}
	u.Gender = gender

	name, err := vendorapi.Text(fields[FieldUsername])
	if err != nil {
		return u, fmt.Errorf("username: %w", err)
	}
	name = strings.TrimSpace(name)
	if name != "" && !alnum(name) {
		return u, fmt.Errorf("username %q has characters other than letters and digits", clip(name))
	}
	u.Username = name

	qs, err := questions(fields[FieldQuestions])
	if err != nil {
		return u, fmt.Errorf("questions: %w", err)
	}
	u.Questions = qs
	return u, nil
}

// languages reads a list of language codes, or text split on commas and
// spaces. Codes are lower-cased and duplicates dropped.
func languages(v any) ([]string, error) {
	var raw []string
	switch x := v.(type) {
	case nil:
	case []any:
		for i, e := range x {
			s, err := vendorapi.Text(e)
			if err != nil {
				return nil, fmt.Errorf("entry %d %w", i+1, err)
			}
			raw = append(raw, splitList(s)...)
		}
	case []string:
		for _, s := range x {
			raw = append(raw, splitList(s)...)
		}
	default:
		s, err := vendorapi.Text(v)
		if err != nil {
			return nil, err
		}
		s = strings.TrimSpace(s)
		if strings.HasPrefix(s, "[") {
			// A JSON list in a CSV cell.
			var list []string
			if err := json.Unmarshal([]byte(s), &list); err != nil {
				return nil, fmt.Errorf("%q is not a JSON list of codes", clip(s))
			}
			for _, e := range list {
				raw = append(raw, splitList(e)...)
			}
		} else {
			raw = splitList(s)
		}
	}
	out := make([]string, 0, len(raw))
	seen := map[string]bool{}
	for _, l := range raw {
		if !letters(l, 2) {
			return nil, fmt.Errorf("%q is not a two-letter ISO 639-1 code such as en", clip(l))
		}
		l = strings.ToLower(l)
		if !seen[l] {
			seen[l] = true
			out = append(out, l)
		}
	}
	return out, nil
}

func splitList(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\t' || r == ';' || r == '\n' || r == '\r'
	})
}

// questions reads the questions column: a JSON array (as a list, or as the
// text of one). Empty gives no questions.
func questions(v any) ([]Question, error) {
	var list []any
	switch x := v.(type) {
	case nil:
		return []Question{}, nil
	case []any:
		list = x
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return []Question{}, nil
		}
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var parsed any
		if err := dec.Decode(&parsed); err != nil || dec.More() {
			return nil, fmt.Errorf("is not a JSON array of questions")
		}
		var ok bool
		if list, ok = parsed.([]any); !ok {
			return nil, fmt.Errorf("is %s, not an array of questions", vendorapi.Kind(parsed))
		}
	default:
		return nil, fmt.Errorf("is %s, not an array of questions", vendorapi.Kind(v))
	}
	out := make([]Question, 0, len(list))
	for i, e := range list {
		q, err := question(e)
		if err != nil {
			return nil, fmt.Errorf("question %d: %w", i+1, err)
		}
		out = append(out, q)
	}
	return out, nil
}

func question(v any) (Question, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Question{}, fmt.Errorf("is %s; want an object with id, network_id and direct_values", vendorapi.Kind(v))
	}
	q := Question{DirectValues: []string{}}
	id, err := vendorapi.Text(m["id"])
	if err != nil {
		return q, fmt.Errorf("id %w", err)
	}
	q.ID = strings.TrimSpace(id)
	if q.ID == "" {
		return q, fmt.Errorf("has no id")
	}
	net, err := vendorapi.Text(m["network_id"])
	if err != nil {
		return q, fmt.Errorf("network_id %w", err)
	}
	net = strings.TrimSpace(net)
	if net == "" {
		return q, fmt.Errorf("%q has no network_id", clip(q.ID))
	}
	n, err := strconv.Atoi(net)
	if err != nil {
		return q, fmt.Errorf("%q: network_id %q is not a whole number", clip(q.ID), clip(net))
	}
	q.NetworkID = n
	switch dv := m["direct_values"].(type) {
	case nil:
	case []any:
		for _, e := range dv {
			s, err := vendorapi.Text(e)
			if err != nil {
				return q, fmt.Errorf("%q: a direct value %w", clip(q.ID), err)
			}
			q.DirectValues = append(q.DirectValues, s)
		}
	default:
		// A single answer given without a list.
		s, err := vendorapi.Text(dv)
		if err != nil {
			return q, fmt.Errorf("%q: direct_values %w", clip(q.ID), err)
		}
		q.DirectValues = append(q.DirectValues, s)
	}
	return q, nil
}

// letters says whether s is exactly n ASCII letters.
func letters(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// alnum says whether s holds only ASCII letters and digits.
func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// clip keeps error messages short when a cell holds something long.
func clip(s string) string {
	if utf8.RuneCountInString(s) > 40 {
		return string([]rune(s)[:40]) + "…"
	}
	return s
}
