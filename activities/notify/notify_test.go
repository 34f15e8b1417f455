package notify

import (
	"strings"
	"testing"
)

func pct(p float64) *float64 { return &p }

func TestNotifyOnIsParsedIntoASpec(t *testing.T) {
	for _, tc := range []struct {
		webhook, on string
		want        *Spec
	}{
		{"", "", nil},
		{"oncall", "", &Spec{Webhook: "oncall", Failure: true}},
		{"oncall", "failure", &Spec{Webhook: "oncall", Failure: true}},
		{"oncall", "completion", &Spec{Webhook: "oncall", Completion: true}},
		{"ops-team", " Failure , completion,rejects>5% ", &Spec{Webhook: "ops-team", Failure: true, Completion: true, RejectsOver: pct(5)}},
		{"default", "rejects>0.5%", &Spec{Webhook: "default", RejectsOver: pct(0.5)}},
		{"default", "rejects>0", &Spec{Webhook: "default", RejectsOver: pct(0)}},
		{"default", "rejects>12", &Spec{Webhook: "default", RejectsOver: pct(12)}},
	} {
		got, err := ParseSpec(tc.webhook, tc.on)
		if err != nil {
			t.Errorf("ParseSpec(%q, %q): %v", tc.webhook, tc.on, err)
			continue
		}
		if (got == nil) != (tc.want == nil) || got != nil && (got.Webhook != tc.want.Webhook || got.Failure != tc.want.Failure ||
			got.Completion != tc.want.Completion || (got.RejectsOver == nil) != (tc.want.RejectsOver == nil) ||
			got.RejectsOver != nil && *got.RejectsOver != *tc.want.RejectsOver) {
			t.Errorf("ParseSpec(%q, %q) = %+v, want %+v", tc.webhook, tc.on, got, tc.want)
		}
	}
}

func TestBadNotifyFlagsAreRefusedInASentence(t *testing.T) {
	for _, tc := range []struct{ webhook, on, want string }{
		{"", "failure", "--notify-on needs --notify NAME"},
		{"https://hooks.slack.com/services/T0/B0/xyz", "", "--notify takes a webhook's name, not its URL"},
		{"on call", "", `--notify "on call" is not a webhook name`},
		{"oncall", "faliure", `unknown --notify-on item "faliure": use failure, completion or rejects>N% (for example rejects>5%)`},
		{"oncall", "failure,,completion", "has an empty item"},
		{"oncall", "failure,failure", "names failure twice"},
		{"oncall", "rejects>5%,rejects>10%", "names rejects twice"},
		{"oncall", "rejects>five%", `--notify-on "rejects>five%": write the reject threshold as rejects>N%`},
		{"oncall", "rejects>-1%", "from 0 to 100"},
		{"oncall", "rejects>101%", "from 0 to 100"},
		{"oncall", "rejects>NaN", "from 0 to 100"},
		{"oncall", "rejects<5%", "write the reject threshold as rejects>N%"},
		{"oncall", "rejects", "write the reject threshold as rejects>N%"},
	} {
		_, err := ParseSpec(tc.webhook, tc.on)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSpec(%q, %q) = %v, want an error with %q", tc.webhook, tc.on, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hooks.slack.com") {
			t.Errorf("the error quotes the URL given as a name: %v", err)
		}
	}
}

func TestSpecDecidesOneEventPerEnd(t *testing.T) {
	all := Spec{Webhook: "w", Failure: true, Completion: true, RejectsOver: pct(5)}
	onlyRejects := Spec{Webhook: "w", RejectsOver: pct(5)}
	onlyFailure := Spec{Webhook: "w", Failure: true}
	for _, tc := range []struct {
		name           string
		spec           Spec
		status         string
		rows, rejected int64
		want           string
		ok             bool
	}{
		{"failed", all, Failed, 10, 0, OnFailure, true},
		{"canceled counts as failure", onlyFailure, Canceled, 10, 0, OnFailure, true},
		{"failure not asked", onlyRejects, Failed, 10, 9, OnFailure, false},
		{"completed under the threshold", all, Completed, 100, 5, OnCompletion, true},
		{"completed over the threshold", all, Completed, 100, 6, OnRejects, true},
		{"over the threshold without completion", onlyRejects, Completed, 1000, 51, OnRejects, true},
		{"under the threshold without completion", onlyRejects, Completed, 1000, 50, OnCompletion, false},
		{"completion not asked", onlyFailure, Completed, 100, 50, OnCompletion, false},
		{"no rows", onlyRejects, Completed, 0, 0, OnCompletion, false},
	} {
		got, ok := tc.spec.Event(tc.status, tc.rows, tc.rejected)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: Event = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
	if s := all.String(); s != "failure,completion,rejects>5%" {
		t.Errorf("String() = %q", s)
	}
}

func TestPercentIsReadable(t *testing.T) {
	for p, want := range map[float64]string{0: "0%", 0.5: "0.5%", 12: "12%", 12.34: "12.3%", 0.01: "<0.1%", 99.96: "100%", 5: "5%"} {
		if got := Percent(p); got != want {
			t.Errorf("Percent(%v) = %q, want %q", p, got, want)
		}
	}
}
