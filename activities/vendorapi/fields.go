package vendorapi

import (
	"encoding/json"
	"fmt"
	"strconv"
)

// Text renders a scalar field of a mapped row (a CSV cell, or a JSON
// string, number or boolean) as text; nil is "". Lists and objects have no
// text form a vendor's text field would take.
func Text(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case bool:
		return strconv.FormatBool(x), nil
	default:
		return "", fmt.Errorf("is %s; want text", Kind(v))
	}
}

// Kind names the JSON type of v with its article, for error messages that
// must not quote the value itself.
func Kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	case string:
		return "a string"
	case json.Number, float64, int, int64:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("a %T", v)
}
