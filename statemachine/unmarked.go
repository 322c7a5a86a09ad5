package statemachine

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// MarkingOperations are the request-status operations that mark a file's
// request_status row as picked up (last_update_time = now() on the
// 'inprogress' row): "Find open jobs" when the Express lane finds the
// chunk's jobs, then in the Standard lane "Find open job" when it finds the
// job and "Mark copy resumed" each time a copy resumes. The reconcile sweep
// counts its grace from that mark (docs/reconcile.md).
var MarkingOperations = []string{"find_open_jobs", "find_open_job", "mark_picked_up"}

// MaxUnmarked returns the longest time the workflow, rendered with s, can
// leave a file's row unmarked while its execution still works on it: the
// reconcile sweep's grace must be at least this long, or a sweep may start
// a second execution for a file whose execution is only throttled, retrying
// the database or resuming a large copy. Function ARNs missing from s are
// filled with stand-ins (they do not change the figure). See
// UnmarkedBound for how it is counted, and what it cannot count.
func MaxUnmarked(s Settings) (time.Duration, error) {
	def, err := Render(withStandInARNs(s))
	if err != nil {
		return 0, err
	}
	return UnmarkedBound(def)
}

// withStandInARNs returns s with a stand-in ARN for every function it has
// none for.
func withStandInARNs(s Settings) Settings {
	arns := map[string]string{}
	for _, f := range Functions {
		arns[f.Name] = "arn:aws:lambda:us-east-1:123456789012:function:" + f.Name
		if v := strings.TrimSpace(s.FunctionARNs[f.Name]); v != "" {
			arns[f.Name] = v
		}
	}
	s.FunctionARNs = arns
	return s
}

// aslState is what the bounds read of a state.
type aslState struct {
	Type           string         `json:"Type"`
	TimeoutSeconds *float64       `json:"TimeoutSeconds"`
	Seconds        *float64       `json:"Seconds"`
	SecondsPath    string         `json:"SecondsPath"`
	Parameters     map[string]any `json:"Parameters"`
	ResultSelector map[string]any `json:"ResultSelector"`
	Retry          []aslRetrier   `json:"Retry"`
	Catch          []struct {
		Next string `json:"Next"`
	} `json:"Catch"`
	Next    string `json:"Next"`
	End     bool   `json:"End"`
	Choices []struct {
		Next string `json:"Next"`
	} `json:"Choices"`
	Default        string        `json:"Default"`
	ItemsPath      string        `json:"ItemsPath"`
	MaxConcurrency *int          `json:"MaxConcurrency"`
	ItemProcessor  *aslStateList `json:"ItemProcessor"`
}

// aslStateList is a definition's or an ItemProcessor's states.
type aslStateList struct {
	StartAt         string              `json:"StartAt"`
	States          map[string]aslState `json:"States"`
	ProcessorConfig struct {
		Mode          string `json:"Mode"`
		ExecutionType string `json:"ExecutionType"`
	} `json:"ProcessorConfig"`
}

// distributed reports whether the list is a Distributed Map's
// ItemProcessor: each item runs as a child execution of its own.
func (l aslStateList) distributed() bool {
	return l.ProcessorConfig.Mode == "DISTRIBUTED"
}

// aslRetrier is a Retry entry; absent fields take ASL's defaults
// (IntervalSeconds 1, MaxAttempts 3, BackoffRate 2, no MaxDelaySeconds).
type aslRetrier struct {
	ErrorEquals     []string `json:"ErrorEquals"`
	IntervalSeconds *float64 `json:"IntervalSeconds"`
	MaxAttempts     *int     `json:"MaxAttempts"`
	BackoffRate     *float64 `json:"BackoffRate"`
	MaxDelaySeconds *float64 `json:"MaxDelaySeconds"`
}

// UnmarkedBound returns, for a rendered definition, the longest time
// between the end of a marking task (a Task whose Parameters.operation is
// one of MarkingOperations) and the end of the next marking task or of the
// file's Standard child (its outcome recorded, or given up), where
//
//   - a task makes every attempt its retriers allow, 1 + the sum of their
//     MaxAttempts (each retrier counts its own),
//   - every attempt runs until its TimeoutSeconds, except the attempts a
//     retrier of throttling alone (ThrottlingErrors) retries: Lambda refused
//     the invocation before it ran (taskWorst), and
//   - every retry waits its full backoff, IntervalSeconds * BackoffRate^n
//     capped at MaxDelaySeconds (full jitter only ever waits less).
//
// Two kinds of span:
//
//   - In a Standard child (StandardLaneMap), the longest path over Next,
//     Choice and Catch edges from the end of "Find open job" or "Mark copy
//     resumed" to the next of them or the child's end.
//   - From the Express lane's mark ("Find open jobs") the file may be
//     handed over: the span runs to the end of ExpressLaneMap, which waits
//     for every child (its rounds x ExpressBound: a child that started with
//     this one may end after it; the rounds are the chunks of
//     MaxFilesPerExecution files over the Map's MaxConcurrency), then
//     through "Sort results" into the Standard lane, to the end of the
//     Standard child's first mark ("Find open job"); or, for a deferred
//     file, through "Go round again?", the longest wait ("Sort results"'
//     wait_cap_secs) and the lane's rounds of children again, until its
//     chunk's child marks it ("Find open jobs").
//
// Known limit: a Standard child queued behind the Standard lane's
// MaxConcurrency (mapMaxConcurrency) waits for a free slot, unmarked, for
// as long as the children before it take: hours each when they are
// throttled or copy large objects. No bound is counted for that wait; the
// Express mark's span counts a child that starts at once.
//
// The bound assumes the mark succeeds: a mark that fails after all its
// retries (the database unavailable for hours; request-status logs and
// meters every failed call) leaves the row with its previous mark, and the
// copy goes on. The time before an execution's first mark is not counted:
// until a lookup finds the row, no execution has picked it up. A cycle
// without a marking task is an error: the span would have no bound.
func UnmarkedBound(definition []byte) (time.Duration, error) {
	var doc aslStateList
	if err := json.Unmarshal(definition, &doc); err != nil {
		return 0, fmt.Errorf("unmarked bound: read definition: %w", err)
	}
	worst, found, err := unmarkedSpans(doc)
	if err != nil {
		return 0, fmt.Errorf("unmarked bound: %w", err)
	}
	if !found {
		return 0, fmt.Errorf("unmarked bound: no task marks the row (Parameters.operation one of %s)", strings.Join(MarkingOperations, ", "))
	}
	return seconds(worst), nil
}

// unmarkedSpans is the longest span of every marking task in doc, its
// Standard and Express children included, and whether there was any.
func unmarkedSpans(doc aslStateList) (worst float64, found bool, err error) {
	lists := map[string]aslStateList{"": doc}
	for name, st := range doc.States {
		if st.ItemProcessor != nil {
			lists[name] = *st.ItemProcessor
		}
	}
	var errs []error
	for name, list := range lists {
		for _, mark := range markingTasks(list) {
			found = true
			var d float64
			if name == ExpressLaneMap {
				d, err = expressSpan(doc) // the same for every mark of the child
			} else {
				d, err = newSpanWalker(list, true, 0, 0).after(mark, list.States[mark])
			}
			errs = append(errs, err)
			worst = max(worst, d)
		}
	}
	return worst, found, errors.Join(errs...)
}

// expressSpan is the longest span from the Express lane's mark: until
// ExpressLaneMap ends, every round of its children at its worst, then on
// through the parent to the next mark.
func expressSpan(doc aslStateList) (float64, error) {
	lane, chunk, err := expressLane(doc)
	if err != nil {
		return 0, err
	}
	child, err := expressChildWorst(doc)
	if err != nil {
		return 0, err
	}
	chunks := (maxFilesPerExecution + chunk - 1) / chunk
	rounds := mapRounds(lane, chunks, MaxDistributedMapConcurrency)
	parent := newSpanWalker(doc, true, 0, 0)
	// A deferred file waits, then goes round: its chunk's child marks it
	// again within the lane's rounds of children.
	parent.pathWait, parent.laneOwn = deferralWaitBound(doc), float64(rounds)*child
	after := 0.0
	for _, n := range lane.successors() {
		d, err := parent.from(n, ExpressLaneMap)
		if err != nil {
			return 0, err
		}
		after = max(after, d)
	}
	return float64(rounds)*child + after, nil
}

// deferralWaitBound is the longest "Sort results" makes deferred files
// wait: its wait_cap_secs (or wait_base_secs, when larger), at least 1 s;
// 0 when it has neither.
func deferralWaitBound(doc aslStateList) float64 {
	p := doc.States[SortResultsState].Parameters
	base, _ := p["wait_base_secs"].(float64)
	ceiling, _ := p["wait_cap_secs"].(float64)
	if base == 0 && ceiling == 0 {
		return 0
	}
	return max(base, ceiling, 1)
}

// markingTasks lists the marking tasks of list (not those of its Maps'
// ItemProcessors), sorted.
func markingTasks(list aslStateList) []string {
	var marks []string
	for _, name := range sortedNames(list.States) {
		if isMarking(list.States[name]) {
			marks = append(marks, name)
		}
	}
	return marks
}

func sortedNames(states map[string]aslState) []string {
	names := make([]string, 0, len(states))
	for name := range states {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// successors are the states st can go on to: Next, each Catch's Next,
// each Choice's Next and the Default.
func (st aslState) successors() []string {
	var next []string
	if !st.End && st.Next != "" {
		next = append(next, st.Next)
	}
	for _, c := range st.Catch {
		next = append(next, c.Next)
	}
	for _, c := range st.Choices {
		next = append(next, c.Next)
	}
	if st.Default != "" {
		next = append(next, st.Default)
	}
	return next
}

func isMarking(st aslState) bool {
	op, _ := st.Parameters["operation"].(string)
	return st.Type == "Task" && slices.Contains(MarkingOperations, op)
}

// spanWalker finds the longest path, in seconds, within one list of
// states: to the end of the list, or (stopAtMarks) to the end of the next
// marking task.
type spanWalker struct {
	states      map[string]aslState
	stopAtMarks bool
	// items is how many items an inline Map of these states gets (the
	// chunk's files in an Express child); 0 where none is known.
	items int
	// atEnd is what a path that ends these states goes on to take.
	atEnd float64
	// pathWait is the longest a Wait state with a SecondsPath waits (the
	// deferral's cap); 0 where none is known.
	pathWait float64
	// laneOwn, when above 0, is what ExpressLaneMap takes until a file's
	// chunk marks its rows again: its rounds of children at their worst.
	laneOwn float64
	onPath  map[string]bool
	memo    map[string]float64
}

func newSpanWalker(list aslStateList, stopAtMarks bool, items int, atEnd float64) *spanWalker {
	return &spanWalker{states: list.States, stopAtMarks: stopAtMarks, items: items, atEnd: atEnd,
		onPath: map[string]bool{}, memo: map[string]float64{}}
}

// after is the longest span, in seconds, from the end of state name's
// successful run (st marks when it succeeds) to the next mark or the end.
func (w *spanWalker) after(name string, st aslState) (float64, error) {
	if st.End || st.Next == "" {
		return w.atEnd, nil
	}
	return w.from(st.Next, name)
}

// from is the longest span, in seconds, from the start of state name to the
// end of the next marking task (stopAtMarks) or of the list.
func (w *spanWalker) from(name, via string) (float64, error) {
	if d, ok := w.memo[name]; ok {
		return d, nil
	}
	st, ok := w.states[name]
	if !ok {
		return 0, fmt.Errorf("state %q (reached from %q) does not exist", name, via)
	}
	if w.onPath[name] {
		return 0, fmt.Errorf("states loop through %q without a marking task: the row may stay unmarked without bound", name)
	}
	w.onPath[name] = true
	defer delete(w.onPath, name)

	own, err := w.own(name, st)
	if err != nil {
		return 0, err
	}
	next := st.successors()
	switch {
	case w.stopAtMarks && isMarking(st):
		next = nil // a marking task ends the span
	case st.Type == "Map" && st.ItemProcessor.distributed():
		w.memo[name] = own // the file's work goes on in its child: own counts it
		return own, nil
	case len(next) == 0:
		w.memo[name] = own + w.atEnd
		return own + w.atEnd, nil
	}
	longest := 0.0
	for _, n := range next {
		d, err := w.from(n, name)
		if err != nil {
			return 0, err
		}
		longest = max(longest, d)
	}
	w.memo[name] = own + longest
	return own + longest, nil
}

// own is the longest state name itself takes, in seconds: a Task its
// taskWorst, a Wait its Seconds, an inline Map its rounds of its
// ItemProcessor's longest path, a Distributed Map one child's longest path
// (from its start to its first mark when stopAtMarks), the others nothing.
func (w *spanWalker) own(name string, st aslState) (float64, error) {
	switch st.Type {
	case "Task":
		return taskWorst(name, st)
	case "Wait":
		switch {
		case st.Seconds != nil:
			return *st.Seconds, nil
		case st.SecondsPath != "" && w.pathWait > 0:
			return w.pathWait, nil
		}
		return 0, fmt.Errorf("wait state %q has no Seconds: its wait has no bound here", name)
	case "Map":
		if name == ExpressLaneMap && w.laneOwn > 0 {
			return w.laneOwn, nil
		}
		return w.mapWorst(name, st)
	case "Parallel":
		return 0, fmt.Errorf("state %q: Parallel states are not counted", name)
	default:
		return 0, nil
	}
}

// mapWorst is own for a Map state.
func (w *spanWalker) mapWorst(name string, st aslState) (float64, error) {
	if st.ItemProcessor == nil {
		return 0, fmt.Errorf("map state %q has no ItemProcessor", name)
	}
	inner := newSpanWalker(*st.ItemProcessor, w.stopAtMarks, 0, 0)
	per, err := inner.from(st.ItemProcessor.StartAt, name)
	if err != nil {
		return 0, fmt.Errorf("map state %q: %w", name, err)
	}
	if st.ItemProcessor.distributed() {
		return per, nil
	}
	if w.items == 0 {
		return 0, fmt.Errorf("inline map state %q: how many items it gets is unknown", name)
	}
	return float64(mapRounds(st, w.items, MaxInlineMapConcurrency)) * per, nil
}

// ThrottlingErrors are the errors of a Lambda invocation that Lambda refused
// before running the function: Step Functions reports Lambda's
// TooManyRequestsException as Lambda.TooManyRequestsException.
var ThrottlingErrors = []string{"Lambda.TooManyRequestsException"}

// taskWorst is the longest, in seconds, a task can take: every attempt its
// retriers allow, every retry waiting its full (capped) backoff, and every
// attempt running until TimeoutSeconds except those that fail by throttling.
//
// A throttled invocation does not run. Lambda refuses a synchronous Invoke
// beyond the function's reserved or the account's concurrency, or beyond an
// invocation rate, at once with TooManyRequestsException, HTTP 429 (Invoke
// API reference, https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html;
// its reasons, ConcurrentInvocationLimitExceeded,
// ReservedFunctionConcurrentInvocationLimitExceeded, ...:
// https://docs.aws.amazon.com/botocore/latest/reference/services/lambda/client/exceptions/TooManyRequestsException.html;
// "Synchronous requests arriving in excess of the reserved concurrency limit
// will fail with a throttling error", https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html
// and https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html),
// and Step Functions reports it as Lambda.TooManyRequestsException ("When
// Lambda hits the maximum number of invocations",
// https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html).
// Our functions cannot raise that name themselves: a function error is
// named by its Go type, which has no dot.
//
// So the count stays an upper bound: each attempt that runs and fails is
// followed by a retry of a retrier that matches its error. A retrier whose
// ErrorEquals are all ThrottlingErrors retries only attempts that did not
// run, so its MaxAttempts add their waits but no TimeoutSeconds; every
// other retrier (one that lists throttling with other errors included, or
// States.ALL) counts its attempts as running, as does the first attempt
// (or the last, which the Catch takes). The milliseconds a refused call
// takes are not counted: the grace's headroom covers them
// (reconcile.DefaultGraceMinutes).
func taskWorst(name string, st aslState) (float64, error) {
	if st.TimeoutSeconds == nil || *st.TimeoutSeconds <= 0 {
		return 0, fmt.Errorf("task %q has no TimeoutSeconds: its attempts have no bound", name)
	}
	running, waits := 1, 0.0
	for _, r := range st.Retry {
		interval, maxAttempts, rate := 1.0, 3, 2.0
		if r.IntervalSeconds != nil {
			interval = *r.IntervalSeconds
		}
		if r.MaxAttempts != nil {
			maxAttempts = *r.MaxAttempts
		}
		if r.BackoffRate != nil {
			rate = *r.BackoffRate
		}
		if !throttlingOnly(r) {
			running += maxAttempts
		}
		pause := interval
		for range maxAttempts {
			if r.MaxDelaySeconds != nil {
				pause = min(pause, *r.MaxDelaySeconds)
			}
			waits += pause
			pause *= rate
		}
	}
	return float64(running)*(*st.TimeoutSeconds) + waits, nil
}

// throttlingOnly reports whether r retries nothing but ThrottlingErrors.
func throttlingOnly(r aslRetrier) bool {
	if len(r.ErrorEquals) == 0 {
		return false
	}
	for _, e := range r.ErrorEquals {
		if !slices.Contains(ThrottlingErrors, e) {
			return false
		}
	}
	return true
}
