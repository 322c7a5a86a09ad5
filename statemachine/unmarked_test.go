package statemachine

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestMaxUnmarkedDefaults checks MaxUnmarked against the figure worked out
// by hand from cdk.json's defaults. The longest span runs from a mark (the
// end of "Find open job" or "Mark copy resumed") through "Copy file" to the
// end of the next status task ("Mark copy resumed", or recording the
// outcome), each making every attempt its retriers allow, each attempt that
// runs running to its TimeoutSeconds, each retry waiting its capped
// backoff; the attempts the throttling retrier retries were refused by
// Lambda and did not run, so they count their waits only:
//
//	Copy file: 1 + 2 (copy) = 3 attempts that run x 960 s = 2,880 s
//	  copy retries wait 1 + 2 = 3 s
//	  throttle retries wait 2+4+...+256 = 510 s, then 92 x 300 = 27,600 s: 28,110 s
//	  = 2,880 + 3 + 28,110 = 30,993 s
//	a status task: 1 + 99 (database) + 3 (Lambda faults) = 103 attempts that run x 60 s = 6,180 s
//	  database retries wait 2+4+...+64 = 126 s, then 93 x 120 = 11,160 s: 11,286 s
//	  throttle retries 28,110 s; Lambda fault retries 1 + 2 + 4 = 7 s
//	  = 6,180 + 11,286 + 28,110 + 7 = 45,583 s
//	bound = 30,993 + 45,583 = 76,576 s = 21 h 16 min 16 s (1,277 minutes rounded up)
func TestMaxUnmarkedDefaults(t *testing.T) {
	got, err := MaxUnmarked(DefaultSettings())
	if err != nil {
		t.Fatalf("MaxUnmarked(defaults): %v", err)
	}
	if want := 76576 * time.Second; got != want {
		t.Errorf("MaxUnmarked(defaults) = %s, want %s (hand-computed)", got, want)
	}
}

// TestUnmarkedBoundThrottledAttemptsDoNotRun: a retrier that retries only
// Lambda.TooManyRequestsException retries invocations Lambda refused, so
// its attempts add their waits and no timeout; a retrier that lists
// throttling with another error may retry an attempt that ran, so its
// attempts each count a timeout.
func TestUnmarkedBoundThrottledAttemptsDoNotRun(t *testing.T) {
	def, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	base, err := UnmarkedBound(def)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		old, new string
		delta    time.Duration
	}{
		// On the longest span, Copy file and one status task: each throttle
		// retrier's 101st retry waits 300 s more, and runs nothing.
		{"throttle retries 100 -> 101 add only their waits",
			`"MaxAttempts": 100,`, `"MaxAttempts": 101,`, 2 * 300 * time.Second},
		// The same 100 retries, now of errors that may follow a run: 100
		// more attempts of 960 s (Copy file) and of 60 s (the status task).
		{"throttling listed with Lambda.Unknown counts as running",
			`"ErrorEquals": ["Lambda.TooManyRequestsException"]`, `"ErrorEquals": ["Lambda.TooManyRequestsException", "Lambda.Unknown"]`,
			(100*960 + 100*60) * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			changed := bytes.ReplaceAll(def, []byte(tc.old), []byte(tc.new))
			if n := bytes.Count(def, []byte(tc.old)); n < 3 {
				t.Fatalf("the definition has %d of %s, want every task's throttle retrier", n, tc.old)
			}
			got, err := UnmarkedBound(changed)
			if err != nil {
				t.Fatal(err)
			}
			if got-base != tc.delta {
				t.Errorf("bound %s - default %s = %s, want %s", got, base, got-base, tc.delta)
			}
		})
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
		{"copy task timeout +100 s: 3 copy attempts run", func(s *Settings) { s.CopyTaskTimeoutSecs += 100 }, 3 * 100 * time.Second},
		{"task timeout +10 s: 103 status attempts run", func(s *Settings) { s.TaskTimeoutSecs += 10 }, 103 * 10 * time.Second},
		// one more copy attempt (960 s) after one more wait (4 s)
		{"copy retries 3 -> 4", func(s *Settings) { s.CopyRetries = 4 }, 964 * time.Second},
		// the 99 database retries wait at most 240 s instead of 120 from the 7th
		{"database max delay 120 -> 240 s", func(s *Settings) { s.DatabaseRetryMaxDelaySecs = 240 }, (128 + 92*240 - 93*120) * time.Second},
		{"map concurrency does not matter", func(s *Settings) { s.MapMaxConcurrency = 40 }, 0},
		// One-file chunks one at a time: the Express span waits for 100
		// rounds of children, 100 x 224 s, then Sort results and the
		// Standard child's Find open job (TestUnmarkedBoundExpressSpan):
		// 22,400 + 28,357 + 45,583 = 96,340 s, above the Standard span.
		{"one-file chunks one at a time", func(s *Settings) { s.ChunkFiles, s.ChunkMapMaxConcurrency = 1, 1 }, (96340 - 76576) * time.Second},
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
	noMark = bytes.ReplaceAll(noMark, []byte(`"operation": "find_open_jobs"`), []byte(`"operation": "lookups"`))
	if _, err := UnmarkedBound(noMark); err == nil || !strings.Contains(err.Error(), "no task marks the row") {
		t.Errorf("UnmarkedBound without marks: error = %v, want no marking task", err)
	}
}

// TestUnmarkedBoundExpressSpan works out by hand the span from the Express
// lane's mark ("Find open jobs") to the Standard lane's first: the chunk
// Map ends when its last child does, at most its rounds x ExpressBound
// after our child started, then "Sort results" and, in the file's Standard
// child, "Find open job" make every attempt:
//
//	rounds: 100 files in chunks of 40 = 3 chunks, 10 at a time: 1 x 224 s
//	Sort results: 1 + 3 (Lambda faults) = 4 attempts that run x 60 s = 240 s,
//	  throttle retries wait 28,110 s, Lambda fault retries 1 + 2 + 4 = 7 s: 28,357 s
//	Find open job: 45,583 s (TestMaxUnmarkedDefaults' status task)
//	= 224 + 28,357 + 45,583 = 74,164 s
//
// A deferred file's span goes instead through "Go round again?", the
// longest wait (wait_cap_secs, 60 s) and the chunk Map's rounds again until
// its chunk's child marks it: 224 + 28,357 + 60 + 224 = 28,865 s, shorter;
// a cap of 100,000 s makes it the longest, 224 + 28,357 + 100,000 + 224 =
// 128,805 s.
//
// Both are below the Standard lane's 76,576 s, so MaxUnmarked keeps that. The time
// a Standard child waits for a slot behind mapMaxConcurrency is not
// counted (UnmarkedBound's known limit).
func TestUnmarkedBoundExpressSpan(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Settings)
		want   float64
	}{
		{"defaults", func(*Settings) {}, 74164},
		// 100 one-file chunks, 50 at a time: 2 rounds.
		{"two rounds of children", func(s *Settings) { s.ChunkFiles, s.ChunkMapMaxConcurrency = 1, 50 }, 74164 + 224},
		{"a longer task timeout lengthens Sort results and Find open job", func(s *Settings) { s.TaskTimeoutSecs += 10 }, 74164 + (4+103)*10},
		{"a deferred file's wait", func(*Settings) {}, 128805},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := withARNs(DefaultSettings())
			tc.change(&s)
			def, err := Render(s)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == 128805 {
				def = bytes.Replace(def, []byte(`"wait_cap_secs": 60`), []byte(`"wait_cap_secs": 100000`), 1)
			}
			var doc aslStateList
			if err := json.Unmarshal(def, &doc); err != nil {
				t.Fatal(err)
			}
			got, err := expressSpan(doc)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("expressSpan = %v s, want %v s", got, tc.want)
			}
		})
	}
}
