package devserver

import (
	"fmt"
	"os"
	"strings"

	"github.com/rs/zerolog"
	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// serverLogger adapts zerolog to the Temporal server's logger, whose fields
// come as tags.
type serverLogger struct {
	log zerolog.Logger
}

var _ log.Logger = serverLogger{}

func (l serverLogger) Debug(msg string, tags ...tag.Tag) { withTags(l.log.Debug(), tags).Msg(msg) }
func (l serverLogger) Info(msg string, tags ...tag.Tag)  { withTags(l.log.Info(), tags).Msg(msg) }
func (l serverLogger) Warn(msg string, tags ...tag.Tag)  { withTags(l.log.Warn(), tags).Msg(msg) }
func (l serverLogger) Error(msg string, tags ...tag.Tag) { withTags(l.log.Error(), tags).Msg(msg) }

// The server calls these for states it considers impossible; an embedded dev
// server logs them loudly instead of taking the user's process down.
func (l serverLogger) DPanic(msg string, tags ...tag.Tag) { withTags(l.log.Error(), tags).Msg(msg) }
func (l serverLogger) Panic(msg string, tags ...tag.Tag)  { withTags(l.log.Error(), tags).Msg(msg) }

// Fatal ends the process, as the server expects. The message also goes to
// stderr first: the configured writer may be a buffer (a test's log) that
// is lost when the process exits, which would leave a bare "exit status 1".
func (l serverLogger) Fatal(msg string, tags ...tag.Tag) {
	var b strings.Builder
	for _, t := range tags {
		fmt.Fprintf(&b, " %s=%v", t.Key(), t.Value())
	}
	fmt.Fprintf(os.Stderr, "embedded Temporal server: fatal: %s%s\n", msg, b.String())
	withTags(l.log.Fatal(), tags).Msg(msg)
}

func (l serverLogger) With(tags ...tag.Tag) log.Logger {
	c := l.log.With()
	for _, t := range tags {
		c = c.Interface(t.Key(), t.Value())
	}
	return serverLogger{log: c.Logger()}
}

func withTags(e *zerolog.Event, tags []tag.Tag) *zerolog.Event {
	for _, t := range tags {
		e = e.Interface(t.Key(), t.Value())
	}
	return e
}
