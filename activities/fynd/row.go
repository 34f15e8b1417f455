package fynd

import (
	"encoding/json"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode"

	"importer/activities/vendorapi"
)

// Fields of an audience row, as source columns (or a mapping) name them. A
// user is named by any of the three identifiers Fynd's group files take;
// attribute values come from "attributes.<slug>" fields.
const (
	FieldUserID     = "user_id"
	FieldEmail      = "email"
	FieldPhone      = "phone_number"
	AttributePrefix = "attributes."
)

// IdentifierFields are the identifier columns, in the order files carry them.
var IdentifierFields = []string{FieldUserID, FieldEmail, FieldPhone}

// Attribute types the importer checks values against. Fynd's own type enum
// is not public; values are sent as the text or number the row holds.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
	TypeDate    = "date"
)

// Row is one row of an audience: who the user is, and the attribute
// values to set on them.
type Row struct {
	UserID string
	Email  string
	Phone  string
	// Attributes holds slug → value (string, json.Number or bool). A blank
	// cell sets nothing, so it is absent.
	Attributes map[string]any
}

// Key names the member for rejects and duplicate detection: the user id,
// else the e-mail lower-cased, else the phone number.
func (m Row) Key() string {
	switch {
	case m.UserID != "":
		return m.UserID
	case m.Email != "":
		return strings.ToLower(m.Email)
	}
	return m.Phone
}

// Identifiers returns the identifier cells in IdentifierFields order.
func (m Row) Identifiers() []string { return []string{m.UserID, m.Email, m.Phone} }

// RowFromFields builds a row from a mapped row. types gives the
// declared type of each attribute slug (missing: string). The member keeps
// its identifiers even when invalid, so a reject can name it.
func RowFromFields(fields map[string]any, types map[string]string) (Row, error) {
	var m Row
	var err error
	if m.UserID, err = text(fields, FieldUserID); err != nil {
		return m, err
	}
	if m.Email, err = text(fields, FieldEmail); err != nil {
		return m, err
	}
	if m.Phone, err = text(fields, FieldPhone); err != nil {
		return m, err
	}
	if m.UserID == "" && m.Email == "" && m.Phone == "" {
		return m, fmt.Errorf("no user_id, email or phone_number: Fynd needs one of them to find the user")
	}
	if m.UserID != "" && (len(m.UserID) > 64 || strings.IndexFunc(m.UserID, unicode.IsSpace) >= 0) {
		return m, fmt.Errorf("user_id must be at most 64 characters without spaces")
	}
	if m.Email != "" {
		a, err := mail.ParseAddress(m.Email)
		if err != nil || a.Name != "" || a.Address != m.Email || len(m.Email) > 254 {
			return m, fmt.Errorf("email is not an e-mail address")
		}
	}
	if m.Phone != "" {
		p, ok := normalisePhone(m.Phone)
		if !ok {
			return m, fmt.Errorf("phone_number must be 6 to 15 digits, optionally after a +")
		}
		m.Phone = p
	}
	for k, v := range fields {
		slug, ok := strings.CutPrefix(k, AttributePrefix)
		if !ok {
			continue
		}
		val, set, err := attributeValue(v, types[slug])
		if err != nil {
			return m, fmt.Errorf("attributes.%s: %w", slug, err)
		}
		if !set {
			continue
		}
		if m.Attributes == nil {
			m.Attributes = map[string]any{}
		}
		m.Attributes[slug] = val
	}
	return m, nil
}

func text(fields map[string]any, name string) (string, error) {
	s, err := vendorapi.Text(fields[name])
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, err)
	}
	return strings.TrimSpace(s), nil
}

// normalisePhone drops spaces, dashes, dots and brackets and checks what is
// left is a plausible international number.
func normalisePhone(s string) (string, bool) {
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == '+' && i == 0:
			b.WriteRune(r)
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == ' ' || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			return "", false
		}
	}
	out := b.String()
	digits := len(strings.TrimPrefix(out, "+"))
	return out, digits >= 6 && digits <= 15
}

// attributeValue checks a value against its declared type and returns what
// is sent: text as text, numbers as json.Number, booleans as bool. set is
// false for a blank cell.
func attributeValue(v any, typ string) (any, bool, error) {
	switch v.(type) {
	case []any, map[string]any:
		return nil, false, fmt.Errorf("is %s; Fynd attributes take one value", vendorapi.Kind(v))
	}
	s, err := vendorapi.Text(v)
	if err != nil {
		return nil, false, err
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, false, nil
	}
	switch strings.ToLower(typ) {
	case "", TypeString, "text":
		if len(s) > 1024 {
			return nil, false, fmt.Errorf("is %d characters long; at most 1024", len(s))
		}
		return s, true, nil
	case TypeNumber:
		if _, err := strconv.ParseFloat(s, 64); err != nil {
			return nil, false, fmt.Errorf("is not a number")
		}
		return json.Number(s), true, nil
	case TypeBoolean:
		switch strings.ToLower(s) {
		case "true", "yes", "1":
			return true, true, nil
		case "false", "no", "0":
			return false, true, nil
		}
		return nil, false, fmt.Errorf("is not true or false")
	case TypeDate:
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return nil, false, fmt.Errorf("is not a date (want YYYY-MM-DD)")
		}
		return s, true, nil
	}
	return nil, false, fmt.Errorf("has the unknown type %q (use string, number, boolean or date)", typ)
}

// ValueText renders an attribute value for grouping users by identical
// values: equal texts mean equal values.
func ValueText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
