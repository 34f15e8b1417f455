package cli

import (
	"github.com/spf13/pflag"

	"importer/activities/notify"
)

// NotifyOptions are the flags that ask a run to notify a webhook when it
// ends; import, audience sync and schedule create take them.
type NotifyOptions struct {
	// Notify names a webhook the worker knows; On lists the ends that
	// notify it (failure, completion, rejects>N%; default failure).
	Notify   string
	NotifyOn string
}

func addNotifyFlags(fl *pflag.FlagSet, f *NotifyOptions) {
	fl.StringVar(&f.Notify, "notify", "", "notify the webhook NAME when the run ends; the worker maps the name to its URL (IMPORTER_WEBHOOK_<NAME>_URL, or \"default\": IMPORTER_WEBHOOK_URL)")
	fl.StringVar(&f.NotifyOn, "notify-on", "", "with --notify, when to notify: a comma-separated list of failure (failed or canceled), completion and rejects>N% (completed with more than N% of its rows rejected); default failure")
}

// spec checks the flags and returns what goes into the workflow input: the
// webhook's name and the ends, never a URL; nil without --notify.
func (f NotifyOptions) spec() (*notify.Spec, error) {
	return notify.ParseSpec(f.Notify, f.NotifyOn)
}
