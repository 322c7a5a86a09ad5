package statemachine

import (
	"encoding/json"
	"fmt"
)

// HistoryEventLimit is the most history events one Standard execution may
// have: "Maximum execution history size: 25,000 events. If the execution
// history reaches this quota, the execution will fail"
// (https://docs.aws.amazon.com/step-functions/latest/dg/limits.html); only
// an ExecutionSucceeded may be event 25,000, anything else there is replaced
// by ExecutionFailed (https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html),
// so a failing execution's own error, the report, is lost.
const HistoryEventLimit = 25000

// HistoryEventBudget is the most events HistoryBound may count for an
// execution MaxFilesPerExecution allows: 10% below HistoryEventLimit. The
// per-state counts below come from the HistoryEvent reference, not from a
// run on AWS; the headroom absorbs an event type the count misses per
// state (about one event for every ten counted on the worst path).
const HistoryEventBudget = HistoryEventLimit * 9 / 10

// HistoryPasses is how often HistoryBound lets one path through the Map
// enter each state: 2, so a copy that resumes once ("Copy finished?" ->
// "Mark copy resumed" -> "Copy file") is counted with every task on both
// passes making every attempt. A copy that resumes more often adds the
// loop's events again for each further pass (docs/limits.md).
const HistoryPasses = 2

// The history events of one execution, by the event types of the
// HistoryEvent reference
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html,
// the events GetExecutionHistory returns):
const (
	// executionEvents: ExecutionStarted, then one of ExecutionSucceeded,
	// ExecutionFailed, ExecutionAborted or ExecutionTimedOut.
	executionEvents = 2
	// stateEvents: <Type>StateEntered and <Type>StateExited of any state
	// (TaskStateEntered/Exited, ChoiceStateEntered/Exited,
	// PassStateEntered/Exited, MapStateEntered/Exited, ...); a Fail state
	// has only FailStateEntered, so 2 is an upper bound for every type.
	stateEvents = 2
	// lambdaAttemptEvents: one attempt of a Task whose Resource is a Lambda
	// function ARN: LambdaFunctionScheduled, LambdaFunctionStarted and one
	// of LambdaFunctionSucceeded, LambdaFunctionFailed or
	// LambdaFunctionTimedOut. An attempt that fails earlier
	// (LambdaFunctionScheduleFailed after Scheduled,
	// LambdaFunctionStartFailed after Scheduled) has fewer. A retry adds
	// no event of its own: the next attempt's Scheduled follows the failure.
	lambdaAttemptEvents = 3
	// mapEvents: a Map state's MapStateStarted and one of MapStateSucceeded,
	// MapStateFailed or MapStateAborted (its Entered/Exited are stateEvents).
	mapEvents = 2
	// iterationEvents: per item, MapIterationStarted and one of
	// MapIterationSucceeded, MapIterationFailed or MapIterationAborted.
	iterationEvents = 2
)

// HistoryBound returns the most history events one Standard execution of
// the rendered definition can have when its Map gets files items:
// executionEvents, plus the longest path from StartAt to the end where each
// state counts stateEvents, each Task (1 + the sum of its retriers'
// MaxAttempts) x lambdaAttemptEvents (every task makes every attempt its
// retriers allow, each retrier counting its own), and each Map mapEvents
// plus, per item, iterationEvents and its ItemProcessor's longest path. A
// path enters each state at most HistoryPasses times; Next, Choice
// (Choices and Default) and Catch edges are followed.
func HistoryBound(definition []byte, files int) (int, error) {
	if files < 0 {
		return 0, fmt.Errorf("history bound: %d files: must be at least 0", files)
	}
	var doc aslStateList
	if err := json.Unmarshal(definition, &doc); err != nil {
		return 0, fmt.Errorf("history bound: read definition: %w", err)
	}
	n, err := longestEvents(doc, files)
	if err != nil {
		return 0, fmt.Errorf("history bound: %w", err)
	}
	return executionEvents + n, nil
}

// longestEvents is the most events of a path through states from StartAt.
func longestEvents(states aslStateList, files int) (int, error) {
	w := &eventWalker{states: states.States, files: files, visits: map[string]int{}}
	return w.from(states.StartAt, "StartAt")
}

// eventWalker finds the path with the most events within one list of states.
type eventWalker struct {
	states map[string]aslState
	files  int
	visits map[string]int
}

// from is the most events from the start of state name to the end of the
// path.
func (w *eventWalker) from(name, via string) (int, error) {
	st, ok := w.states[name]
	if !ok {
		return 0, fmt.Errorf("state %q (reached from %q) does not exist", name, via)
	}
	if w.visits[name] >= HistoryPasses {
		return 0, nil
	}
	w.visits[name]++
	defer func() { w.visits[name]-- }()

	own, err := w.stateEvents(name, st)
	if err != nil {
		return 0, err
	}
	longest := 0
	for _, n := range st.successors() {
		e, err := w.from(n, name)
		if err != nil {
			return 0, err
		}
		longest = max(longest, e)
	}
	return own + longest, nil
}

// stateEvents is the events of one visit of state st.
func (w *eventWalker) stateEvents(name string, st aslState) (int, error) {
	switch st.Type {
	case "Task":
		return stateEvents + taskAttempts(st.Retry)*lambdaAttemptEvents, nil
	case "Map":
		if st.ItemProcessor == nil {
			return 0, fmt.Errorf("map state %q has no ItemProcessor", name)
		}
		per, err := longestEvents(*st.ItemProcessor, w.files)
		if err != nil {
			return 0, fmt.Errorf("map state %q: %w", name, err)
		}
		return stateEvents + mapEvents + w.files*(iterationEvents+per), nil
	case "Parallel":
		return 0, fmt.Errorf("state %q: Parallel states are not counted", name)
	default:
		return stateEvents, nil
	}
}

// taskAttempts is the most attempts of a task with these retriers: the
// first, plus each retrier's MaxAttempts (ASL's default 3 where absent).
func taskAttempts(retry []aslRetrier) int {
	n := 1
	for _, r := range retry {
		if r.MaxAttempts != nil {
			n += *r.MaxAttempts
		} else {
			n += 3
		}
	}
	return n
}

// MaxFilesPerExecution returns the most files one execution of the workflow
// rendered with s may carry so that HistoryBound stays within
// HistoryEventBudget, and that bound. Function ARNs missing from s are
// filled with stand-ins (they do not change the figure).
func MaxFilesPerExecution(s Settings) (files, events int, err error) {
	def, err := Render(withStandInARNs(s))
	if err != nil {
		return 0, 0, err
	}
	none, err := HistoryBound(def, 0)
	if err != nil {
		return 0, 0, err
	}
	one, err := HistoryBound(def, 1)
	if err != nil {
		return 0, 0, err
	}
	perFile := one - none
	if perFile <= 0 || none+perFile > HistoryEventBudget {
		return 0, one, fmt.Errorf("history bound: one file already needs up to %d events, above the budget of %d (%d below the limit of %d)", one, HistoryEventBudget, HistoryEventLimit-HistoryEventBudget, HistoryEventLimit)
	}
	files = (HistoryEventBudget - none) / perFile
	return files, none + files*perFile, nil
}
