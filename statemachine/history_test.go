package statemachine

import (
	"bytes"
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

// TestMaxFilesPerExecutionDefaults pins the figures of cdk.json's defaults:
//
//	outside the Map: 2 (execution) + "Read restored files" 2 + 104 x 3
//	  + the Map's 4 + "Report results" 2 + 104 x 3 = 634
//	a status task: 1 + 99 (database) + 100 (throttling) + 3 (Lambda
//	  faults) = 203 attempts: 2 + 609 = 611 events
//	"Copy file": 1 + 2 (copy) + 100 (throttling) = 103 attempts: 311 events
//	a file: 2 (iteration) + Find open job 611 + (Copy file 311 + Copy
//	  finished? 2 + Mark copy resumed 611) + Copy file 311 + Copy finished? 2
//	  + Record copy complete 611 + its Catch's Status not recorded 2 = 2,463
//	files = (22,500 - 634) / 2,463 = 8, at 634 + 8 x 2,463 = 20,338 events
func TestMaxFilesPerExecutionDefaults(t *testing.T) {
	files, events, err := MaxFilesPerExecution(DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	if files != 8 || events != 20338 {
		t.Errorf("MaxFilesPerExecution(defaults) = %d files, %d events; want 8, 20,338 (hand-computed)", files, events)
	}
	if events > HistoryEventBudget || HistoryEventBudget >= HistoryEventLimit {
		t.Errorf("%d events over the budget %d, or the budget not under the limit %d", events, HistoryEventBudget, HistoryEventLimit)
	}
}

// TestHistoryBoundFollowsTheRetriers: a retrier's MaxAttempts in the
// rendered definition changes the bound by 3 events per attempt on the
// worst path, so raising the throttle retrier lowers the safe file count.
func TestHistoryBoundFollowsTheRetriers(t *testing.T) {
	def, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	base, err := HistoryBound(def, 1)
	if err != nil {
		t.Fatal(err)
	}
	raised := bytes.ReplaceAll(def, []byte(`"MaxAttempts": 100,`), []byte(`"MaxAttempts": 200,`))
	got, err := HistoryBound(raised, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Every task on the path has one throttle retrier: Read restored files,
	// Report results, and in the file's path Find open job, Copy file twice,
	// Mark copy resumed and Record copy complete: 7 tasks x 100 x 3.
	if want := base + 7*100*3; got != want {
		t.Errorf("throttle MaxAttempts 100 -> 200: bound %d, want %d", got, want)
	}
	s := DefaultSettings()
	s.DatabaseRetries = 100
	f100, _, err := MaxFilesPerExecution(s)
	if err != nil {
		t.Fatal(err)
	}
	s.DatabaseRetries = 10
	f10, _, err := MaxFilesPerExecution(s)
	if err != nil {
		t.Fatal(err)
	}
	if f10 <= f100 {
		t.Errorf("databaseRetries 10 allows %d files, 100 allows %d: fewer retries must allow more files", f10, f100)
	}
}

// TestHistoryBoundRejectsWhatItCannotCount: a missing state is an error.
func TestHistoryBoundRejectsWhatItCannotCount(t *testing.T) {
	broken := bytes.Replace([]byte(handMade), []byte(`"Next": "Report"}`), []byte(`"Next": "Nowhere"}`), 1)
	if _, err := HistoryBound(broken, 1); err == nil {
		t.Error("HistoryBound of a definition with a Next to a missing state: no error")
	}
}
