package statemachine

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.json from the current output")

// The ASL as the tests read it back.
type (
	definitionDoc struct {
		StartAt string           `json:"StartAt"`
		States  map[string]state `json:"States"`
	}
	state struct {
		Type           string         `json:"Type"`
		Comment        string         `json:"Comment"`
		Resource       string         `json:"Resource"`
		TimeoutSeconds *int           `json:"TimeoutSeconds"`
		Parameters     map[string]any `json:"Parameters"`
		ResultSelector map[string]any `json:"ResultSelector"`
		ResultPath     *string        `json:"ResultPath"`
		MaxConcurrency *int           `json:"MaxConcurrency"`
		Retry          []retrier      `json:"Retry"`
		Catch          []catcher      `json:"Catch"`
		Next           string         `json:"Next"`
		End            bool           `json:"End"`
		ItemProcessor  *definitionDoc `json:"ItemProcessor"`
		ItemSelector   map[string]any `json:"ItemSelector"`
		Choices        []choiceRule   `json:"Choices"`
		Default        string         `json:"Default"`
	}
	choiceRule struct {
		Variable      string `json:"Variable"`
		BooleanEquals *bool  `json:"BooleanEquals"`
		Next          string `json:"Next"`
	}
	retrier struct {
		ErrorEquals     []string `json:"ErrorEquals"`
		IntervalSeconds int      `json:"IntervalSeconds"`
		MaxAttempts     int      `json:"MaxAttempts"`
		BackoffRate     float64  `json:"BackoffRate"`
		MaxDelaySeconds int      `json:"MaxDelaySeconds"`
		JitterStrategy  string   `json:"JitterStrategy"`
	}
	catcher struct {
		ErrorEquals []string `json:"ErrorEquals"`
		ResultPath  string   `json:"ResultPath"`
		Next        string   `json:"Next"`
	}
)

const (
	parseARN       = "arn:aws:lambda:us-east-1:123456789012:function:parse-event"
	statusARN      = "arn:aws:lambda:us-east-1:123456789012:function:request-status"
	copyARN        = "arn:aws:lambda:us-east-1:123456789012:function:copy-file"
	copyExpressARN = "arn:aws:lambda:us-east-1:123456789012:function:copy-file-express"
	aggARN         = "arn:aws:lambda:us-east-1:123456789012:function:aggregate"
)

func withARNs(s Settings) Settings {
	s.FunctionARNs = map[string]string{}
	for _, f := range Functions {
		s.FunctionARNs[f.Name] = "arn:aws:lambda:us-east-1:123456789012:function:" + f.Name
	}
	return s
}

func renderDoc(t *testing.T, s Settings) definitionDoc {
	t.Helper()
	out, err := Render(s)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	var doc definitionDoc
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatalf("rendered definition does not read back: %v", err)
	}
	return doc
}

// allStates flattens the top-level states and the Map's iteration states.
func allStates(doc definitionDoc) map[string]state {
	all := map[string]state{}
	for name, st := range doc.States {
		all[name] = st
		if st.ItemProcessor != nil {
			for inner, ist := range allStates(*st.ItemProcessor) {
				all[inner] = ist
			}
		}
	}
	return all
}

// lambdaFaults are the Lambda service faults AWS recommends retrying
// (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html),
// plus the throttle, which every task retries on its own retrier.
var lambdaFaults = []string{
	"Lambda.ClientExecutionTimeoutException",
	"Lambda.ServiceException",
	"Lambda.AWSLambdaException",
	"Lambda.SdkClientException",
	"Lambda.TooManyRequestsException",
}

// functionTimeoutErrors are the names a Lambda function's own timeout
// reaches a state machine by: Sandbox.Timedout today (Lambda's
// troubleshooting page, "Function times out during Init phase
// (Sandbox.Timedout)",
// https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts),
// Lambda.Unknown from older runtimes and for an out-of-memory kill. "Copy
// file" retries both: a copy that overran its invocation is worth another.
var functionTimeoutErrors = []string{"Lambda.Unknown", "Sandbox.Timedout"}

var lambdaFaultRetrier = retrier{
	ErrorEquals:     []string{"Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"},
	IntervalSeconds: 1, MaxAttempts: 3, BackoffRate: 2, MaxDelaySeconds: 10, JitterStrategy: "FULL",
}

// Every task retries Lambda.TooManyRequestsException on its own, longer
// retrier: the account's unreserved concurrency may be taken by long copies
// (or a function's reserved concurrency reached) for minutes, and a task
// that gave up would reject the event (Read restored files), record a
// copied file as failed (the status tasks) or fail an execution whose files
// were copied (Report results).
var throttleRetrier = retrier{
	ErrorEquals: []string{"Lambda.TooManyRequestsException"}, IntervalSeconds: 2, MaxAttempts: 100, BackoffRate: 2, MaxDelaySeconds: 300, JitterStrategy: "FULL",
}

// The Express child's tasks retry briefly, whatever the settings: a file
// still failing hands over to the Standard lane, whose retriers are the
// long ones above, and the child stays within ExpressBudget.
var (
	expressDatabaseRetrier = retrier{
		ErrorEquals: []string{"DatabaseUnavailableError"}, IntervalSeconds: 1, MaxAttempts: 1, BackoffRate: 2, MaxDelaySeconds: 2, JitterStrategy: "FULL",
	}
	expressThrottleRetrier = retrier{
		ErrorEquals: []string{"Lambda.TooManyRequestsException"}, IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 2, MaxDelaySeconds: 4, JitterStrategy: "FULL",
	}
	expressFaultRetrier = retrier{
		ErrorEquals:     lambdaFaultRetrier.ErrorEquals,
		IntervalSeconds: 1, MaxAttempts: 1, BackoffRate: 2, MaxDelaySeconds: 2, JitterStrategy: "FULL",
	}
	expressCopyRetrier = retrier{
		ErrorEquals:     append([]string{"TransientCopyError"}, lambdaFaultRetrier.ErrorEquals...),
		IntervalSeconds: 1, MaxAttempts: 1, BackoffRate: 2, MaxDelaySeconds: 2, JitterStrategy: "FULL",
	}
	// handedOver are the errors after which "Copy file (Express)" gives the
	// file to the Standard lane: all but a permanent failure.
	handedOver = []string{"TransientCopyError", "Lambda.TooManyRequestsException", "Lambda.Unknown", "Sandbox.Timedout", "States.Timeout",
		"Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"}
)

func TestRenderRetryAndCatch(t *testing.T) {
	custom := DefaultSettings()
	custom.CopyRetries = 5
	custom.CopyRetrySleepSecs = 7
	custom.CopyRetryBackoffRate = 1.5
	custom.CopyRetryMaxDelaySecs = 120
	custom.DatabaseRetries = 2
	custom.DatabaseRetryIntervalSecs = 3
	custom.DatabaseRetryBackoffRate = 3
	custom.DatabaseRetryMaxDelaySecs = 9

	onlyOnce := DefaultSettings()
	onlyOnce.CopyRetries = 1

	tests := []struct {
		name      string
		settings  Settings
		wantCopy  retrier
		wantDBTry retrier
	}{
		{
			name:      "defaults: 3 copy attempts, sleep 0 becomes interval 1; the database retried for hours",
			settings:  DefaultSettings(),
			wantCopy:  retrier{IntervalSeconds: 1, MaxAttempts: 2, BackoffRate: 2, MaxDelaySeconds: 60},
			wantDBTry: retrier{IntervalSeconds: 2, MaxAttempts: 99, BackoffRate: 2, MaxDelaySeconds: 120},
		},
		{
			name:      "custom settings reach the retriers",
			settings:  custom,
			wantCopy:  retrier{IntervalSeconds: 7, MaxAttempts: 4, BackoffRate: 1.5, MaxDelaySeconds: 120},
			wantDBTry: retrier{IntervalSeconds: 3, MaxAttempts: 1, BackoffRate: 3, MaxDelaySeconds: 9},
		},
		{
			name:      "COPY_RETRIES=1 means one attempt, no retry",
			settings:  onlyOnce,
			wantCopy:  retrier{IntervalSeconds: 1, MaxAttempts: 0, BackoffRate: 2, MaxDelaySeconds: 60},
			wantDBTry: retrier{IntervalSeconds: 2, MaxAttempts: 99, BackoffRate: 2, MaxDelaySeconds: 120},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			states := allStates(renderDoc(t, withARNs(tc.settings)))

			copyRetrier := tc.wantCopy
			copyRetrier.ErrorEquals = append([]string{"TransientCopyError"}, append(lambdaFaultRetrier.ErrorEquals, functionTimeoutErrors...)...)
			copyRetrier.JitterStrategy = "FULL"
			dbRetrier := tc.wantDBTry
			dbRetrier.ErrorEquals = []string{"DatabaseUnavailableError"}
			dbRetrier.JitterStrategy = "FULL"

			want := map[string]struct {
				retry []retrier
				catch []catcher
			}{
				"Read restored files": {
					retry: []retrier{throttleRetrier, lambdaFaultRetrier},
					catch: []catcher{
						// No ResultPath: it defaults to "$", the error replaces
						// the input. An input that is not an object (e.g. [1,2])
						// cannot take "$.event_error" and would end the
						// execution with States.ResultPathMatchFailure instead
						// of the report; an explicit "$" is mishandled by
						// aws-local-stepfunctions 3.0.0 (it fails the same way).
						// InvalidEventError needs no catcher of its own:
						// States.ALL sends it to the same state.
						{ErrorEquals: []string{"States.ALL"}, Next: "Event rejected"},
					},
				},
				"Find open job": {
					retry: []retrier{dbRetrier, throttleRetrier, lambdaFaultRetrier},
					catch: []catcher{{ErrorEquals: []string{"States.ALL"}, ResultPath: "$.lookup_error", Next: "Job lookup failed"}},
				},
				"Copy file": {
					retry: []retrier{copyRetrier, throttleRetrier},
					catch: []catcher{{ErrorEquals: []string{"States.ALL"}, ResultPath: "$.copy_error", Next: "Record copy error"}},
				},
				// Copy file on copy-file-express: the same retriers and catcher.
				"Copy small file": {
					retry: []retrier{copyRetrier, throttleRetrier},
					catch: []catcher{{ErrorEquals: []string{"States.ALL"}, ResultPath: "$.copy_error", Next: "Record copy error"}},
				},
				"Mark copy resumed": {
					// A mark is best effort: a failed one resumes the copy.
					retry: []retrier{dbRetrier, throttleRetrier, lambdaFaultRetrier},
					catch: []catcher{{ErrorEquals: []string{"States.ALL"}, ResultPath: "$.mark_error", Next: "Copy file"}},
				},
				"Record copy complete": {
					retry: []retrier{dbRetrier, throttleRetrier, lambdaFaultRetrier},
					catch: []catcher{{ErrorEquals: []string{"States.ALL"}, ResultPath: "$.record_error", Next: "Status not recorded"}},
				},
				"Record copy error": {
					retry: []retrier{dbRetrier, throttleRetrier, lambdaFaultRetrier},
					catch: []catcher{{ErrorEquals: []string{"States.ALL"}, ResultPath: "$.record_error", Next: "Status not recorded"}},
				},
				"Report results": {
					retry: []retrier{throttleRetrier, lambdaFaultRetrier},
				},
				"Sort results": {
					retry: []retrier{throttleRetrier, lambdaFaultRetrier},
				},
				"Find open jobs": {
					retry: []retrier{expressDatabaseRetrier, expressThrottleRetrier, expressFaultRetrier},
					catch: []catcher{{ErrorEquals: []string{"States.ALL"}, ResultPath: "$.lookup_error", Next: "Hand the chunk over"}},
				},
				"Copy file (Express)": {
					retry: []retrier{expressCopyRetrier, expressThrottleRetrier},
					catch: []catcher{
						{ErrorEquals: handedOver, ResultPath: "$.handover_error", Next: "Hand over to the Standard lane"},
						{ErrorEquals: []string{"States.ALL"}, ResultPath: "$.copy_error", Next: "Record copy error (Express)"},
					},
				},
				"Record copy complete (Express)": {
					retry: []retrier{expressDatabaseRetrier, expressThrottleRetrier, expressFaultRetrier},
					catch: []catcher{{ErrorEquals: []string{"States.ALL"}, ResultPath: "$.record_error", Next: "Hand over to the Standard lane"}},
				},
				"Record copy error (Express)": {
					retry: []retrier{expressDatabaseRetrier, expressThrottleRetrier, expressFaultRetrier},
					catch: []catcher{{ErrorEquals: []string{"States.ALL"}, ResultPath: "$.record_error", Next: "Hand over to the Standard lane"}},
				},
			}
			for name, w := range want {
				st, ok := states[name]
				if !ok {
					t.Errorf("state %q is missing", name)
					continue
				}
				if diff := cmp.Diff(w.retry, st.Retry); diff != "" {
					t.Errorf("%s Retry (-want +got):\n%s", name, diff)
				}
				if diff := cmp.Diff(w.catch, st.Catch); diff != "" {
					t.Errorf("%s Catch (-want +got):\n%s", name, diff)
				}
			}
			for name, st := range states {
				if _, ok := want[name]; !ok && st.Type == "Task" {
					t.Errorf("task %q has no expectation in this test", name)
				}
			}
		})
	}
}

// TestEveryTaskRetriesLambdaFaults: whatever retrier handles it, no task
// lets a Lambda service fault or throttle go to its Catch unretried.
func TestEveryTaskRetriesLambdaFaults(t *testing.T) {
	for name, st := range allStates(renderDoc(t, withARNs(DefaultSettings()))) {
		if st.Type != "Task" {
			continue
		}
		retried := map[string]bool{}
		for _, r := range st.Retry {
			if r.MaxAttempts == 0 {
				continue
			}
			for _, e := range r.ErrorEquals {
				retried[e] = true
			}
		}
		for _, e := range lambdaFaults {
			if !retried[e] {
				t.Errorf("%s does not retry %s", name, e)
			}
		}
	}
}

// TestEveryTaskSurvivesThrottlingAsLongAsTheStatusTasks: the retrier that
// handles Lambda.TooManyRequestsException is the same on every task of a
// Standard execution (the parent and the Standard lane), so no task gives
// up on a throttled function sooner than the status tasks do. The Express
// child's tasks share a short one instead: a file they give up on is handed
// over to the Standard lane, not failed.
func TestEveryTaskSurvivesThrottlingAsLongAsTheStatusTasks(t *testing.T) {
	doc := renderDoc(t, withARNs(DefaultSettings()))
	express := allStates(*doc.States[ExpressLaneMap].ItemProcessor)
	for name, st := range allStates(doc) {
		if st.Type != "Task" {
			continue
		}
		var got *retrier
		for i, r := range st.Retry {
			if slices.Contains(r.ErrorEquals, "Lambda.TooManyRequestsException") {
				got = &st.Retry[i]
				break
			}
		}
		if got == nil {
			t.Errorf("%s does not retry Lambda.TooManyRequestsException", name)
			continue
		}
		want := throttleRetrier
		if _, ok := express[name]; ok {
			want = expressThrottleRetrier
		}
		if diff := cmp.Diff(want, *got); diff != "" {
			t.Errorf("%s throttle retrier (-want +got):\n%s", name, diff)
		}
	}
}

// TestPermanentErrorsAreNotRetried: a PermanentCopyError, NoOpenJobError or
// StatusUpdateError must go straight to the Catch.
func TestPermanentErrorsAreNotRetried(t *testing.T) {
	states := allStates(renderDoc(t, withARNs(DefaultSettings())))
	for name, st := range states {
		for _, r := range st.Retry {
			for _, e := range r.ErrorEquals {
				switch e {
				case contract.PermanentCopyError, contract.NoOpenJobError, contract.StatusUpdateError, contract.InvalidEventError, contract.CopyRequestError, "States.ALL", "States.TaskFailed":
					t.Errorf("%s retries %s", name, e)
				}
			}
		}
	}
}

// TestStatesAllAloneAndLast checks the ASL rule for every Retry and Catch
// list of every state.
func TestStatesAllAloneAndLast(t *testing.T) {
	states := allStates(renderDoc(t, withARNs(DefaultSettings())))
	check := func(where string, lists [][]string) {
		for i, errs := range lists {
			for _, e := range errs {
				if e == "States.ALL" && (len(errs) != 1 || i != len(lists)-1) {
					t.Errorf("%s: States.ALL must stand alone in the last entry, got %v at entry %d of %d", where, errs, i+1, len(lists))
				}
			}
		}
	}
	for name, st := range states {
		var retries, catches [][]string
		for _, r := range st.Retry {
			retries = append(retries, r.ErrorEquals)
		}
		for _, c := range st.Catch {
			catches = append(catches, c.ErrorEquals)
		}
		check(name+" Retry", retries)
		check(name+" Catch", catches)
	}
}

// TestNoCatcherShadowedByStatesALL: a catcher followed by a States.ALL
// catcher with the same Next and ResultPath routes nothing differently, so
// it only misleads a reader into thinking its errors are handled apart.
func TestNoCatcherShadowedByStatesALL(t *testing.T) {
	for name, st := range allStates(renderDoc(t, withARNs(DefaultSettings()))) {
		if len(st.Catch) == 0 {
			continue
		}
		last := st.Catch[len(st.Catch)-1]
		if !slices.Equal(last.ErrorEquals, []string{"States.ALL"}) {
			continue
		}
		for _, c := range st.Catch[:len(st.Catch)-1] {
			if c.Next == last.Next && c.ResultPath == last.ResultPath {
				t.Errorf("%s: catcher %v does what the States.ALL catcher after it does (Next %q): drop it", name, c.ErrorEquals, c.Next)
			}
		}
	}
}

// sentenceEnd ends a sentence: a full stop, question or exclamation mark
// followed by a space or the end ("$.copy", "e.g" inside a word do not).
var sentenceEnd = regexp.MustCompile(`[.?!](\s|$)`)

// TestCommentsAreShort: each Comment (the definition's and every state's)
// says what happens in one or two sentences; the reasons go to
// docs/workflow.md.
func TestCommentsAreShort(t *testing.T) {
	var doc struct {
		Comment string `json:"Comment"`
	}
	if err := json.Unmarshal(definition, &doc); err != nil {
		t.Fatal(err)
	}
	comments := map[string]string{"the definition": doc.Comment}
	for name, st := range allStates(renderDoc(t, withARNs(DefaultSettings()))) {
		comments["state "+name] = st.Comment
	}
	for where, c := range comments {
		if strings.TrimSpace(c) == "" {
			t.Errorf("%s has no Comment", where)
			continue
		}
		if n := len(sentenceEnd.FindAllString(c, -1)); n > 2 {
			t.Errorf("%s: Comment has %d sentences, want at most 2 (move the reasoning to docs/workflow.md): %q", where, n, c)
		}
	}
}

func TestRenderTimeoutsResourcesAndConcurrency(t *testing.T) {
	s := withARNs(DefaultSettings())
	s.CopyTaskTimeoutSecs = 1000
	s.TaskTimeoutSecs = 45
	s.MapMaxConcurrency = 7
	s.ChunkFiles = 25
	s.ChunkMapMaxConcurrency = 300
	doc := renderDoc(t, s)
	states := allStates(doc)

	type task struct {
		Resource string
		Timeout  int
	}
	want := map[string]task{
		"Read restored files": {parseARN, 45},
		"Find open job":       {statusARN, 45},
		"Copy file":           {copyARN, 1000},
		// A small file's first copy in the Standard lane: copy-file's
		// code at copy-file-express's memory, Copy file's timeout.
		"Copy small file":      {copyExpressARN, 1000},
		"Mark copy resumed":    {statusARN, 45},
		"Record copy complete": {statusARN, 45},
		"Record copy error":    {statusARN, 45},
		"Report results":       {aggARN, 45},
		"Sort results":         {aggARN, 45},
		// The Express lane's timeouts are fixed: ExpressBound holds them.
		"Find open jobs": {statusARN, ExpressTaskTimeoutSecs},
		// The Express lane's copy runs copy-file's code at its own memory.
		"Copy file (Express)":            {copyExpressARN, ExpressCopyTaskTimeoutSecs},
		"Record copy complete (Express)": {statusARN, ExpressTaskTimeoutSecs},
		"Record copy error (Express)":    {statusARN, ExpressTaskTimeoutSecs},
	}
	got := map[string]task{}
	for name, st := range states {
		if st.Type != "Task" {
			continue
		}
		if st.TimeoutSeconds == nil {
			t.Errorf("task %q has no TimeoutSeconds", name)
			continue
		}
		got[name] = task{st.Resource, *st.TimeoutSeconds}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("tasks (-want +got):\n%s", diff)
	}
	for name, want := range map[string]int{StandardLaneMap: 7, ExpressLaneMap: 300, "Copy each file of the chunk": 25} {
		if m := states[name]; m.MaxConcurrency == nil || *m.MaxConcurrency != want {
			t.Errorf("%s MaxConcurrency = %v, want %d", name, m.MaxConcurrency, want)
		}
	}
	for name, list := range map[string]string{"Read restored files": "$.files", SortResultsState: "$.deferred"} {
		want := "States.ArrayPartition(" + list + ", 25)"
		if got := doc.States[name].ResultSelector["chunks.$"]; got != want {
			t.Errorf("%s: ResultSelector chunks.$ = %v, want %s", name, got, want)
		}
	}
}

// TestRenderParameters pins the documents the states hand the Lambdas: the
// contract of shared/contract.
func TestRenderParameters(t *testing.T) {
	states := allStates(renderDoc(t, withARNs(DefaultSettings())))
	want := map[string]map[string]any{
		"Find open job": {"operation": "find_open_job", "source_key.$": "$.file.source_key"},
		"Copy file": {
			"source_bucket.$": "$.file.source_bucket",
			"source_key.$":    "$.file.source_key",
			"size.$":          "$.file.size",
			"version_id.$":    "$.file.version_id",
			"etag.$":          "$.file.etag",
			"target_bucket.$": "$.job.target_bucket",
			// the resume token
			"upload_id.$":         "$.copy.upload_id",
			"source_etag.$":       "$.copy.source_etag",
			"source_version_id.$": "$.copy.source_version_id",
			"part_size.$":         "$.copy.part_size",
			"passes.$":            "$.copy.passes",
			"elapsed_ms.$":        "$.copy.elapsed_ms",
			"retry_count.$":       "$$.State.RetryCount",
			"max_retries":         float64(2),
			// a copy an Express invocation that timed out may have made
			// is not made again (the Express lane does not check: two S3
			// requests a copy)
			"check_archive": true,
		},
		"Mark copy resumed":    {"operation": "mark_picked_up", "request_id.$": "$.job.request_id", "source_key.$": "$.file.source_key"},
		"Record copy complete": {"operation": "record_outcome", "request_id.$": "$.job.request_id", "source_key.$": "$.file.source_key"},
		"Record copy error": {
			"operation": "record_outcome", "request_id.$": "$.job.request_id", "source_key.$": "$.file.source_key",
			"copy_error.$": "$.copy_error", "file.$": "$.file",
		},
		"Event rejected": {"event_error.$": "$"},
		"Find open jobs": {"operation": "find_open_jobs", "files.$": "$.files"},
		"Copy file (Express)": {
			"source_bucket.$": "$.file.source_bucket",
			"source_key.$":    "$.file.source_key",
			"size.$":          "$.file.size",
			"version_id.$":    "$.file.version_id",
			"etag.$":          "$.file.etag",
			"target_bucket.$": "$.job.target_bucket",
			// the resume token, empty: the Express lane starts every copy
			"upload_id.$":         "$.copy.upload_id",
			"source_etag.$":       "$.copy.source_etag",
			"source_version_id.$": "$.copy.source_version_id",
			"part_size.$":         "$.copy.part_size",
			"passes.$":            "$.copy.passes",
			"elapsed_ms.$":        "$.copy.elapsed_ms",
			"time_budget_secs":    float64(ExpressCopyBudgetSecs),
		},
		"Record copy complete (Express)": {"operation": "record_outcome", "request_id.$": "$.job.request_id", "source_key.$": "$.file.source_key"},
		"Record copy error (Express)": {
			"operation": "record_outcome", "request_id.$": "$.job.request_id", "source_key.$": "$.file.source_key",
			"copy_error.$": "$.copy_error", "file.$": "$.file",
		},
		"Sort results": {"operation": contract.OperationSort, "chunks.$": "$.chunks", "rejected.$": "$.rejected", "chunk_results.$": "$.chunk_results",
			"done.$": "$.done", "standard.$": "$.standard", "round.$": "$.round", "max_rounds": float64(DeferMaxRounds),
			"wait_base_secs": float64(DeferWaitBaseSecs), "wait_cap_secs": float64(DeferWaitCapSecs)},
	}
	// A small file's first copy in the Standard lane sends what Copy file
	// sends (check_archive and max_retries included), to copy-file-express.
	want["Copy small file"] = want["Copy file"]
	for name, w := range want {
		if diff := cmp.Diff(w, states[name].Parameters); diff != "" {
			t.Errorf("%s Parameters (-want +got):\n%s", name, diff)
		}
	}
	// The chunks are cut in the tasks' ResultSelectors (no Pass state of
	// their own: each state entered is a transition).
	selectors := map[string]map[string]any{
		"Read restored files": {"rejected.$": "$.rejected", "chunks.$": "States.ArrayPartition($.files, 40)",
			"done": []any{}, "standard": []any{}, "round": float64(0)},
		SortResultsState: {"rejected.$": "$.rejected", "chunks.$": "States.ArrayPartition($.deferred, 40)",
			"done.$": "$.done", "standard.$": "$.standard", "round.$": "$.round", "wait_secs.$": "$.wait_secs"},
	}
	for name, st := range states {
		if diff := cmp.Diff(selectors[name], st.ResultSelector); diff != "" {
			t.Errorf("%s ResultSelector (-want +got):\n%s", name, diff)
		}
	}
	resultPaths := map[string]string{"Find open job": "$.job", "Copy file": "$.copy", "Copy small file": "$.copy", "Mark copy resumed": "$.marked", "Record copy complete": "$.recorded", "Record copy error": "$.recorded"}
	for name, w := range resultPaths {
		if got := states[name].ResultPath; got == nil || *got != w {
			t.Errorf("%s ResultPath = %v, want %s", name, got, w)
		}
	}
}

// TestCopyKnowsItsLastAttempt pins that "Copy file" hands the copier
// $$.State.RetryCount (AWS's Context object:
// https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html)
// and, as max_retries, the MaxAttempts of the retrier of TransientCopyError
// (the failures that keep an upload), whatever COPY_RETRIES is, so the
// copier knows when no retry follows. RetryCount counts the retries of
// every retrier of the state (the throttling one too), so it reaches
// max_retries no later than the TransientCopyError retrier runs out.
func TestCopyKnowsItsLastAttempt(t *testing.T) {
	for _, retries := range []int{1, 3, 7} {
		s := withARNs(DefaultSettings())
		s.CopyRetries = retries
		states := allStates(renderDoc(t, s))
		for _, name := range []string{StandardCopyState, StandardSmallCopyState} {
			st := states[name]
			var transient *retrier
			for i, r := range st.Retry {
				if slices.Contains(r.ErrorEquals, "TransientCopyError") {
					transient = &st.Retry[i]
				}
			}
			if transient == nil {
				t.Fatalf("%s has no retrier for TransientCopyError", name)
			}
			if got := st.Parameters["max_retries"]; got != float64(transient.MaxAttempts) || got != float64(retries-1) {
				t.Errorf("%s, COPY_RETRIES=%d: max_retries = %v, TransientCopyError retrier's MaxAttempts = %d, want both %d", name, retries, got, transient.MaxAttempts, retries-1)
			}
			if got := st.Parameters["retry_count.$"]; got != "$$.State.RetryCount" {
				t.Errorf("%s: retry_count.$ = %v, want $$.State.RetryCount", name, got)
			}
		}
	}
}

// TestCopyLoopsUntilComplete pins the resumable copy's loop in the Standard
// lane: each child starts from the $.copy "Sort results" gives it (empty,
// or an Express copy's resume token: TestCopyPathsAlwaysPresent), "Find
// open job" goes to "Small copy?" (TestSmallCopyRoutes), "Copy small file"
// and "Copy file" go to the
// Choice, which sends an outcome with complete=false back to "Copy file"
// through "Mark copy resumed" (which keeps $.copy: its own result goes to
// $.marked, its caught error to $.mark_error) and any other to "Record copy
// complete".
func TestCopyLoopsUntilComplete(t *testing.T) {
	doc := renderDoc(t, withARNs(DefaultSettings()))
	states := allStates(doc)
	if got := states["Find open job"].Next; got != "Small copy?" {
		t.Errorf("Find open job's Next = %q, want Small copy?", got)
	}
	for _, name := range []string{StandardCopyState, StandardSmallCopyState} {
		if got := states[name].Next; got != "Copy finished?" {
			t.Errorf("%s's Next = %q, want the Choice", name, got)
		}
	}
	choice := states["Copy finished?"]
	no := false
	want := state{Type: "Choice", Choices: []choiceRule{{Variable: "$.copy.complete", BooleanEquals: &no, Next: "Mark copy resumed"}}, Default: "Record copy complete"}
	if diff := cmp.Diff(want, choice, cmpopts.IgnoreFields(state{}, "Comment")); diff != "" {
		t.Errorf("Copy finished? (-want +got):\n%s", diff)
	}
	if got := states["Mark copy resumed"].Next; got != "Copy file" {
		t.Errorf("Mark copy resumed's Next = %q, want Copy file", got)
	}
}

// The Express lane's copy is copy-file's code deployed again: its own name,
// placeholder and memory (ExpressCopyMemoryMB, below the Standard lane's
// whole vCPU), built from functions/copy-file, after copy-file in the list
// (the CDK app gives it copy-file's role and log group).
func TestExpressCopyFunctionIsCopyFilesCode(t *testing.T) {
	byName := map[string]int{}
	for i, f := range Functions {
		byName[f.Name] = i
	}
	std, express := Functions[byName[FunctionCopyFile]], Functions[byName[FunctionCopyFileExpress]]
	got := map[string]any{
		"folder": express.Folder(), "placeholder": express.ARNPlaceholder, "memory": express.MemoryMB,
		"standard folder": std.Folder(), "standard memory": std.MemoryMB, "after copy-file": byName[FunctionCopyFileExpress] > byName[FunctionCopyFile],
	}
	want := map[string]any{
		"folder": "copy-file", "placeholder": "CopyFileExpressFunctionArn", "memory": 128,
		"standard folder": "copy-file", "standard memory": 1769, "after copy-file": true,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("copy functions (-want +got):\n%s", diff)
	}
	if n := len(Folders()); n != len(Functions)-1 {
		t.Errorf("Folders() has %d folders for %d functions, want one less (two deployments of copy-file)", n, len(Functions))
	}
}

// TestEveryPlaceholderHasASetting: the definition and Settings.values name
// the same placeholders, so none is left unreplaced and no setting is lost.
func TestEveryPlaceholderHasASetting(t *testing.T) {
	inFile := map[string]bool{}
	for _, m := range placeholder.FindAllSubmatch(definition, -1) {
		inFile[string(m[1])] = true
	}
	inSettings := map[string]bool{}
	for k := range withARNs(DefaultSettings()).values() {
		inSettings[k] = true
	}
	if diff := cmp.Diff(inSettings, inFile); diff != "" {
		t.Errorf("placeholders (-settings +definition):\n%s", diff)
	}
	// A placeholder inside a longer string (States.ArrayPartition's chunk
	// size) is replaced only when its setting is an integer.
	vals := withARNs(DefaultSettings()).values()
	for _, m := range anyPlaceholder.FindAll(placeholder.ReplaceAll(definition, nil), -1) {
		if _, isInt := vals[string(m[2:len(m)-1])].(int); !isInt {
			t.Errorf("definition has placeholder %s inside a longer string, where Render replaces only integer settings", m)
		}
	}
	out, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	if left := regexp.MustCompile(`\$\{`).FindAll(out, -1); len(left) > 0 {
		t.Errorf("rendered definition still has %d placeholders", len(left))
	}
}

// TestRenderKeepsCDKTokens: CDK passes the function ARNs as tokens, which
// Render must carry through untouched for CDK to resolve.
func TestRenderKeepsCDKTokens(t *testing.T) {
	s := withARNs(DefaultSettings())
	s.FunctionARNs[FunctionCopyFile] = "${Token[TOKEN.123]}"
	out, err := Render(s)
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	if !bytes.Contains(out, []byte(`"Resource": "${Token[TOKEN.123]}"`)) {
		t.Errorf("token not carried into Copy file's Resource:\n%s", out)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Settings)
		want   []string // substrings of the error; none means valid
	}{
		{name: "defaults with ARNs are valid", change: func(*Settings) {}},
		{name: "missing ARN", change: func(s *Settings) { delete(s.FunctionARNs, FunctionCopyFile) }, want: []string{"the ARN of function copy-file is empty"}},
		{name: "zero concurrency", change: func(s *Settings) { s.MapMaxConcurrency = 0 }, want: []string{"mapMaxConcurrency = 0"}},
		{name: "concurrency above inline Map's 40", change: func(s *Settings) { s.MapMaxConcurrency = 41 }, want: []string{"mapMaxConcurrency = 41"}},
		{name: "no copy attempt", change: func(s *Settings) { s.CopyRetries = 0 }, want: []string{"copyRetries = 0"}},
		{name: "negative sleep", change: func(s *Settings) { s.CopyRetrySleepSecs = -1 }, want: []string{"copyRetrySleepSecs = -1"}},
		{name: "backoff below 1", change: func(s *Settings) { s.CopyRetryBackoffRate = 0.5 }, want: []string{"copyRetryBackoffRate = 0.5"}},
		{name: "max delay below interval", change: func(s *Settings) { s.CopyRetrySleepSecs = 90 }, want: []string{"copyRetryMaxDelaySecs = 60"}},
		{name: "zero timeout", change: func(s *Settings) { s.TaskTimeoutSecs = 0 }, want: []string{"taskTimeoutSecs = 0"}},
		{name: "copy task not above the copy Lambda's 900 s", change: func(s *Settings) { s.CopyTaskTimeoutSecs = CopyFunctionTimeoutSecs }, want: []string{"copyTaskTimeoutSecs = 900: must exceed the copy Lambda's timeout of 900 s"}},
		{name: "other tasks not above the Lambdas' 30 s", change: func(s *Settings) { s.TaskTimeoutSecs = FunctionTimeoutSecs }, want: []string{"taskTimeoutSecs = 30: must exceed the other Lambdas' timeout of 30 s"}},
		{name: "timeouts just above the Lambdas' are valid", change: func(s *Settings) {
			s.CopyTaskTimeoutSecs = CopyFunctionTimeoutSecs + 1
			s.TaskTimeoutSecs = FunctionTimeoutSecs + 1
		}},
		{name: "no file a chunk", change: func(s *Settings) { s.ChunkFiles = 0 }, want: []string{"chunkFiles = 0: must be between 1 and 40"}},
		// A child copies its whole chunk at once, and an inline Map runs 40.
		{name: "chunk above the inline Map's 40", change: func(s *Settings) { s.ChunkFiles = 41 }, want: []string{"chunkFiles = 41: must be between 1 and 40"}},
		{name: "no chunk at a time", change: func(s *Settings) { s.ChunkMapMaxConcurrency = 0 }, want: []string{"chunkMapMaxConcurrency = 0: must be between 1 and 10000"}},
		{name: "chunks above Distributed Map's 10,000", change: func(s *Settings) { s.ChunkMapMaxConcurrency = 10001 }, want: []string{"chunkMapMaxConcurrency = 10001"}},
		{name: "the most chunks at a time and a one-file chunk are valid", change: func(s *Settings) {
			s.ChunkMapMaxConcurrency = MaxDistributedMapConcurrency
			s.ChunkFiles = 1
		}},
		{name: "STANDARD children for moto are valid", change: func(s *Settings) { s.ChunkExecutionType = ExecutionTypeStandard }},
		{name: "unknown execution type", change: func(s *Settings) { s.ChunkExecutionType = "express" }, want: []string{`ChunkExecutionType = "express": must be empty, EXPRESS or STANDARD`}},
		{name: "timeout above ASL's bound", change: func(s *Settings) { s.CopyTaskTimeoutSecs = 100000000 }, want: []string{"copyTaskTimeoutSecs = 100000000: must be at most 99999999"}},
		{
			name: "several at once are all named",
			change: func(s *Settings) {
				s.DatabaseRetries = 0
				s.DatabaseRetryBackoffRate = 11
				s.CopyTaskTimeoutSecs = -5
			},
			want: []string{"databaseRetries = 0", "databaseRetryBackoffRate = 11", "copyTaskTimeoutSecs = -5"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := withARNs(DefaultSettings())
			tc.change(&s)
			err := s.Validate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted invalid settings, want error with %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if _, rerr := Render(s); rerr == nil {
				t.Errorf("Render accepted settings Validate rejects")
			}
		})
	}
}

// TestGoldenDefaultDefinition keeps a reviewed copy of the rendered default
// definition; refresh with `go test ./statemachine -update`.
func TestGoldenDefaultDefinition(t *testing.T) {
	out, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "definition.default.golden.json")
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(out)); diff != "" {
		t.Errorf("rendered definition differs from %s (-golden +got); run with -update if intended:\n%s", golden, diff)
	}
}

// TestASLValidator runs the pinned asl-validator (npm) on rendered
// definitions. It needs node_modules (npm ci at the repository root).
func TestASLValidator(t *testing.T) {
	validator, err := filepath.Abs(filepath.Join("..", "node_modules", ".bin", "asl-validator"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(validator); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("asl-validator not installed (%v): run npm ci at the repository root", err))
	}
	custom := DefaultSettings()
	custom.CopyRetries = 1
	custom.CopyRetrySleepSecs = 30
	custom.CopyRetryBackoffRate = 1.5
	for name, s := range map[string]Settings{"defaults": DefaultSettings(), "one attempt, fractional backoff": custom} {
		t.Run(name, func(t *testing.T) {
			out, err := Render(withARNs(s))
			if err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(t.TempDir(), "definition.asl.json")
			if err := os.WriteFile(file, out, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(validator, "--json-path", file)
			got, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("asl-validator rejects the rendered definition: %v\n%s", err, got)
			}
			if !strings.Contains(string(got), "✓") && !strings.Contains(strings.ToLower(string(got)), "valid") {
				t.Errorf("asl-validator output does not say valid:\n%s", got)
			}
		})
	}
}

// Retry and Catch name only routed errors (contract.RoutedErrors, the Go
// error types the functions return), Step Functions' own States.* and
// Lambda.* errors and Lambda's function timeout (functionTimeoutErrors): a
// misspelt name would never match.
func TestErrorEqualsNamesOnlyRoutedErrors(t *testing.T) {
	known := map[string]bool{}
	for _, name := range contract.RoutedErrors {
		known[name] = true
	}
	for name, st := range allStates(renderDoc(t, withARNs(DefaultSettings()))) {
		var lists [][]string
		for _, r := range st.Retry {
			lists = append(lists, r.ErrorEquals)
		}
		for _, c := range st.Catch {
			lists = append(lists, c.ErrorEquals)
		}
		for _, errs := range lists {
			for _, e := range errs {
				if !known[e] && !strings.HasPrefix(e, "States.") && !strings.HasPrefix(e, "Lambda.") && !slices.Contains(functionTimeoutErrors, e) {
					t.Errorf("%s: ErrorEquals names %q, which is not in contract.RoutedErrors", name, e)
				}
			}
		}
	}
}

// Every function of the lists is built from functions/<Folder()>, and every
// folder there is in Functions or OtherFunctions.
func TestFunctionsMatchTheFunctionsFolder(t *testing.T) {
	entries, err := os.ReadDir(filepath.Join("..", "functions"))
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if _, err := os.Stat(filepath.Join("..", "functions", e.Name(), "main.go")); err == nil {
			dirs = append(dirs, e.Name())
		}
	}
	names := append(Folders(), OtherFunctions...)
	sort.Strings(names)
	if diff := cmp.Diff(names, dirs); diff != "" {
		t.Errorf("statemachine.Functions and OtherFunctions (-) and functions/*/main.go (+) differ:\n%s", diff)
	}
}

// TestCopyPathsAlwaysPresent checks that every $.file.*, $.job.* and
// $.copy.* path the copy tasks read is a field that is always encoded: a
// missing path fails the state with States.Runtime.
//
//   - "Copy file (Express)" reads the iteration the Express ItemSelector
//     builds from a contract.FoundJob (file, job, lookup_error, each always
//     present) and a literal, empty $.copy that must hold every
//     contract.CopyToken field.
//   - "Copy file" in the Standard lane reads the iteration its ItemSelector
//     builds from a contract.StandardItem ("Sort results" fills its copy
//     with every contract.CopyToken field), and on a resumed pass a paused
//     contract.CopyOutcome (a multipart copy of an unversioned source, its
//     token's strings empty); "Copy small file", a first pass only, reads
//     the StandardItem's.
func TestCopyPathsAlwaysPresent(t *testing.T) {
	doc := renderDoc(t, withARNs(DefaultSettings()))
	states := allStates(doc)
	token := jsonFields(t, contract.CopyToken{})
	paused := contract.CopyOutcome{Multipart: true, Parts: 2, PartSize: 5 << 20, PartsTotal: 2, PartsDone: 1, BytesDone: 5 << 20}

	express := states["Copy each file of the chunk"].ItemSelector
	wantExpress := map[string]any{"file.$": "$$.Map.Item.Value.file", "job.$": "$$.Map.Item.Value.job", "lookup_error.$": "$$.Map.Item.Value.lookup_error"}
	for k, v := range wantExpress {
		if express[k] != v {
			t.Errorf("Express ItemSelector %s = %v, want %v", k, express[k], v)
		}
	}
	checkItemPaths(t, "FoundJob", wantExpress, jsonFields(t, contract.FoundJob{}))
	initial, _ := express["copy"].(map[string]any)
	if diff := cmp.Diff(keysOf(token), keysOf(initial)); diff != "" {
		t.Errorf("Express ItemSelector's copy vs contract.CopyToken's fields (-token +copy):\n%s", diff)
	}
	checkCopyReads(t, "Copy file (Express)", states, map[string]map[string]any{"$.copy.": initial, "$.file.": jsonFields(t, contract.File{}), "$.job.": jsonFields(t, contract.Job{})})

	standard := states[StandardLaneMap].ItemSelector
	wantStandard := map[string]any{"file.$": "$$.Map.Item.Value.file", "copy.$": "$$.Map.Item.Value.copy"}
	if diff := cmp.Diff(wantStandard, standard); diff != "" {
		t.Errorf("Standard lane ItemSelector (-want +got):\n%s", diff)
	}
	checkItemPaths(t, "StandardItem", wantStandard, jsonFields(t, contract.StandardItem{}))
	for _, copyFields := range []map[string]any{token, jsonFields(t, paused)} {
		checkCopyReads(t, "Copy file", states, map[string]map[string]any{"$.copy.": copyFields, "$.file.": jsonFields(t, contract.File{}), "$.job.": jsonFields(t, contract.Job{})})
	}
	// "Copy small file" runs a child's first pass only: the item's token.
	checkCopyReads(t, "Copy small file", states, map[string]map[string]any{"$.copy.": token, "$.file.": jsonFields(t, contract.File{}), "$.job.": jsonFields(t, contract.Job{})})
}

// checkItemPaths checks that each $$.Map.Item.Value.X an ItemSelector reads
// is a field of the item (named by its contract type).
func checkItemPaths(t *testing.T, item string, selector map[string]any, fields map[string]any) {
	t.Helper()
	for k, v := range selector {
		name, ok := strings.CutPrefix(v.(string), "$$.Map.Item.Value.")
		if _, present := fields[name]; !ok || !present {
			t.Errorf("ItemSelector %s reads %v, which contract.%s does not always encode", k, v, item)
		}
	}
}

// checkCopyReads checks every path task reads under each prefix against
// the fields found there.
func checkCopyReads(t *testing.T, task string, states map[string]state, at map[string]map[string]any) {
	t.Helper()
	for param, v := range states[task].Parameters {
		path, ok := v.(string)
		if !strings.HasSuffix(param, ".$") || !ok {
			continue
		}
		for prefix, fields := range at {
			if name, under := strings.CutPrefix(path, prefix); under {
				if _, present := fields[name]; !present {
					t.Errorf("%s: %s reads %s, which is not always there", task, param, path)
				}
			}
		}
	}
}

// jsonFields is v's JSON object as a map: the fields it always encodes.
func jsonFields(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func keysOf(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// retryBudget returns the longest a retrier waits in all before it gives up
// (each pause IntervalSeconds * BackoffRate^n capped at MaxDelaySeconds);
// with full jitter each pause is uniform in [0, that], so the wait is half
// of it on average.
func retryBudget(r retrier) time.Duration {
	var total, pause float64 = 0, float64(r.IntervalSeconds)
	for i := 0; i < r.MaxAttempts; i++ {
		total += min(pause, float64(r.MaxDelaySeconds))
		pause *= r.BackoffRate
	}
	return time.Duration(total * float64(time.Second))
}

// A mass recovery saturates the account's concurrency for hours (copies of
// up to 15 minutes each hold it) and can exhaust the database's connections
// or outlast a database failover: the throttle and database retriers ride
// that out (docs/concurrency.md), each retry costing one state transition
// and only when refused.
func TestRetryBudgetsRideOutHours(t *testing.T) {
	if got, want := retryBudget(throttleRetrier)/2, 3*time.Hour; got < want {
		t.Errorf("throttle retrier waits %s on average before giving up, want at least %s", got, want)
	}
	s := DefaultSettings()
	db := retrier{IntervalSeconds: s.DatabaseRetryIntervalSecs, MaxAttempts: s.DatabaseRetries - 1,
		BackoffRate: s.DatabaseRetryBackoffRate, MaxDelaySeconds: s.DatabaseRetryMaxDelaySecs}
	if got, want := retryBudget(db)/2, time.Hour; got < want {
		t.Errorf("database retrier waits %s on average before giving up, want at least %s", got, want)
	}
	if lambdaFaultRetrier.MaxDelaySeconds > throttleRetrier.MaxDelaySeconds {
		t.Errorf("the Lambda fault retrier waits longer than the throttle retrier")
	}
}

// TestRoundPathsAlwaysPresent pins the loop of deferred files to the
// contract: "Sort results" reads only what both ResultSelectors that write
// the state before it ("Read restored files"' and its own, the round
// before) write, and sends only contract.SortRequest's fields; its
// ResultSelector reads only contract.Sorted's fields, which are always
// present (a missing path fails the execution); "Go round again?" and the
// wait read only what that ResultSelector writes.
func TestRoundPathsAlwaysPresent(t *testing.T) {
	def, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		States map[string]map[string]any `json:"States"`
	}
	if err := json.Unmarshal(def, &doc); err != nil {
		t.Fatal(err)
	}
	sorted := jsonFields(t, contract.Sorted{})
	request := jsonFields(t, contract.SortRequest{})
	template := func(name, key string) map[string]any { p, _ := doc.States[name][key].(map[string]any); return p }
	writes := func(p map[string]any, field string) bool {
		_, plain := p[field]
		_, path := p[field+".$"]
		return plain || path
	}
	readsOf := func(p map[string]any) map[string]string {
		reads := map[string]string{}
		for k, v := range p {
			if path, ok := v.(string); ok && strings.HasSuffix(k, ".$") {
				reads[strings.TrimSuffix(k, ".$")] = path
			}
		}
		return reads
	}
	for field, path := range readsOf(template(SortResultsState, "Parameters")) {
		if _, ok := request[field]; !ok {
			t.Errorf("%s sends %s: not a field of contract.SortRequest", SortResultsState, field)
		}
		if field == "chunk_results" {
			continue // Copy chunks' ResultPath
		}
		for _, writer := range []string{"Read restored files", SortResultsState} {
			if !writes(template(writer, "ResultSelector"), strings.TrimPrefix(path, "$.")) {
				t.Errorf("%s reads %s, which %q's ResultSelector does not write", SortResultsState, path, writer)
			}
		}
	}
	for field, path := range readsOf(template(SortResultsState, "ResultSelector")) {
		read := strings.TrimSuffix(strings.TrimPrefix(path, "States.ArrayPartition("), ", 40)")
		if _, ok := sorted[strings.TrimPrefix(read, "$.")]; !ok {
			t.Errorf("%s's ResultSelector reads %s for %s: not a field of contract.Sorted (%v)", SortResultsState, read, field, keysOf(sorted))
		}
	}
	reads := []string{doc.States["Wait before going round"]["SecondsPath"].(string)}
	for _, c := range doc.States["Go round again?"]["Choices"].([]any) {
		reads = append(reads, c.(map[string]any)["Variable"].(string))
	}
	for _, path := range reads {
		field := strings.TrimSuffix(strings.TrimPrefix(path, "$."), "[0]")
		if !writes(template(SortResultsState, "ResultSelector"), field) {
			t.Errorf("the loop reads %s, which %s's ResultSelector does not write", path, SortResultsState)
		}
	}
}
