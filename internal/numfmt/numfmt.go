// Package numfmt owns how the importer writes counts for people: with
// thousands separators, in the starter's output and in notifications alike.
package numfmt

import (
	"strconv"
	"strings"
)

// Count writes n with a comma between each group of three digits:
// 1234567 is "1,234,567".
func Count(n int64) string {
	s := strconv.FormatInt(n, 10)
	digits := strings.TrimPrefix(s, "-")
	var b strings.Builder
	if len(digits) < len(s) {
		b.WriteByte('-')
	}
	for i, r := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	return b.String()
}
