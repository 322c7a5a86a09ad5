package stepengine

import (
	"bufio"
	"fmt"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The AWS history recorded from the moto engine reads into the Node
// engine's event log: state entries and exits, a failed attempt, its retry,
// a caught failure, each inside its Map iteration.
func TestAWSHistoryReadsIntoTheEventLog(t *testing.T) {
	f, err := os.Open("testdata/moto-history-map-retry-catch.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := newAWSHistory()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		evs, err := h.add(append([]byte(nil), sc.Bytes()...))
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if ev.Raw == nil {
				t.Errorf("%s has no Raw AWS event", ev.Type)
			}
			line := ev.Type
			if ev.State != nil {
				line += " " + ev.State.Name
			}
			if ev.Index != nil {
				line += fmt.Sprintf(" #%d", *ev.Index)
			}
			if ev.Error != "" {
				line += " " + ev.Error + ": " + ev.CauseText()
			}
			if ev.Retry != nil {
				line += fmt.Sprintf(" attempt %d", ev.Retry.Attempt)
			}
			got = append(got, line)
		}
	}
	want := []string{
		"ExecutionStarted",
		"StateEntered P",
		"LambdaFunctionScheduled P", "LambdaFunctionStarted P", "LambdaFunctionSucceeded P",
		"StateExited P",
		"StateEntered M", "MapStateStarted M",
		"MapIterationStarted #0", "MapIterationStarted #1",
		"StateEntered C #0", "StateEntered C #1",
		"LambdaFunctionScheduled C #0", "LambdaFunctionStarted C #0",
		"LambdaFunctionScheduled C #1", "LambdaFunctionStarted C #1",
		"StateFailed C #0 TransientCopyError: SlowDown",
		"StateFailed C #1 PermanentCopyError: NoSuchKey",
		"StateCaught C #1",
		"StateEntered E #1", "StateExited E #1",
		"MapIterationSucceeded #1",
		"StateRetried C #0 attempt 1",
		"LambdaFunctionStarted C #0", "LambdaFunctionSucceeded C #0",
		"StateExited C #0",
		"StateEntered Ch #0", "StateExited Ch #0",
		"StateEntered D #0", "StateExited D #0",
		"MapIterationSucceeded #0",
		"MapStateSucceeded",
		"StateExited M",
		"StateEntered Done", "StateExited Done",
		"ExecutionSucceeded",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("event log (-want +got):\n%s", diff)
	}
}
