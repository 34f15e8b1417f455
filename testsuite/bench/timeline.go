package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	historypb "go.temporal.io/api/history/v1"
)

// timeline is where an import's time went, read from its history: for
// each activity type, when the first was scheduled and started and when
// the last completed, and the workflow tasks' total time.
type timeline struct {
	start, end time.Time
	order      []string
	spans      map[string]*span
	types      map[int64]string // scheduled event ID → activity type
	wfTasks    int
	wfTaskTime time.Duration
	wfSched    map[int64]time.Time
	first      []string // the first events, with their offsets
}

type span struct {
	n                        int
	scheduled, started, done time.Time
	busy                     time.Duration // sum of start → completion
	queued                   time.Duration // sum of schedule → start
	startedAt                map[int64]time.Time
	scheduledAt              map[int64]time.Time
}

func newTimeline() *timeline {
	return &timeline{spans: map[string]*span{}, types: map[int64]string{}, wfSched: map[int64]time.Time{}}
}

func (t *timeline) add(ev *historypb.HistoryEvent) {
	at := ev.GetEventTime().AsTime()
	if t.start.IsZero() {
		t.start = at
	}
	t.end = at
	if len(t.first) < 12 {
		t.first = append(t.first, fmt.Sprintf("%s %s", at.Sub(t.start).Round(time.Millisecond), ev.GetEventType()))
	}
	switch {
	case ev.GetActivityTaskScheduledEventAttributes() != nil:
		name := ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName()
		t.types[ev.GetEventId()] = name
		s := t.spans[name]
		if s == nil {
			s = &span{scheduled: at, startedAt: map[int64]time.Time{}, scheduledAt: map[int64]time.Time{}}
			t.spans[name] = s
			t.order = append(t.order, name)
		}
		s.n++
		s.scheduledAt[ev.GetEventId()] = at
	case ev.GetActivityTaskStartedEventAttributes() != nil:
		id := ev.GetActivityTaskStartedEventAttributes().GetScheduledEventId()
		s := t.spans[t.types[id]]
		if s == nil {
			return
		}
		if s.started.IsZero() {
			s.started = at
		}
		s.startedAt[id] = at
		s.queued += at.Sub(s.scheduledAt[id])
	case ev.GetActivityTaskCompletedEventAttributes() != nil:
		id := ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()
		if s := t.spans[t.types[id]]; s != nil {
			s.done = at
			s.busy += at.Sub(s.startedAt[id])
		}
	case ev.GetWorkflowTaskScheduledEventAttributes() != nil:
		t.wfSched[ev.GetEventId()] = at
	case ev.GetWorkflowTaskCompletedEventAttributes() != nil:
		t.wfTasks++
		t.wfTaskTime += at.Sub(t.wfSched[ev.GetWorkflowTaskCompletedEventAttributes().GetScheduledEventId()])
	}
}

func (t *timeline) print(w io.Writer) {
	off := func(at time.Time) string {
		if at.IsZero() {
			return "-"
		}
		return at.Sub(t.start).Round(time.Millisecond).String()
	}
	fmt.Fprintf(w, "  timeline (from the first run's start; %s in all, %d workflow tasks taking %s from schedule to completion):\n",
		t.end.Sub(t.start).Round(time.Millisecond), t.wfTasks, t.wfTaskTime.Round(time.Millisecond))
	fmt.Fprintf(w, "  first events: %s\n", strings.Join(t.first, ", "))
	fmt.Fprintf(w, "  %-22s %6s %12s %12s %14s %14s %14s\n", "activity", "count", "1st sched", "1st start", "last complete", "mean queued", "mean running")
	for _, name := range t.order {
		s := t.spans[name]
		fmt.Fprintf(w, "  %-22s %6d %12s %12s %14s %14s %14s\n", name, s.n, off(s.scheduled), off(s.started), off(s.done),
			(s.queued / time.Duration(s.n)).Round(time.Millisecond), (s.busy / time.Duration(s.n)).Round(time.Millisecond))
	}
}
