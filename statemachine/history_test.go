package statemachine

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// handMade is a small definition whose events are counted by hand in
// TestHistoryBoundHandMade.
const handMade = `{
  "StartAt": "Parse",
  "States": {
    "Parse": {"Type": "Task", "Resource": "arn:parse", "TimeoutSeconds": 60,
      "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"], "MaxAttempts": 2}],
      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Rejected"}],
      "Next": "Each"},
    "Rejected": {"Type": "Pass", "Next": "Report"},
    "Each": {"Type": "Map", "ItemsPath": "$.files",
      "ItemProcessor": {"StartAt": "Copy", "States": {
        "Copy": {"Type": "Task", "Resource": "arn:copy", "TimeoutSeconds": 60,
          "Retry": [{"ErrorEquals": ["TransientCopyError"], "MaxAttempts": 1},
                    {"ErrorEquals": ["Lambda.TooManyRequestsException"]}],
          "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}],
          "Next": "Done?"},
        "Done?": {"Type": "Choice",
          "Choices": [{"Variable": "$.complete", "BooleanEquals": false, "Next": "Copy"}],
          "Default": "Record"},
        "Record": {"Type": "Task", "Resource": "arn:record", "TimeoutSeconds": 60, "End": true},
        "Failed": {"Type": "Pass", "End": true}
      }},
      "Next": "Report"},
    "Report": {"Type": "Task", "Resource": "arn:report", "TimeoutSeconds": 60, "End": true}
  }
}`

// TestHistoryBoundHandMade counts handMade's worst case by hand:
//
//	execution: ExecutionStarted + ExecutionFailed                        2
//	Parse: Entered/Exited 2 + (1 + 2 retries) x 3 Lambda events          11
//	Each (Map): Entered/Exited 2 + MapStateStarted/Succeeded 2           4
//	  per file: MapIterationStarted/Succeeded 2, then the longest path:
//	    Copy: 2 + (1 + 1 + 3 (MaxAttempts absent: 3)) x 3 = 17
//	    Done? 2, Copy again (HistoryPasses = 2) 17, Done? 2,
//	    then Record 2 + 1 x 3 = 5 (Copy a third time is not counted)
//	    = 17 + 2 + 17 + 2 + 5 = 43 (the Catch -> Failed way: 17+2+17+2 = 38)
//	  = 45 a file
//	Report: 2 + 3                                                        5
//
// so 22 + 45 per file (Parse -> Rejected -> Report is 2+11+2+5 = 20, shorter).
func TestHistoryBoundHandMade(t *testing.T) {
	for _, files := range []int{0, 1, 3} {
		got, err := HistoryBound([]byte(handMade), files)
		if err != nil {
			t.Fatal(err)
		}
		if want := 22 + 45*files; got != want {
			t.Errorf("HistoryBound(handMade, %d) = %d, want %d (hand-counted)", files, got, want)
		}
	}
}

// TestHistoryBoundsDefaults pins the two Standard histories of cdk.json's
// defaults, counted by hand (every task making every attempt):
//
//	the parent: 2 (execution)
//	  + Read restored files 2 + (1 + 100 (throttling) + 3 (Lambda faults)) x 3 = 314
//	    (its ResultSelector cuts the chunks: no state of its own)
//	  + rounds of the Express lane (Sort results' max_rounds, 20), each
//	    Copy chunks 6 (MapStateEntered/Exited, MapStateStarted/Succeeded,
//	    MapRunStarted/Succeeded; its Express children have their own)
//	    + Sort results 314 + Go round again? 2 = 322, the first 19
//	    followed by Wait before going round 2: 20 x 322 + 19 x 2 = 6,478
//	  + Copy in the Standard lane 6 + Report results 314
//	  = 7,114, whatever the batch's files (958 with no round again)
//	a Standard lane child (one file):
//	  a status task: 1 + 99 (database) + 100 (throttling) + 3 (Lambda
//	  faults) = 203 attempts: 2 + 609 = 611 events
//	  "Copy file" and "Copy small file" (the same retriers): 1 + 2 (copy)
//	  + 100 (throttling) = 103 attempts: 311 events
//	  2 (execution) + Find open job 611 + Small copy? 2 + (Copy small file,
//	  or Copy file, 311 + Copy finished? 2 + Mark copy resumed 611)
//	  + Copy file 311 + Copy finished? 2 + Record copy complete 611
//	  + its Catch's Status not recorded 2 = 2,465
//	  (the small copy is the first pass in place of Copy file's, not one
//	  more: samePasses; each way has the same events)
//
// so MaxFilesPerExecution is the 100 files the intake's batches carry,
// with at most 7,114 events in any one Standard execution (the parent's).
func TestHistoryBoundsDefaults(t *testing.T) {
	def, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	parent, err := ParentHistoryBound(def)
	if err != nil || parent != 7114 {
		t.Errorf("ParentHistoryBound(defaults) = %d, %v; want 7,114 (hand-computed)", parent, err)
	}
	child, err := StandardChildHistoryBound(def)
	if err != nil || child != 2465 {
		t.Errorf("StandardChildHistoryBound(defaults) = %d, %v; want 2,465 (hand-computed)", child, err)
	}
	files, events, err := MaxFilesPerExecution(DefaultSettings())
	if err != nil || files != maxFilesPerExecution || events != 7114 {
		t.Errorf("MaxFilesPerExecution(defaults) = %d files, %d events, %v; want %d, 7,114", files, events, err, maxFilesPerExecution)
	}
	if HistoryEventBudget >= HistoryEventLimit {
		t.Errorf("the budget %d is not under the limit %d", HistoryEventBudget, HistoryEventLimit)
	}
}

// TestParentHistoryDoesNotGrowWithTheBatch: the parent's Maps are
// Distributed, so its bound is the same for 1 file or 1,000; a Map run
// inline would put every iteration in the parent's history, and is refused.
func TestParentHistoryDoesNotGrowWithTheBatch(t *testing.T) {
	def, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	parent, err := ParentHistoryBound(def)
	if err != nil {
		t.Fatal(err)
	}
	for _, files := range []int{1, maxFilesPerExecution, 1000} {
		if got, err := HistoryBound(def, files); err != nil || got != parent {
			t.Errorf("HistoryBound(def, %d) = %d, %v; want the parent's %d", files, got, err, parent)
		}
	}
	inline := editState(t, def, ExpressLaneMap, func(st map[string]any) {
		st["ItemProcessor"].(map[string]any)["ProcessorConfig"] = map[string]any{"Mode": "INLINE"}
	})
	if _, err := ParentHistoryBound(inline); err == nil || !strings.Contains(err.Error(), "inline map state") {
		t.Errorf("ParentHistoryBound with an inline chunk Map: error = %v, want it refused", err)
	}
}

// TestHistoryBoundsFollowTheRetriers: a retrier's MaxAttempts in the
// rendered definition changes each bound by 3 events per attempt on its
// worst path, and settings change the Standard child's; no setting within
// ValidatePolicy's ranges takes either past the budget (the most copy and
// database retries give a child 3,047 events), but a definition whose
// retriers would is refused by CheckBounds, which Render runs.
func TestHistoryBoundsFollowTheRetriers(t *testing.T) {
	def, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	// The parent has 22 tasks on its path (Read restored files, Sort
	// results in each of 20 rounds, Report results), the child five (Find
	// open job, Copy small file or Copy file, Mark copy resumed, Copy
	// file, Record copy complete).
	for _, tc := range []struct {
		attempts              int
		parentDelta, child    int
		parentOver, childOver bool
	}{
		{200, 22 * 100 * 3, 2465 + 5*100*3, false, false},
		{340, 22 * 240 * 3, 2465 + 5*240*3, true, false},
		{2600, 22 * 2500 * 3, 2465 + 5*2500*3, true, true},
	} {
		raised := bytes.ReplaceAll(def, []byte(`"MaxAttempts": 100,`), []byte(fmt.Sprintf(`"MaxAttempts": %d,`, tc.attempts)))
		parent, err := ParentHistoryBound(raised)
		if err != nil || parent != 7114+tc.parentDelta {
			t.Errorf("throttle MaxAttempts %d: parent bound %d, %v; want %d", tc.attempts, parent, err, 7114+tc.parentDelta)
		}
		child, err := StandardChildHistoryBound(raised)
		if err != nil || child != tc.child {
			t.Errorf("throttle MaxAttempts %d: child bound %d, %v; want %d", tc.attempts, child, err, tc.child)
		}
		err = CheckBounds(raised)
		for what, over := range map[string]bool{"the parent execution may have": tc.parentOver, "a Standard lane child may have": tc.childOver} {
			if got := err != nil && strings.Contains(err.Error(), what); got != over {
				t.Errorf("throttle MaxAttempts %d: CheckBounds = %v; want %q refused: %v", tc.attempts, err, what, over)
			}
		}
	}
	most := DefaultSettings()
	most.CopyRetries, most.DatabaseRetries = maxRetries, maxRetries
	if child := childBound(t, most); child != 3047 {
		t.Errorf("the most copy and database retries: a child has %d events; want 3,047 within the budget", child)
	}
	if _, events, err := MaxFilesPerExecution(most); err != nil || events != 7114 {
		t.Errorf("the most copy and database retries: %d events, %v; want the parent's 7,114", events, err)
	}
	fewer := DefaultSettings()
	fewer.DatabaseRetries = 10
	if child := childBound(t, fewer); child != 2465-3*90*3 {
		t.Errorf("databaseRetries 10: a child has %d events; want %d (90 fewer attempts of the child's three status tasks)", child, 2465-3*90*3)
	}
}

// childBound is StandardChildHistoryBound of the definition rendered with s.
func childBound(t *testing.T, s Settings) int {
	t.Helper()
	def, err := Render(withARNs(s))
	if err != nil {
		t.Fatal(err)
	}
	n, err := StandardChildHistoryBound(def)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestParentHistoryCountsTheRounds: every round of the Express lane adds
// its 324 events (Copy chunks 6, Sort results 314, Go round again? 2, the
// wait 2) to the parent's bound, so a
// max_rounds of 70 takes the parent past the budget, and CheckBounds
// refuses it.
func TestParentHistoryCountsTheRounds(t *testing.T) {
	def, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		rounds, want int
		over         bool
	}{{1, 7114 - 19*324, false}, {21, 7114 + 324, false}, {70, 7114 + 50*324, true}} {
		edited := bytes.Replace(def, []byte(fmt.Sprintf(`"max_rounds": %d,`, DeferMaxRounds)), []byte(fmt.Sprintf(`"max_rounds": %d,`, tc.rounds)), 1)
		if got, err := ParentHistoryBound(edited); err != nil || got != tc.want {
			t.Errorf("max_rounds %d: parent bound %d, %v; want %d", tc.rounds, got, err, tc.want)
		}
		err := CheckBounds(edited)
		if got := err != nil && strings.Contains(err.Error(), "the parent execution may have"); got != tc.over {
			t.Errorf("max_rounds %d: CheckBounds = %v; want the parent refused: %v", tc.rounds, err, tc.over)
		}
	}
}

// TestHistoryBoundRejectsWhatItCannotCount: a missing state is an error.
func TestHistoryBoundRejectsWhatItCannotCount(t *testing.T) {
	broken := bytes.Replace([]byte(handMade), []byte(`"Next": "Report"}`), []byte(`"Next": "Nowhere"}`), 1)
	if _, err := HistoryBound(broken, 1); err == nil {
		t.Error("HistoryBound of a definition with a Next to a missing state: no error")
	}
}
