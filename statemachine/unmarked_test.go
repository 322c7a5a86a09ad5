package statemachine

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestMaxUnmarkedDefaults checks MaxUnmarked against the figure worked out
// by hand from cdk.json's defaults. The longest span runs from a mark (the
// end of "Find open job" or "Mark copy resumed") through "Copy file" to the
// end of the next status task ("Mark copy resumed", or recording the
// outcome), each making every attempt its retriers allow, each attempt
// running to its TimeoutSeconds, each retry waiting its capped backoff:
//
//	Copy file: 1 + 2 (copy) + 100 (throttle) = 103 attempts x 960 s = 98,880 s
//	  copy retries wait 1 + 2 = 3 s
//	  throttle retries wait 2+4+...+256 = 510 s, then 92 x 300 = 27,600 s: 28,110 s
//	  = 126,993 s
//	a status task: 1 + 99 (database) + 100 (throttle) + 3 (Lambda faults) = 203 attempts x 60 s = 12,180 s
//	  database retries wait 2+4+...+64 = 126 s, then 93 x 120 = 11,160 s: 11,286 s
//	  throttle retries 28,110 s; Lambda fault retries 1 + 2 + 4 = 7 s
//	  = 51,583 s
//	bound = 126,993 + 51,583 = 178,576 s = 49 h 36 min 16 s
func TestMaxUnmarkedDefaults(t *testing.T) {
	got, err := MaxUnmarked(DefaultSettings())
	if err != nil {
		t.Fatalf("MaxUnmarked(defaults): %v", err)
	}
	if want := 178576 * time.Second; got != want {
		t.Errorf("MaxUnmarked(defaults) = %s, want %s (hand-computed)", got, want)
	}
}

// TestMaxUnmarkedFollowsTheSettings: each setting that lengthens a task
// lengthens the bound by what it adds to the longest span, so a deployment
// that raises one is held to a longer reconcile grace (infra refuses a
// shorter one).
func TestMaxUnmarkedFollowsTheSettings(t *testing.T) {
	base, err := MaxUnmarked(DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		change func(*Settings)
		delta  time.Duration
	}{
		{"copy task timeout +100 s: 103 copy attempts", func(s *Settings) { s.CopyTaskTimeoutSecs += 100 }, 103 * 100 * time.Second},
		{"task timeout +10 s: 203 status attempts", func(s *Settings) { s.TaskTimeoutSecs += 10 }, 203 * 10 * time.Second},
		// one more copy attempt (960 s) after one more wait (4 s)
		{"copy retries 3 -> 4", func(s *Settings) { s.CopyRetries = 4 }, 964 * time.Second},
		// the 99 database retries wait at most 240 s instead of 120 from the 7th
		{"database max delay 120 -> 240 s", func(s *Settings) { s.DatabaseRetryMaxDelaySecs = 240 }, (128 + 92*240 - 93*120) * time.Second},
		{"map concurrency does not matter", func(s *Settings) { s.MapMaxConcurrency = 40 }, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSettings()
			tc.change(&s)
			got, err := MaxUnmarked(s)
			if err != nil {
				t.Fatal(err)
			}
			if got-base != tc.delta {
				t.Errorf("bound %s - default %s = %s, want %s", got, base, got-base, tc.delta)
			}
		})
	}
}

// TestUnmarkedBoundNeedsTheMarks: without "Mark copy resumed" the resume
// loop leaves the row unmarked for as many passes as a copy takes, which
// has no bound; without any marking task there is nothing to count from.
func TestUnmarkedBoundNeedsTheMarks(t *testing.T) {
	def, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	noResumeMark := bytes.ReplaceAll(def, []byte(`"operation": "mark_picked_up"`), []byte(`"operation": "something_else"`))
	if _, err := UnmarkedBound(noResumeMark); err == nil || !strings.Contains(err.Error(), "without a marking task") {
		t.Errorf("UnmarkedBound without the resume mark: error = %v, want the loop named", err)
	}
	noMark := bytes.ReplaceAll(noResumeMark, []byte(`"operation": "find_open_job"`), []byte(`"operation": "lookup"`))
	if _, err := UnmarkedBound(noMark); err == nil || !strings.Contains(err.Error(), "no task marks the row") {
		t.Errorf("UnmarkedBound without marks: error = %v, want no marking task", err)
	}
}
