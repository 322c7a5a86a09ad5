package statemachine

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// TestHistoryBoundMatchesMoto cross-checks the history bound of a Standard
// lane child against a real engine: moto's Step Functions interpreter,
// which writes AWS's history event types, runs the child cut from the
// rendered definition (standardChildForMoto) against a stand-in Invoke API
// (testdata/history_moto.py) scripted to drive it down the bound's worst
// path, every task making every attempt its retriers allow:
//
//	Find open job: DatabaseUnavailableError, throttled, 3 Lambda faults, the job
//	Small copy? -> Copy small file (the file is 1 byte, no resume token):
//	  TransientCopyError twice, throttled, then unfinished (complete=false)
//	Copy finished? -> Mark copy resumed: as Find open job, then marked
//	Copy file (copy-file): as Copy small file, then finished -> Copy finished?
//	Record copy complete: as Find open job, then DatabaseUnavailableError
//	  once more, caught -> Status not recorded
//
// So the history has exactly HistoryBound's count of the cut, which is
// StandardChildHistoryBound's of the rendered definition less the
// throttling retries the cut drops. (A larger file's path, "Copy file"
// twice, has the same count: the two copy tasks have the same retriers.)
func TestHistoryBoundMatchesMoto(t *testing.T) {
	if testing.Short() {
		t.Skip("runs moto (about 20 s)")
	}
	python := motoPython(t)
	s := withARNs(DefaultSettings())
	s.DatabaseRetries, s.DatabaseRetryIntervalSecs, s.DatabaseRetryMaxDelaySecs = 2, 1, 1
	s.CopyRetryMaxDelaySecs = 1
	def, err := Render(s)
	if err != nil {
		t.Fatal(err)
	}
	child, err := StandardChildHistoryBound(def)
	if err != nil {
		t.Fatal(err)
	}
	cut := standardChildForMoto(t, def)
	bound, err := HistoryBound(cut, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Five tasks on the path, each with 99 fewer throttling retries.
	if want := child - 5*99*lambdaAttemptEvents; bound != want {
		t.Fatalf("the cut's bound %d, want the child's %d less 5 x 99 throttled attempts = %d", bound, child, want)
	}
	input, err := json.Marshal(contract.StandardItem{File: contract.File{SourceBucket: "restore", SourceKey: "a", Size: 1}})
	if err != nil {
		t.Fatal(err)
	}
	run := runOnMoto(t, python, cut, string(input), worstPathScript(t))
	if run.Status != "SUCCEEDED" || len(run.Events) != bound || len(run.UnusedAnswers) > 0 {
		t.Errorf("moto: %s with %d events (answers left unused: %v), want SUCCEEDED with HistoryBound's %d:\n%s",
			run.Status, len(run.Events), run.UnusedAnswers, bound, strings.Join(run.Events, "\n"))
	}
	// 6 + 4 + 6 + 4 + 6 attempts: find, copy, mark, copy, record.
	if n := countOf(run.Events, "LambdaFunctionScheduled"); n != 26 {
		t.Errorf("moto scheduled %d invocations, want 26 (every attempt of the five tasks)", n)
	}
}

// TestParentHistoryBoundMatchesMoto cross-checks the parent's bound, the
// Distributed Maps' own events above all, on moto, which runs a Map Run's
// children as executions of their own (the chunk Map rendered STANDARD:
// moto refuses EXPRESS). The stand-in drives every parent task through
// every attempt (throttled once, three Lambda faults, then its answer) and
// the children down their short path; the first "Sort results" defers the
// file, so the parent goes round the Express lane both of its motoRounds,
// and its history has exactly ParentHistoryBound's count of the definition
// as run:
//
//	ExecutionStarted, 4 tasks (Read, Sort twice, Report) x (Entered,
//	5 x 3 Lambda events, Exited), the Wait once and the Choice twice,
//	Entered/Exited each, and per Map run (the chunk Map twice, the
//	Standard lane once) MapStateEntered, MapStateStarted, MapRunStarted,
//	MapRunSucceeded, MapStateSucceeded, MapStateExited,
//	ExecutionSucceeded: 2 + 4 x 17 + 3 x 2 + 3 x 6 = 94
func TestParentHistoryBoundMatchesMoto(t *testing.T) {
	if testing.Short() {
		t.Skip("runs moto (about 10 s)")
	}
	python := motoPython(t)
	s := withARNs(DefaultSettings())
	s.ChunkExecutionType = ExecutionTypeStandard
	def, err := Render(s)
	if err != nil {
		t.Fatal(err)
	}
	// Numbers kept as written (100.0 stays 100.0).
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(def))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	forMoto(doc)
	parent, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	bound, err := ParentHistoryBound(parent)
	if err != nil {
		t.Fatal(err)
	}
	if bound != 94 {
		t.Fatalf("ParentHistoryBound of the definition as run = %d, want 94 (hand-counted)", bound)
	}
	run := runOnMoto(t, python, parent, `{"Records": []}`, parentScript(t))
	if run.Status != "SUCCEEDED" || len(run.Events) != bound || len(run.UnusedAnswers) > 0 {
		t.Errorf("moto: %s with %d events (answers left unused: %v), want SUCCEEDED with ParentHistoryBound's %d:\n%s",
			run.Status, len(run.Events), run.UnusedAnswers, bound, strings.Join(run.Events, "\n"))
	}
	for _, typ := range []string{"MapRunStarted", "MapRunSucceeded"} {
		if n := countOf(run.Events, typ); n != 3 {
			t.Errorf("moto wrote %d %s, want one per Distributed Map run (the chunk Map twice)", n, typ)
		}
	}
}

// motoRun is what testdata/history_moto.py prints.
type motoRun struct {
	Status string `json:"status"`
	// Output is the execution's output (JSON text), empty unless it
	// succeeded.
	Output        string         `json:"output"`
	Events        []string       `json:"events"`
	UnusedAnswers map[string]int `json:"unused_answers"`
}

// motoPython returns the Python with moto, or skips the test.
func motoPython(t *testing.T) string {
	t.Helper()
	python := os.Getenv("LOCAL_PYTHON")
	if python == "" {
		python = "python3"
	}
	if err := exec.Command(python, "-c", "import moto, boto3").Run(); err != nil {
		testenv.Unavailable(t, "needs Python 3 with moto 5 and boto3 ("+python+"): "+err.Error())
	}
	return python
}

// runOnMoto runs definition with input on moto against the scripted
// stand-in Invoke API.
func runOnMoto(t *testing.T, python string, definition []byte, input, script string) motoRun {
	t.Helper()
	file := filepath.Join(t.TempDir(), "definition.asl.json")
	if err := os.WriteFile(file, definition, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), python, "testdata/history_moto.py", file, input, script).Output()
	if err != nil {
		t.Fatalf("moto run: %v\n%s", err, out)
	}
	var run motoRun
	if err := json.Unmarshal(out, &run); err != nil {
		t.Fatalf("moto output %q: %v", out, err)
	}
	return run
}

// forMoto shortens, in the states of list and their ItemProcessors, the
// retries' waits and leaves the event types alone: the throttling retrier
// makes 1 retry, not 100 (each of up to 300 s), and every retry waits at
// most 1 s. Nothing else is changed: moto parses the rendered definition
// as it is (its ToleratedFailurePercentage is written 100.0, as moto
// 5.2.1's parser refuses an integer there).
func forMoto(list map[string]any) {
	for _, v := range list["States"].(map[string]any) {
		st := v.(map[string]any)
		retry, _ := st["Retry"].([]any)
		for _, r := range retry {
			r := r.(map[string]any)
			if slices.Equal(toStrings(r["ErrorEquals"]), ThrottlingErrors) {
				r["MaxAttempts"], r["IntervalSeconds"] = 1, 1
			}
			r["MaxDelaySeconds"] = 1
		}
		if params, ok := st["Parameters"].(map[string]any); ok && params["max_rounds"] != nil {
			params["max_rounds"] = motoRounds
		}
		if ip, ok := st["ItemProcessor"].(map[string]any); ok {
			forMoto(ip)
		}
	}
}

// motoRounds is the max_rounds forMoto gives "Sort results": the parent
// goes round the Express lane twice, not DeferMaxRounds times.
const motoRounds = 2

// standardChildForMoto cuts the Standard lane's child (StandardLaneMap's
// ItemProcessor) out of a rendered definition as a state machine of its
// own, as a Distributed Map runs it, with forMoto's changes.
func standardChildForMoto(t *testing.T, def []byte) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(def, &doc); err != nil {
		t.Fatal(err)
	}
	child := findState(doc, StandardLaneMap)["ItemProcessor"].(map[string]any)
	delete(child, "ProcessorConfig")
	child["Comment"] = "TestHistoryBoundMatchesMoto: the Standard lane's child, with short throttling retries."
	forMoto(child)
	out, err := json.Marshal(child)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// parentScript is the stand-in's answers for TestParentHistoryBoundMatchesMoto:
// each parent task throttled once and faulted three times before its
// answer, the children's tasks answered at once.
func parentScript(t *testing.T) string {
	t.Helper()
	fail := func(name string) map[string]any { return map[string]any{"error": name} }
	ok := func(v any) map[string]any { return map[string]any{"result": v} }
	worst := func(last map[string]any) []map[string]any {
		return []map[string]any{fail("Lambda.TooManyRequestsException"),
			fail("Lambda.ServiceException"), fail("Lambda.ServiceException"), fail("Lambda.ServiceException"), last}
	}
	file := contract.File{SourceBucket: "restore", SourceKey: "a", Size: 1}
	job := &contract.Job{RequestID: "r1", TargetBucket: "archive"}
	copied := ok(contract.CopyOutcome{Complete: true, Passes: 1})
	found := ok(contract.FoundJobs{Items: []contract.FoundJob{{File: file, Job: job}}})
	deferred := contract.Sorted{Rejected: []contract.RejectedMessage{}, Done: []contract.Iteration{}, Standard: []contract.StandardItem{},
		Deferred: []contract.File{file}, Round: 1, WaitSecs: 1}
	toStandard := contract.Sorted{Rejected: []contract.RejectedMessage{}, Done: []contract.Iteration{},
		Standard: []contract.StandardItem{{File: file}}, Deferred: []contract.File{}, Round: 2}
	script := map[string][]map[string]any{
		FunctionParseEvent: worst(ok(contract.ParsedEvent{Files: []contract.File{file}, Rejected: []contract.RejectedMessage{}})),
		FunctionRequestStatus + ":" + contract.OperationFindOpenJobs: {found, found},
		// Both Express rounds' copies, then the Standard child's: a
		// 1-byte file with no resume token ("Small copy?").
		FunctionCopyFileExpress: {copied, copied, copied},
		FunctionRequestStatus + ":" + contract.OperationRecordOutcome: {ok(contract.Recorded{}), ok(contract.Recorded{}), ok(contract.Recorded{})},
		FunctionAggregate + ":" + contract.OperationSort:              append(worst(ok(deferred)), worst(ok(toStandard))...),
		FunctionRequestStatus + ":" + contract.OperationFindOpenJob:   {ok(job)},
		FunctionAggregate: worst(ok(map[string]any{"results": []any{}})),
	}
	b, err := json.Marshal(script)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// worstPathScript is the stand-in's answers that drive the cut child down
// its worst path (see TestHistoryBoundMatchesMoto).
func worstPathScript(t *testing.T) string {
	t.Helper()
	fail := func(name string) map[string]any { return map[string]any{"error": name} }
	ok := func(v any) map[string]any { return map[string]any{"result": v} }
	status := func(last map[string]any) []map[string]any {
		return []map[string]any{fail(contract.DatabaseUnavailableError), fail("Lambda.TooManyRequestsException"),
			fail("Lambda.ServiceException"), fail("Lambda.ServiceException"), fail("Lambda.ServiceException"), last}
	}
	copyPass := func(complete bool) []map[string]any {
		token := contract.CopyOutcome{Complete: complete, Multipart: true, UploadID: "u1", PartSize: 5 << 20, Passes: 1}
		return []map[string]any{fail(contract.TransientCopyError), fail(contract.TransientCopyError), fail("Lambda.TooManyRequestsException"), ok(token)}
	}
	script := map[string][]map[string]any{
		FunctionRequestStatus + ":" + contract.OperationFindOpenJob: status(ok(contract.Job{RequestID: "r1", TargetBucket: "archive"})),
		FunctionCopyFileExpress: copyPass(false),
		FunctionCopyFile:        copyPass(true),
		FunctionRequestStatus + ":" + contract.OperationMarkPickedUp:  status(ok(contract.Marked{Marked: true})),
		FunctionRequestStatus + ":" + contract.OperationRecordOutcome: status(fail(contract.DatabaseUnavailableError)),
	}
	b, err := json.Marshal(script)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func toStrings(v any) []string {
	list, _ := v.([]any)
	out := make([]string, 0, len(list))
	for _, e := range list {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}

func countOf(events []string, typ string) int {
	n := 0
	for e := range slices.Values(events) {
		if e == typ {
			n++
		}
	}
	return n
}
