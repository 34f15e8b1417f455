// Package envconf owns how the operator's settings are read from the
// environment: each kind of value parsed one way, wherever it is read, and
// an error that names the variable and what it wants. It also names the
// variables more than one binary reads.
package envconf

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// S3PathStyle addresses S3-compatible services by path (true) instead of
// AWS's virtual-hosted style (false, the default); the worker's and the
// starter's object-store sources and the artifact store all follow it.
const S3PathStyle = "IMPORTER_S3_PATH_STYLE"

// Bool reads a true/false variable; unset or blank is false.
func Bool(getenv func(string) string, name string) (bool, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, v)
	}
	return b, nil
}

// PositiveDuration reads a duration such as 30s; unset or blank is 0.
func PositiveDuration(getenv func(string) string, name string) (time.Duration, error) {
	v := strings.TrimSpace(getenv(name))
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 30s", name, v)
	}
	return d, nil
}
