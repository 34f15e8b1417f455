// Package logging builds the project's zerolog logger and adapts it to the
// Temporal SDK's logger interface, so workflow, activity and worker logs all
// come out of one structured stream.
package logging

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	sdklog "go.temporal.io/sdk/log"
	"golang.org/x/term"
)

// Options says how to log.
type Options struct {
	// Format is "json" (production; one object a line) or "console" (a human
	// at a terminal). Empty means json.
	Format string
	// Level is debug, info, warn or error. Empty means info.
	Level string
	// Out is where logs go; nil means stderr, so that stdout stays free for
	// command output such as --output json.
	Out io.Writer
}

// New returns a zerolog logger configured by opts.
func New(opts Options) (zerolog.Logger, error) {
	out := opts.Out
	if out == nil {
		out = os.Stderr
	}
	level := zerolog.InfoLevel
	if opts.Level != "" {
		l, err := zerolog.ParseLevel(strings.ToLower(opts.Level))
		if err != nil || l == zerolog.NoLevel {
			return zerolog.Nop(), fmt.Errorf("unknown log level %q: use debug, info, warn or error", opts.Level)
		}
		level = l
	}
	switch strings.ToLower(opts.Format) {
	case "", "json":
	case "console", "text":
		// Colours only for a terminal: escape codes in a file or a pipe
		// are noise.
		out = zerolog.ConsoleWriter{Out: out, TimeFormat: time.TimeOnly, NoColor: !isTerminal(out)}
	default:
		return zerolog.Nop(), fmt.Errorf("unknown log format %q: use json or console", opts.Format)
	}
	return zerolog.New(out).Level(level).With().Timestamp().Logger(), nil
}

// Temporal adapts a zerolog logger to the Temporal SDK's log.Logger, which
// passes fields as alternating key/value arguments.
type Temporal struct {
	log zerolog.Logger
}

var (
	_ sdklog.Logger     = Temporal{}
	_ sdklog.WithLogger = Temporal{}
)

// NewTemporal wraps l for the SDK (client.Options.Logger).
func NewTemporal(l zerolog.Logger) Temporal { return Temporal{log: l} }

func (t Temporal) Debug(msg string, kv ...any) { fields(t.log.Debug(), kv).Msg(msg) }
func (t Temporal) Info(msg string, kv ...any)  { fields(t.log.Info(), kv).Msg(msg) }
func (t Temporal) Warn(msg string, kv ...any)  { fields(t.log.Warn(), kv).Msg(msg) }
func (t Temporal) Error(msg string, kv ...any) { fields(t.log.Error(), kv).Msg(msg) }

// With returns a logger that adds kv to every line.
func (t Temporal) With(kv ...any) sdklog.Logger {
	return Temporal{log: fields(t.log.With(), kv).Logger()}
}

type fieldAdder[T any] interface {
	Interface(key string, v any) T
	Err(err error) T
}

// fields turns SDK key/value pairs into zerolog fields. An odd trailing value
// is kept under "extra" rather than dropped, so nothing a caller logs is lost.
func fields[T fieldAdder[T]](e T, kv []any) T {
	for i := 0; i < len(kv); i += 2 {
		if i+1 >= len(kv) {
			e = e.Interface("extra", kv[i])
			break
		}
		key := fmt.Sprint(kv[i])
		if err, ok := kv[i+1].(error); ok && key == "Error" {
			e = e.Err(err)
			continue
		}
		e = e.Interface(key, kv[i+1])
	}
	return e
}

// isTerminal says whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
