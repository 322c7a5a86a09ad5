package statemachine

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// HistoryEventLimit is the most history events one Standard execution may
// have: "Maximum execution history size: 25,000 events. If the execution
// history reaches this quota, the execution will fail"
// (https://docs.aws.amazon.com/step-functions/latest/dg/limits.html); only
// an ExecutionSucceeded may be event 25,000, anything else there is replaced
// by ExecutionFailed (https://docs.aws.amazon.com/step-functions/latest/dg/bp-history-limit.html),
// so a failing execution's own error, the report, is lost.
const HistoryEventLimit = 25000

// HistoryEventBudget is the most events ParentHistoryBound and
// StandardChildHistoryBound may count: 10% below HistoryEventLimit. The
// per-state counts below come from the HistoryEvent reference, not from a
// run on AWS; the headroom absorbs an event type the count misses per
// state (about one event for every ten counted on the worst path), and an
// operator's redrive of a failed parent (ExecutionRedriven, MapRunRedriven
// and the states run again after the failed one).
const HistoryEventBudget = HistoryEventLimit * 9 / 10

// maxFilesPerExecution is the most files one parent execution carries
// (parse-event rejects more; the intake's batches and the sweep stay
// within it).
const maxFilesPerExecution = contract.MaxFilesPerExecution

// HistoryPasses is how often HistoryBound lets one path enter each state:
// 2, so a copy that resumes once ("Copy finished?" -> "Mark copy resumed"
// -> "Copy file") is counted with every task on both passes making every
// attempt. A copy that resumes more often adds the loop's events again for
// each further pass (docs/limits.md).
const HistoryPasses = 2

// The Standard child's two copy tasks: "Small copy?" sends a small file's
// first copy to StandardSmallCopyState (copy-file-express), any other
// first copy to StandardCopyState (copy-file), and every resumed pass
// ("Mark copy resumed") goes to StandardCopyState.
const (
	StandardCopyState      = "Copy file"
	StandardSmallCopyState = "Copy small file"
)

// samePasses maps a state to the state whose passes its entries count as:
// "Copy small file" is the first pass of the copy in place of "Copy file"
// (the same retriers, one or the other), so a path that enters it has one
// pass of "Copy file" fewer, and HistoryPasses bounds the copy's passes
// whichever task started it: a copy that resumes once is "Copy small file"
// (or "Copy file") then "Copy file", not both then "Copy file" twice.
var samePasses = map[string]string{StandardSmallCopyState: StandardCopyState}

// The history events of one execution, by the event types of the
// HistoryEvent reference
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_HistoryEvent.html,
// the events GetExecutionHistory returns):
const (
	// executionStartEnd: ExecutionStarted, then one of ExecutionSucceeded,
	// ExecutionFailed, ExecutionAborted or ExecutionTimedOut.
	executionStartEnd = 2
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
	// iterationEvents: per item of an inline Map, MapIterationStarted and
	// one of MapIterationSucceeded, MapIterationFailed or
	// MapIterationAborted.
	iterationEvents = 2
	// mapRunEvents: a Distributed Map's Map Run, MapRunStarted and one of
	// MapRunSucceeded, MapRunFailed or MapRunAborted. Its children are
	// executions of their own, each with its own history
	// (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html:
	// "Each child workflow execution has its own, separate execution
	// history from that of the parent workflow"), so the parent counts
	// none of their events, however many items the Map gets.
	mapRunEvents = 2
)

// HistoryBound returns the most history events one Standard execution of
// the definition can have when each of its inline Maps gets files items:
// executionEvents, plus the longest path from StartAt to the end where each
// state counts stateEvents, each Task (1 + the sum of its retriers'
// MaxAttempts) x lambdaAttemptEvents (every task makes every attempt its
// retriers allow, each retrier counting its own), each inline Map
// mapEvents plus, per item, iterationEvents and its ItemProcessor's longest
// path, and each Distributed Map mapEvents and mapRunEvents only. A path
// enters each state at most HistoryPasses times (a state of samePasses
// counting as the state it names); Next, Choice (Choices and Default) and
// Catch edges are followed.
func HistoryBound(definition []byte, files int) (int, error) {
	if files < 0 {
		return 0, fmt.Errorf("history bound: %d files: must be at least 0", files)
	}
	var doc aslStateList
	if err := json.Unmarshal(definition, &doc); err != nil {
		return 0, fmt.Errorf("history bound: read definition: %w", err)
	}
	return executionEvents(doc, files)
}

// ParentHistoryBound returns HistoryBound for the parent execution of a
// rendered definition: its Maps are Distributed, so the bound does not
// depend on the batch's size; an inline Map at the top level, whose
// iterations would count, is an error. The parent goes round the Express
// lane up to "Sort results"' max_rounds times (deferred files), so a path
// enters each of its states up to that many times: every round counts its
// states, its Map's events and "Sort results"' every attempt.
func ParentHistoryBound(definition []byte) (int, error) {
	var doc aslStateList
	if err := json.Unmarshal(definition, &doc); err != nil {
		return 0, fmt.Errorf("parent history bound: read definition: %w", err)
	}
	n, err := executionEvents(doc, noInlineMaps)
	if err != nil {
		return 0, fmt.Errorf("parent %w", err)
	}
	return n, nil
}

// StandardChildHistoryBound returns HistoryBound for one child of the
// Standard lane (StandardLaneMap's ItemProcessor, one file: today's
// per-file iteration), an execution of its own.
func StandardChildHistoryBound(definition []byte) (int, error) {
	var doc aslStateList
	if err := json.Unmarshal(definition, &doc); err != nil {
		return 0, fmt.Errorf("standard child history bound: read definition: %w", err)
	}
	lane, ok := doc.States[StandardLaneMap]
	if !ok || lane.ItemProcessor == nil || !lane.ItemProcessor.distributed() {
		return 0, fmt.Errorf("standard child history bound: no Distributed Map state %q", StandardLaneMap)
	}
	n, err := executionEvents(*lane.ItemProcessor, noInlineMaps)
	if err != nil {
		return 0, fmt.Errorf("standard child %w", err)
	}
	return n, nil
}

// noInlineMaps, as the files of executionEvents, refuses inline Maps.
const noInlineMaps = -1

// deferralRounds is "Sort results"' max_rounds: how many rounds of the
// Express lane one parent runs at most; 0 when it has none.
func deferralRounds(doc aslStateList) int {
	n, _ := doc.States[SortResultsState].Parameters["max_rounds"].(float64)
	return int(n)
}

// executionEvents is the most events of an execution of states, a path
// entering each top-level state at most HistoryPasses times, or, in a
// parent, as many times as it runs the Express lane (deferralRounds: its
// only loop).
func executionEvents(states aslStateList, files int) (int, error) {
	passes := HistoryPasses
	if rounds := deferralRounds(states); rounds > 0 {
		passes = rounds
	}
	w := &eventWalker{states: states.States, files: files, passes: passes, visits: map[string]int{}}
	n, err := w.from(states.StartAt, "StartAt")
	if err != nil {
		return 0, fmt.Errorf("history bound: %w", err)
	}
	return executionStartEnd + n, nil
}

// longestEvents is the most events of a path through states from StartAt.
func longestEvents(states aslStateList, files int) (int, error) {
	w := &eventWalker{states: states.States, files: files, passes: HistoryPasses, visits: map[string]int{}}
	return w.from(states.StartAt, "StartAt")
}

// eventWalker finds the path with the most events within one list of states.
type eventWalker struct {
	states map[string]aslState
	files  int
	passes int // how often a path may enter each state
	visits map[string]int
}

// from is the most events from the start of state name to the end of the
// path.
func (w *eventWalker) from(name, via string) (int, error) {
	st, ok := w.states[name]
	if !ok {
		return 0, fmt.Errorf("state %q (reached from %q) does not exist", name, via)
	}
	key := name
	if k, ok := samePasses[name]; ok {
		key = k
	}
	if w.visits[key] >= w.passes {
		return 0, nil
	}
	w.visits[key]++
	defer func() { w.visits[key]-- }()

	own, err := w.stateEvents(name, st)
	if err != nil {
		return 0, err
	}
	longest := 0
	for _, n := range slices.Compact(slices.Sorted(slices.Values(st.successors()))) {
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
		if st.ItemProcessor.distributed() {
			return stateEvents + mapEvents + mapRunEvents, nil
		}
		if w.files == noInlineMaps {
			return 0, fmt.Errorf("inline map state %q: its iterations would count in this execution's history, as many as its items", name)
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

// MaxFilesPerExecution returns the most files one execution of the
// workflow rendered with s carries (100, contract.MaxFilesPerExecution:
// the parent's history does not grow with them, its Maps being
// Distributed) and the larger of its two history bounds, the parent's
// (ParentHistoryBound) and a Standard lane child's
// (StandardChildHistoryBound); an error when either is above
// HistoryEventBudget. Function ARNs missing from s are filled with
// stand-ins (they do not change the figures).
func MaxFilesPerExecution(s Settings) (files, events int, err error) {
	def, err := fill(withStandInARNs(s))
	if err != nil {
		return 0, 0, err
	}
	parent, err := ParentHistoryBound(def)
	if err != nil {
		return 0, 0, err
	}
	child, err := StandardChildHistoryBound(def)
	if err != nil {
		return 0, 0, err
	}
	events = max(parent, child)
	if events > HistoryEventBudget {
		return 0, events, fmt.Errorf("history bound: the parent may have up to %d events and a Standard lane child up to %d, above the budget of %d (%d below the limit of %d)",
			parent, child, HistoryEventBudget, HistoryEventLimit-HistoryEventBudget, HistoryEventLimit)
	}
	return maxFilesPerExecution, events, nil
}
