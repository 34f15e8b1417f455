package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"importer/activities/imports"
	"importer/workflows"
)

// overlapPolicies are the --overlap values, as people type them.
var overlapPolicies = map[string]enumspb.ScheduleOverlapPolicy{
	"skip":            enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
	"buffer-one":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ONE,
	"buffer-all":      enumspb.SCHEDULE_OVERLAP_POLICY_BUFFER_ALL,
	"cancel-other":    enumspb.SCHEDULE_OVERLAP_POLICY_CANCEL_OTHER,
	"terminate-other": enumspb.SCHEDULE_OVERLAP_POLICY_TERMINATE_OTHER,
	"allow-all":       enumspb.SCHEDULE_OVERLAP_POLICY_ALLOW_ALL,
}

func overlapNames() string {
	return "skip, buffer-one, buffer-all, cancel-other, terminate-other, allow-all"
}

func parseOverlap(s string) (enumspb.ScheduleOverlapPolicy, error) {
	p, ok := overlapPolicies[strings.ToLower(strings.TrimSpace(s))]
	if !ok {
		return 0, fmt.Errorf("unknown --overlap %q: use one of %s", s, overlapNames())
	}
	return p, nil
}

func newScheduleCmd(g *Globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Re-sync on a schedule: create, list, describe, pause, unpause, trigger, backfill, delete",
		Long: `Schedules run an import again and again (Temporal Schedules): on cron
expressions or at an interval, in a time zone, with jitter, and with an overlap
policy that decides what happens when a run is still going at the next time
(skip, by default, so a slow run is never doubled). A scheduled run is the same
import a person starts by hand, with the same arguments.

With --incremental, each run sends only the users whose content changed since
the schedule's last successful run (new or changed users, by a hash of what is
sent), and reports the users that disappeared from the list, or deactivates
them (--missing deactivate, Nebuly: active_to is set to today).`,
	}
	cmd.AddCommand(newScheduleCreateCmd(g), newScheduleListCmd(g), newScheduleDescribeCmd(g),
		newSchedulePauseCmd(g, true), newSchedulePauseCmd(g, false), newScheduleTriggerCmd(g),
		newScheduleBackfillCmd(g), newScheduleDeleteCmd(g))
	return cmd
}

type scheduleFlags struct {
	ImportOptions
	scheduleID  string
	cron        []string
	interval    time.Duration
	offset      time.Duration
	timeZone    string
	jitter      time.Duration
	overlap     string
	note        string
	paused      bool
	incremental bool
	missing     string
}

func newScheduleCreateCmd(g *Globals) *cobra.Command {
	var f scheduleFlags
	cmd := &cobra.Command{
		Use:   "create SCHEDULE_ID --vendor VENDOR --source URL|FILE (--cron EXPR | --interval DURATION)",
		Short: "Create a schedule that re-runs an import",
		Example: `  # Every night at 03:00 in Rome, only what changed, ending access of users who left
  starter schedule create nightly-nebuly --vendor nebuly --source https://example.com/users.csv \
    --cron "0 3 * * *" --time-zone Europe/Rome --incremental --missing deactivate

  # Every 15 minutes, give or take a minute
  starter schedule create crm-sync --vendor dynamic --source /data/crm.ndjson --interval 15m --jitter 1m`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.scheduleID = strings.TrimSpace(args[0])
			if f.scheduleID == "" {
				return errors.New("the schedule ID is empty")
			}
			if len(f.cron) == 0 && f.interval <= 0 {
				return errors.New("say when to run: --cron EXPR or --interval DURATION")
			}
			if f.interval < 0 || f.jitter < 0 || f.offset < 0 {
				return errors.New("--interval, --offset and --jitter must not be negative")
			}
			if f.timeZone != "" {
				if _, err := time.LoadLocation(f.timeZone); err != nil {
					return fmt.Errorf("unknown --time-zone %q: use an IANA name such as Europe/Rome", f.timeZone)
				}
			}
			overlap, err := parseOverlap(f.overlap)
			if err != nil {
				return err
			}
			in, _, err := PrepareImport(f.ImportOptions)
			if err != nil {
				return err
			}
			if f.incremental {
				switch f.missing {
				case imports.MissingReport, imports.MissingDeactivate:
				default:
					return fmt.Errorf("unknown --missing %q: use report or deactivate", f.missing)
				}
				if err := checkMissing(f.missing, in.Vendor); err != nil {
					return err
				}
				in.Incremental = &imports.Incremental{StateKey: "schedule-" + f.scheduleID, Missing: f.missing}
			} else if cmd.Flags().Changed("missing") {
				return errors.New("--missing goes with --incremental")
			}
			if err := checkSealed(in.Source.URI); err != nil {
				return err
			}
			spec := client.ScheduleSpec{CronExpressions: f.cron, TimeZoneName: f.timeZone, Jitter: f.jitter}
			if f.interval > 0 {
				spec.Intervals = []client.ScheduleIntervalSpec{{Every: f.interval, Offset: f.offset}}
			}
			c, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.ScheduleClient().Create(cmd.Context(), client.ScheduleOptions{
				ID:      f.scheduleID,
				Spec:    spec,
				Overlap: overlap,
				Paused:  f.paused,
				Note:    f.note,
				Action: &client.ScheduleWorkflowAction{
					// The schedule appends the time to this ID for each run.
					ID:                    "import-" + in.Vendor + "-" + f.scheduleID,
					Workflow:              workflows.ImportWorkflowName,
					Args:                  []any{in},
					TaskQueue:             g.taskQueue,
					TypedSearchAttributes: searchAttributes(in.Vendor, in.Connection, in.Source.URI, f.scheduleID),
					StaticSummary:         fmt.Sprintf("Scheduled import into %s (%s) from %s", in.Vendor, in.Connection, displaySource(in.Source.URI)),
				},
			})
			var exists *serviceerror.AlreadyExists
			if errors.Is(err, temporal.ErrScheduleAlreadyRunning) || errors.As(err, &exists) {
				return fmt.Errorf("a schedule with ID %q exists; delete it first or choose another ID", f.scheduleID)
			}
			if err != nil {
				return fmt.Errorf("create schedule: %w", explainStart(err))
			}
			if !isURL(in.Source.URI) {
				fmt.Fprintf(g.stderr, "Note: %s is a local path; every worker that runs the schedule must be able to read it.\n", in.Source.URI)
			}
			return g.printer().print(map[string]any{"schedule_id": f.scheduleID, "created": true}, func(w io.Writer) {
				fmt.Fprintf(w, "Created schedule %s: %s\n", f.scheduleID, specText(spec))
				fmt.Fprintf(w, "  Follow it with: starter schedule describe %s\n", f.scheduleID)
			})
		},
	}
	fl := cmd.Flags()
	addImportFlags(fl, &f.ImportOptions)
	fl.StringArrayVar(&f.cron, "cron", nil, `cron expression, e.g. "0 3 * * *" (repeatable)`)
	fl.DurationVar(&f.interval, "interval", 0, "run every DURATION, e.g. 15m or 24h")
	fl.DurationVar(&f.offset, "offset", 0, "with --interval: shift the runs by DURATION")
	fl.StringVar(&f.timeZone, "time-zone", "", "IANA time zone of the cron expressions (default UTC)")
	fl.DurationVar(&f.jitter, "jitter", 0, "start each run at a random delay of up to DURATION")
	fl.StringVar(&f.overlap, "overlap", "skip", "what to do when a run is still going at the next time: "+overlapNames())
	fl.StringVar(&f.note, "note", "", "a note shown with the schedule")
	fl.BoolVar(&f.paused, "paused", false, "create the schedule paused")
	fl.BoolVar(&f.incremental, "incremental", false, "send only users that changed since the schedule's last successful run")
	fl.StringVar(&f.missing, "missing", imports.MissingReport, "with --incremental, users no longer in the list: report or deactivate ("+strings.Join(deactivating(), ", ")+")")
	_ = cmd.MarkFlagRequired("vendor")
	_ = cmd.MarkFlagRequired("source")
	return cmd
}

func specText(s client.ScheduleSpec) string {
	var parts []string
	for _, c := range s.CronExpressions {
		parts = append(parts, "cron "+c)
	}
	for _, i := range s.Intervals {
		p := "every " + i.Every.String()
		if i.Offset > 0 {
			p += " offset " + i.Offset.String()
		}
		parts = append(parts, p)
	}
	for _, c := range s.Calendars {
		parts = append(parts, fmt.Sprintf("calendar %v", c.Comment))
	}
	text := strings.Join(parts, ", ")
	if s.TimeZoneName != "" {
		text += " (" + s.TimeZoneName + ")"
	}
	if s.Jitter > 0 {
		text += ", jitter " + s.Jitter.String()
	}
	return text
}

func newScheduleListCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "List schedules with their spec, state and next run",
		Example: "  starter schedule list\n  starter schedule list -o json",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.dial(cmd.Context())
			if err != nil {
				return err
			}
			defer c.Close()
			it, err := c.ScheduleClient().List(cmd.Context(), client.ScheduleListOptions{PageSize: 100})
			if err != nil {
				return fmt.Errorf("list schedules: %w", err)
			}
			rows := []scheduleRow{}
			for it.HasNext() {
				e, err := it.Next()
				if err != nil {
					return fmt.Errorf("list schedules: %w", err)
				}
				r := scheduleRow{ID: e.ID, Paused: e.Paused, Note: e.Note}
				if e.Spec != nil {
					r.Spec = specText(*e.Spec)
				}
				if len(e.NextActionTimes) > 0 {
					r.Next = e.NextActionTimes[0]
				}
				if n := len(e.RecentActions); n > 0 {
					r.LastRun = e.RecentActions[n-1].ActualTime
				}
				rows = append(rows, r)
			}
			t := table{header: []string{"SCHEDULE", "SPEC", "STATE", "NEXT RUN", "LAST RUN"}, empty: "No schedules."}
			for _, r := range rows {
				t.rows = append(t.rows, []string{r.ID, r.Spec, pausedText(r.Paused), timeText(r.Next), timeText(r.LastRun)})
			}
			return g.printer().list(rows, t)
		},
	}
}

// scheduleRow is one schedule as `schedule list` shows it.
type scheduleRow struct {
	ID      string    `json:"schedule_id"`
	Spec    string    `json:"spec"`
	Paused  bool      `json:"paused"`
	Next    time.Time `json:"next_run,omitempty"`
	LastRun time.Time `json:"last_run,omitempty"`
	Note    string    `json:"note,omitempty"`
}

func pausedText(paused bool) string {
	if paused {
		return "paused"
	}
	return "active"
}

func (g *Globals) schedule(cmd *cobra.Command, id string) (client.Client, client.ScheduleHandle, error) {
	c, err := g.dial(cmd.Context())
	if err != nil {
		return nil, nil, err
	}
	h := c.ScheduleClient().GetHandle(cmd.Context(), id)
	return c, h, nil
}

// scheduleErr says plainly that a schedule does not exist.
func scheduleErr(id, what string, err error) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("no schedule with ID %q", id)
	}
	return fmt.Errorf("%s schedule %s: %w", what, id, err)
}

func newScheduleDescribeCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:     "describe SCHEDULE_ID",
		Short:   "Show a schedule: its spec, state, recent runs and next runs",
		Example: "  starter schedule describe nightly-nebuly",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, h, err := g.schedule(cmd, args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			d, err := h.Describe(cmd.Context())
			if err != nil {
				return scheduleErr(args[0], "describe", err)
			}
			return g.printer().print(scheduleView(args[0], d))
		},
	}
}

// scheduleView is a schedule's description as -o json prints it, and as
// people read it.
func scheduleView(id string, d *client.ScheduleDescription) (any, func(w io.Writer)) {
	v := map[string]any{
		"schedule_id": id, "spec": specText(*d.Schedule.Spec), "paused": d.Schedule.State.Paused,
		"note": d.Schedule.State.Note, "overlap": strings.ToLower(strings.TrimPrefix(d.Schedule.Policy.Overlap.String(), "SCHEDULE_OVERLAP_POLICY_")),
		"recent_runs": d.Info.RecentActions, "running": d.Info.RunningWorkflows, "next_runs": d.Info.NextActionTimes,
		"runs_total": d.Info.NumActions, "skipped": d.Info.NumActionsSkippedOverlap,
	}
	return v, func(w io.Writer) { printSchedule(w, id, d) }
}

func printSchedule(w io.Writer, id string, d *client.ScheduleDescription) {
	fmt.Fprintf(w, "Schedule %s\n", id)
	fmt.Fprintf(w, "  spec      %s\n", specText(*d.Schedule.Spec))
	fmt.Fprintf(w, "  state     %s\n", pausedText(d.Schedule.State.Paused))
	if d.Schedule.State.Note != "" {
		fmt.Fprintf(w, "  note      %s\n", d.Schedule.State.Note)
	}
	fmt.Fprintf(w, "  overlap   %s\n", strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(d.Schedule.Policy.Overlap.String(), "SCHEDULE_OVERLAP_POLICY_"), "_", "-")))
	if a, ok := d.Schedule.Action.(*client.ScheduleWorkflowAction); ok {
		fmt.Fprintf(w, "  action    %s, task queue %s\n", a.Workflow, a.TaskQueue)
	}
	fmt.Fprintf(w, "  runs      %d started, %d skipped because one was still running\n", d.Info.NumActions, d.Info.NumActionsSkippedOverlap)
	for _, r := range d.Info.RunningWorkflows {
		fmt.Fprintf(w, "  running   %s\n", r.WorkflowID)
	}
	for _, a := range d.Info.RecentActions {
		if a.StartWorkflowResult != nil {
			fmt.Fprintf(w, "  recent    %s  %s\n", timeText(a.ActualTime), a.StartWorkflowResult.WorkflowID)
		}
	}
	for _, t := range d.Info.NextActionTimes {
		fmt.Fprintf(w, "  next      %s\n", timeText(t))
	}
}

func newSchedulePauseCmd(g *Globals, pause bool) *cobra.Command {
	name, verb := "unpause", "Resume"
	if pause {
		name, verb = "pause", "Pause"
	}
	var note string
	cmd := &cobra.Command{
		Use:     name + " SCHEDULE_ID",
		Short:   verb + " a schedule",
		Example: fmt.Sprintf("  starter schedule %s nightly-nebuly --note \"CRM migration\"", name),
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, h, err := g.schedule(cmd, args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			if pause {
				err = h.Pause(cmd.Context(), client.SchedulePauseOptions{Note: note})
			} else {
				err = h.Unpause(cmd.Context(), client.ScheduleUnpauseOptions{Note: note})
			}
			if err != nil {
				return scheduleErr(args[0], name, err)
			}
			return g.printer().print(map[string]any{"schedule_id": args[0], "paused": pause}, func(w io.Writer) {
				fmt.Fprintf(w, "Schedule %s %sd.\n", args[0], name)
			})
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "why, shown with the schedule")
	return cmd
}

func newScheduleTriggerCmd(g *Globals) *cobra.Command {
	var overlap string
	cmd := &cobra.Command{
		Use:     "trigger SCHEDULE_ID",
		Short:   "Run a schedule's import now",
		Example: "  starter schedule trigger nightly-nebuly\n  starter schedule trigger nightly-nebuly --overlap allow-all",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var policy enumspb.ScheduleOverlapPolicy
			if overlap != "" {
				p, err := parseOverlap(overlap)
				if err != nil {
					return err
				}
				policy = p
			}
			c, h, err := g.schedule(cmd, args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			if err := h.Trigger(cmd.Context(), client.ScheduleTriggerOptions{Overlap: policy}); err != nil {
				return scheduleErr(args[0], "trigger", err)
			}
			return g.printer().print(map[string]any{"schedule_id": args[0], "triggered": true}, func(w io.Writer) {
				fmt.Fprintf(w, "Triggered schedule %s; see the run with: starter schedule describe %s\n", args[0], args[0])
			})
		},
	}
	cmd.Flags().StringVar(&overlap, "overlap", "", "overlap policy for this run (default: the schedule's)")
	return cmd
}

func newScheduleBackfillCmd(g *Globals) *cobra.Command {
	var start, end, overlap string
	cmd := &cobra.Command{
		Use:   "backfill SCHEDULE_ID --start TIME --end TIME",
		Short: "Run the schedule's import for every time it would have run in a past window",
		Example: `  starter schedule backfill nightly-nebuly --start 2026-11-01T00:00:00Z --end 2026-11-03T00:00:00Z
  starter schedule backfill crm-sync --start 2026-11-22T10:00:00+01:00 --end 2026-11-22T12:00:00+01:00 --overlap buffer-all`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			from, err := time.Parse(time.RFC3339, start)
			if err != nil {
				return fmt.Errorf("--start %q is not an RFC 3339 time such as 2026-11-01T00:00:00Z", start)
			}
			to, err := time.Parse(time.RFC3339, end)
			if err != nil {
				return fmt.Errorf("--end %q is not an RFC 3339 time such as 2026-11-03T00:00:00Z", end)
			}
			if !to.After(from) {
				return errors.New("--end must come after --start")
			}
			policy, err := parseOverlap(overlap)
			if err != nil {
				return err
			}
			c, h, err := g.schedule(cmd, args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			if err := h.Backfill(cmd.Context(), client.ScheduleBackfillOptions{Backfill: []client.ScheduleBackfill{{Start: from, End: to, Overlap: policy}}}); err != nil {
				return scheduleErr(args[0], "backfill", err)
			}
			return g.printer().print(map[string]any{"schedule_id": args[0], "backfill": map[string]time.Time{"start": from, "end": to}}, func(w io.Writer) {
				fmt.Fprintf(w, "Backfilling schedule %s from %s to %s.\n", args[0], timeText(from), timeText(to))
			})
		},
	}
	cmd.Flags().StringVar(&start, "start", "", "start of the window (RFC 3339)")
	cmd.Flags().StringVar(&end, "end", "", "end of the window (RFC 3339)")
	cmd.Flags().StringVar(&overlap, "overlap", "buffer-all", "overlap policy of the backfilled runs: "+overlapNames())
	_ = cmd.MarkFlagRequired("start")
	_ = cmd.MarkFlagRequired("end")
	return cmd
}

func newScheduleDeleteCmd(g *Globals) *cobra.Command {
	return &cobra.Command{
		Use:   "delete SCHEDULE_ID",
		Short: "Delete a schedule (runs already started go on)",
		Long: `Delete a schedule. Runs it already started go on; an incremental schedule's
state stays on the workers' data directory until removed by hand.`,
		Example: "  starter schedule delete nightly-nebuly",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, h, err := g.schedule(cmd, args[0])
			if err != nil {
				return err
			}
			defer c.Close()
			if err := h.Delete(cmd.Context()); err != nil {
				return scheduleErr(args[0], "delete", err)
			}
			return g.printer().print(map[string]any{"schedule_id": args[0], "deleted": true}, func(w io.Writer) {
				fmt.Fprintf(w, "Deleted schedule %s.\n", args[0])
			})
		},
	}
}
