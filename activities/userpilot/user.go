// Package userpilot is a client for Userpilot's bulk identify API and its
// background jobs, and the rules a row must meet to become a Userpilot user.
package userpilot

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"importer/activities/vendorapi"
)

// Field names, as the API and the source columns spell them.
const (
	FieldUserID    = "user_id"
	FieldCompanyID = "company_id"
	MetadataPrefix = "metadata."
)

// RequiredFields are the fields every row must provide.
var RequiredFields = []string{FieldUserID}

// User is one user as the bulk identify API takes it. Metadata values are
// string, json.Number or bool: the API takes primitives only.
type User struct {
	UserID    string         `json:"user_id"`
	CompanyID string         `json:"company_id,omitempty"`
	Metadata  map[string]any `json:"metadata,omitempty"`
}

// FromFields builds a user from a mapped row: user_id (required), company_id,
// and metadata.<name> for each metadata property. Other fields are ignored.
// The returned user carries UserID even when the row is invalid, so a reject
// can name the user.
//
// Metadata values must be primitives. A json.Number (from a JSON source) is
// sent as a number and a bool as a boolean; nil and "" are left out (an empty
// cell is no property, not an empty one); a list or an object is an error.
//
// A CSV source gives only text, so text is typed by this rule:
//   - exactly "true" or "false" becomes a boolean;
//   - a plain decimal number becomes a number, when it reads back the same:
//     an optional '-', digits without leading zeros (except a lone "0"), and
//     an optional '.' followed by digits, with no '+', exponent, spaces or
//     trailing zeros after the point, and no more digits than a float64
//     holds. So "12", "0", "-3.5" and "0.25" are numbers;
//   - anything else stays text: "00123" (a code whose zeros matter), "1e5",
//     "+5", " 12", "12 ", "1.50", ".5", "TRUE", and digit strings too long to
//     survive as a number (account numbers, phone numbers).
//
// The row does not say where a string came from, so the rule applies to
// every string value, a JSON source's strings included: a JSON "12" is sent
// as the number 12, just like a CSV cell 12.
func FromFields(fields map[string]any) (User, error) {
	var u User
	id, err := vendorapi.Text(fields[FieldUserID])
	if err != nil {
		return u, fmt.Errorf("user_id: %w", err)
	}
	u.UserID = strings.TrimSpace(id)
	if u.UserID == "" {
		return u, fmt.Errorf("user_id is empty")
	}
	company, err := vendorapi.Text(fields[FieldCompanyID])
	if err != nil {
		return u, fmt.Errorf("company_id: %w", err)
	}
	u.CompanyID = strings.TrimSpace(company)

	// Sorted so that an error names the same property every time.
	names := make([]string, 0, len(fields))
	for k := range fields {
		if strings.HasPrefix(k, MetadataPrefix) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	for _, k := range names {
		name := strings.TrimPrefix(k, MetadataPrefix)
		if strings.TrimSpace(name) == "" {
			return u, fmt.Errorf("a metadata column has no name after %q", MetadataPrefix)
		}
		v, keep, err := metadataValue(fields[k])
		if err != nil {
			return u, fmt.Errorf("metadata %q: %w", name, err)
		}
		if !keep {
			continue
		}
		if u.Metadata == nil {
			u.Metadata = map[string]any{}
		}
		u.Metadata[name] = v
	}
	return u, nil
}

// metadataValue types one metadata value; keep is false for an empty one.
func metadataValue(v any) (out any, keep bool, err error) {
	switch x := v.(type) {
	case nil:
		return nil, false, nil
	case string:
		if x == "" {
			return nil, false, nil
		}
		return typeText(x), true, nil
	case json.Number:
		if !isJSONNumber(string(x)) {
			return nil, false, fmt.Errorf("is not a valid number")
		}
		return x, true, nil
	case bool:
		return x, true, nil
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil, false, fmt.Errorf("is not a finite number")
		}
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64)), true, nil
	case int:
		return json.Number(strconv.Itoa(x)), true, nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), true, nil
	default:
		return nil, false, fmt.Errorf("is %s; Userpilot takes only text, numbers and booleans", vendorapi.Kind(v))
	}
}

// typeText applies the CSV typing rule documented on FromFields.
func typeText(s string) any {
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	if plainDecimal(s) {
		return json.Number(s)
	}
	return s
}

// plainDecimal says whether s is a plain decimal number that reads back the
// same after a round trip through float64.
func plainDecimal(s string) bool {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" {
		return false
	}
	intPart, frac, hasPoint := strings.Cut(digits, ".")
	if intPart == "" || !allDigits(intPart) || (len(intPart) > 1 && intPart[0] == '0') {
		return false
	}
	if hasPoint && (frac == "" || !allDigits(frac)) {
		return false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	return strconv.FormatFloat(f, 'f', -1, 64) == s
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isJSONNumber says whether s is a number in JSON's grammar.
func isJSONNumber(s string) bool {
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return false
	}
	return json.Valid([]byte(s))
}
