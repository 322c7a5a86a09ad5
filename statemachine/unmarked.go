package statemachine

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"
)

// MarkingOperations are the request-status operations that mark a file's
// request_status row as picked up (last_update_time = now() on the
// 'inprogress' row): "Find open job" when it finds the job, "Mark copy
// resumed" each time a copy resumes. The reconcile sweep counts its grace
// from that mark (docs/reconcile.md).
var MarkingOperations = []string{"find_open_job", "mark_picked_up"}

// MaxUnmarked returns the longest time the workflow, rendered with s, can
// leave a file's row unmarked while its execution still works on it: the
// reconcile sweep's grace must be at least this long, or a sweep may start
// a second execution for a file whose execution is only throttled, retrying
// the database or resuming a large copy. Function ARNs missing from s are
// filled with stand-ins (they do not change the figure). See
// UnmarkedBound for how it is counted.
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

// aslState is what UnmarkedBound reads of a state.
type aslState struct {
	Type           string         `json:"Type"`
	TimeoutSeconds *float64       `json:"TimeoutSeconds"`
	Parameters     map[string]any `json:"Parameters"`
	Retry          []aslRetrier   `json:"Retry"`
	Catch          []struct {
		Next string `json:"Next"`
	} `json:"Catch"`
	Next    string `json:"Next"`
	End     bool   `json:"End"`
	Choices []struct {
		Next string `json:"Next"`
	} `json:"Choices"`
	Default       string        `json:"Default"`
	ItemProcessor *aslStateList `json:"ItemProcessor"`
}

type aslStateList struct {
	StartAt string              `json:"StartAt"`
	States  map[string]aslState `json:"States"`
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

// UnmarkedBound returns, for a rendered definition, the longest time between
// the end of a marking task (a Task whose Parameters.operation is one of
// MarkingOperations) and the end of the next marking task or of the file's
// iteration (its outcome recorded, or given up): the longest path through
// the Map's states, over Next, Choice and Catch edges, where
//
//   - a task makes every attempt its retriers allow, 1 + the sum of their
//     MaxAttempts (each retrier counts its own),
//   - every attempt runs until its TimeoutSeconds, except the attempts a
//     retrier of throttling alone (ThrottlingErrors) retries: Lambda refused
//     the invocation before it ran (taskWorst), and
//   - every retry waits its full backoff, IntervalSeconds * BackoffRate^n
//     capped at MaxDelaySeconds (full jitter only ever waits less).
//
// A span ends when a marking task ends. The bound assumes the mark
// succeeds: a mark that fails after all its retries (the database
// unavailable for hours; request-status logs and meters every failed call,
// and the iteration keeps the caught error as mark_error) leaves the row
// with its previous mark, and the copy goes on. The time before an
// execution's first mark is not counted: until "Find open job" finds the
// row, no execution has picked it up. A cycle without a marking task is an
// error: the span would have no bound.
func UnmarkedBound(definition []byte) (time.Duration, error) {
	var doc aslStateList
	if err := json.Unmarshal(definition, &doc); err != nil {
		return 0, fmt.Errorf("unmarked bound: read definition: %w", err)
	}
	var (
		worst float64
		found bool
		errs  []error
	)
	var visit func(states aslStateList)
	visit = func(states aslStateList) {
		names := make([]string, 0, len(states.States))
		for name := range states.States {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			st := states.States[name]
			if st.ItemProcessor != nil {
				visit(*st.ItemProcessor)
			}
			if !isMarking(st) {
				continue
			}
			found = true
			w := &spanWalker{states: states.States, onPath: map[string]bool{}, memo: map[string]float64{}}
			d, err := w.after(name, st)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			worst = max(worst, d)
		}
	}
	visit(doc)
	if err := errors.Join(errs...); err != nil {
		return 0, fmt.Errorf("unmarked bound: %w", err)
	}
	if !found {
		return 0, fmt.Errorf("unmarked bound: no task marks the row (Parameters.operation one of %s)", strings.Join(MarkingOperations, ", "))
	}
	return time.Duration(math.Ceil(worst)) * time.Second, nil
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

// spanWalker finds the longest unmarked span within one list of states.
type spanWalker struct {
	states map[string]aslState
	onPath map[string]bool
	memo   map[string]float64
}

// after is the longest span, in seconds, from the end of state name's
// successful run (st marks when it succeeds) to the next mark or the end.
func (w *spanWalker) after(name string, st aslState) (float64, error) {
	if st.End || st.Next == "" {
		return 0, nil
	}
	return w.from(st.Next, name)
}

// from is the longest span, in seconds, from the start of state name to the
// end of the next marking task or of the iteration.
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

	own := 0.0
	if st.Type == "Task" {
		var err error
		if own, err = taskWorst(name, st); err != nil {
			return 0, err
		}
	}
	// Where the path goes on from here: a marking task ends the span.
	var next []string
	if !isMarking(st) {
		next = st.successors()
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
