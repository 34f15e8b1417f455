// Package fsname turns workflow IDs and keys, which may hold any character,
// into names that are safe as one file or directory name (and as one
// segment of an artifact key) on every system the workers run on.
package fsname

import "strings"

// Safe keeps letters, digits, '-', '_' and '.', and turns every other
// character into '_'. Distinct inputs can meet (a/b and a_b); callers add a
// run ID or similar where that matters.
func Safe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}
