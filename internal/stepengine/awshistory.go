package stepengine

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// awsHistory turns an execution history in AWS's shape (GetExecutionHistory
// events: id, previousEventId, type, <type>EventDetails), as the moto engine
// reports it, into the engine-neutral Event log the Node engine writes, so
// the runner's output and the tests read both engines alike:
//
//   - <Type>StateEntered / <Type>StateExited become StateEntered /
//     StateExited with the state's name, type, input or output;
//   - a failed task attempt (LambdaFunctionFailed, LambdaFunctionTimedOut,
//     TaskFailed, ...) becomes StateFailed with its error and cause;
//   - a task scheduled again right after a failure is a StateRetried;
//     a state exited right after a failure is a StateCaught (a Catcher
//     took it), as the Node engine reports them;
//   - events inside a Map iteration carry the iteration's index, found by
//     following previousEventId back to MapIterationStarted, and the path of
//     Map iterations they are in (inline Maps nest);
//   - every other event (LambdaFunctionScheduled, MapStateStarted, ...)
//     passes through under its AWS type.
//
// Each Event keeps the AWS event in Raw. Not safe for concurrent use.
type awsHistory struct {
	byID map[int64]*awsNode
}

// awsNode is what later events need to know about an earlier one.
type awsNode struct {
	typ     string
	path    []Iteration // the Map iterations it is in, outermost first
	state   string      // the state the event belongs to
	stype   string
	failed  bool // a failed task attempt
	retries int  // StateRetried so far in this state entry
}

type awsEvent struct {
	ID              int64                      `json:"id"`
	PreviousEventID int64                      `json:"previousEventId"`
	Type            string                     `json:"type"`
	Timestamp       int64                      `json:"timestamp"`
	Details         map[string]json.RawMessage `json:"-"`
}

type awsDetails struct {
	Name   string  `json:"name"`
	Input  *string `json:"input"`
	Output *string `json:"output"`
	Error  string  `json:"error"`
	Cause  *string `json:"cause"`
	Index  *int    `json:"index"`
}

func newAWSHistory() *awsHistory { return &awsHistory{byID: map[int64]*awsNode{}} }

// failureTypes are the history events of a failed task attempt.
var failureTypes = map[string]bool{
	"LambdaFunctionFailed": true, "LambdaFunctionTimedOut": true,
	"LambdaFunctionStartFailed": true, "LambdaFunctionScheduleFailed": true,
	"TaskFailed": true, "TaskTimedOut": true, "TaskStartFailed": true, "TaskSubmitFailed": true,
}

// add reads one AWS history event and returns the Events it stands for.
func (h *awsHistory) add(raw json.RawMessage) ([]Event, error) {
	var ev awsEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, fmt.Errorf("moto engine: unreadable history event: %w", err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		return nil, fmt.Errorf("moto engine: unreadable history event: %w", err)
	}
	var d awsDetails
	for k, v := range all {
		if strings.HasSuffix(k, "EventDetails") {
			if err := json.Unmarshal(v, &d); err != nil {
				return nil, fmt.Errorf("moto engine: history event %d %s: %w", ev.ID, k, err)
			}
		}
	}

	prev := h.byID[ev.PreviousEventID]
	node := &awsNode{typ: ev.Type}
	if prev != nil {
		node.path, node.state, node.stype, node.retries = prev.path, prev.state, prev.stype, prev.retries
		switch prev.typ {
		case "MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted":
			node.path = prev.path[:max(0, len(prev.path)-1)] // back in the Map state itself
			node.state, node.stype = "", ""
		}
	}
	h.byID[ev.ID] = node

	out := Event{Type: ev.Type, Timestamp: ev.Timestamp, Raw: raw}
	state := func() *EventState { return &EventState{Name: node.state, Type: node.stype} }
	switch {
	case strings.HasPrefix(ev.Type, "MapIteration"):
		if ev.Type == "MapIterationStarted" && d.Index != nil {
			node.path = append(slices.Clip(node.path), Iteration{Map: d.Name, Index: *d.Index})
			node.state, node.stype = "", ""
		}
		out.ParentState = &EventState{Name: d.Name, Type: "Map"}
		out.Error, out.Cause = d.Error, causeJSON(d.Cause)
	case strings.HasSuffix(ev.Type, "StateEntered"):
		node.state, node.stype, node.retries = d.Name, strings.TrimSuffix(ev.Type, "StateEntered"), 0
		out.Type = "StateEntered"
		out.State = state()
		out.State.Input = jsonText(d.Input)
		out.Input = out.State.Input
	case strings.HasSuffix(ev.Type, "StateExited"):
		node.state, node.stype = d.Name, strings.TrimSuffix(ev.Type, "StateExited")
		out.Type = "StateExited"
		if prev != nil && prev.failed {
			out.Type = "StateCaught"
		}
		out.State = state()
		out.State.Output = jsonText(d.Output)
		out.Output = out.State.Output
	case failureTypes[ev.Type]:
		node.failed = true
		out.Type = "StateFailed"
		out.State = state()
		out.Error, out.Cause = d.Error, causeJSON(d.Cause)
	case strings.HasSuffix(ev.Type, "Scheduled") && prev != nil && prev.failed:
		node.retries++
		out = Event{Type: "StateRetried", Timestamp: ev.Timestamp, State: state(),
			Retry: &struct {
				Attempt int `json:"attempt"`
			}{Attempt: node.retries}, Raw: raw}
	default:
		if strings.HasPrefix(ev.Type, "Execution") {
			out.Error, out.Cause = d.Error, causeJSON(d.Cause)
			node.path = nil // the execution's own event, in no iteration
		}
		if node.state != "" && !strings.HasPrefix(ev.Type, "Execution") {
			out.State = state()
		}
	}
	out.Path, out.Index = pathIndex(node.path)
	return []Event{out}, nil
}

// pathIndex returns an event's Path (nil when empty) and Index (the last
// iteration's, nil outside any).
func pathIndex(path []Iteration) ([]Iteration, *int) {
	if len(path) == 0 {
		return nil, nil
	}
	p := slices.Clone(path)
	return p, &p[len(p)-1].Index
}

// awsHistories reads the histories of one execution and of its Distributed
// Map children (each child's its own, numbered from 1, as on AWS), and
// tells each child's events by a Path starting with the child.
type awsHistories struct {
	parent   *awsHistory
	children map[Iteration]*awsHistory
}

func newAWSHistories() *awsHistories {
	return &awsHistories{parent: newAWSHistory(), children: map[Iteration]*awsHistory{}}
}

// add reads one AWS history event, of the execution (child nil) or of a
// Distributed Map child, and returns the Events it stands for.
func (hs *awsHistories) add(raw json.RawMessage, child *Iteration) ([]Event, error) {
	if child == nil {
		return hs.parent.add(raw)
	}
	h := hs.children[*child]
	if h == nil {
		h = newAWSHistory()
		hs.children[*child] = h
	}
	evs, err := h.add(raw)
	for i := range evs {
		evs[i].Path, evs[i].Index = pathIndex(append([]Iteration{*child}, evs[i].Path...))
	}
	return evs, err
}

// jsonText returns a history event's JSON text field as raw JSON (nil when
// absent or not JSON).
func jsonText(s *string) json.RawMessage {
	if s == nil || !json.Valid([]byte(*s)) {
		return nil
	}
	return json.RawMessage(*s)
}

// causeJSON returns a cause as the Node engine's Cause field holds it: a
// JSON string.
func causeJSON(s *string) json.RawMessage {
	if s == nil {
		return nil
	}
	b, _ := json.Marshal(*s)
	return b
}
