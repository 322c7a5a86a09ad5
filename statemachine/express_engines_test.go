package statemachine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// engineRun is what one engine reports of a run: its status, its output
// (JSON text), the invocations it made and the scripted answers it left.
type engineRun struct {
	Status        string
	Output        string
	Invocations   int
	UnusedAnswers map[string]int
	Trace         string // the engine's events or calls, for a failure's message
}

// TestExpressChildSkipsAnAlreadyCopiedFile runs the Express child, cut
// from the rendered definition (expressChildForEngines), on both local
// engines against scripted Lambda answers, with a chunk of three files
// whose lookup finds: a job already complete (a duplicate delivery), an
// open job, no job, and an open job for a file an earlier round copied
// (file.copied). The script answers one copy and two records only, so
// the duplicate must end at "Already copied" without calling either, and
// the copied file be recorded without a copy: four invocations in all, no
// answer left, and its iteration carries only
// its file and job (no copy, no record, no hand-over), which the report
// counts as a success (shared/aggregate). The file without a job must end
// at "No open job" on both engines (aws-local-stepfunctions 3.0.0 never
// matches "IsNull": false, so "Job found?" tests Not IsNull true).
func TestExpressChildSkipsAnAlreadyCopiedFile(t *testing.T) {
	def, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	child := expressChildForEngines(t, def)
	done := contract.File{SourceBucket: "restore", SourceKey: "done.txt", Size: 1}
	open := contract.File{SourceBucket: "restore", SourceKey: "open.txt", Size: 1}
	missing := contract.File{SourceBucket: "restore", SourceKey: "missing.txt", Size: 1}
	copied := contract.File{SourceBucket: "restore", SourceKey: "copied.txt", Size: 1, Copied: true}
	doneJob := &contract.Job{RequestID: "r-done", TargetBucket: "archive", AlreadyComplete: true}
	found := contract.FoundJobs{Items: []contract.FoundJob{
		{File: done, Job: doneJob},
		{File: open, Job: &contract.Job{RequestID: "r-open", TargetBucket: "archive"}},
		{File: missing, LookupError: &contract.StateError{Error: contract.NoOpenJobError, Cause: "no open job"}},
		{File: copied, Job: &contract.Job{RequestID: "r-copied", TargetBucket: "archive"}},
	}}
	ok := func(v any) map[string]any { return map[string]any{"result": v} }
	script := string(mustJSON(t, map[string][]map[string]any{
		FunctionRequestStatus + ":" + contract.OperationFindOpenJobs: {ok(found)},
		FunctionCopyFileExpress: {ok(contract.CopyOutcome{Complete: true, Passes: 1})},
		FunctionRequestStatus + ":" + contract.OperationRecordOutcome: {ok(contract.Recorded{JobStatus: "complete"}), ok(contract.Recorded{JobStatus: "complete"})},
	}))
	input := string(mustJSON(t, map[string][]contract.File{"files": {done, open, missing, copied}}))
	wantDone := string(mustJSON(t, contract.Iteration{File: done, Job: doneJob}))

	for engine, run := range map[string]func(t *testing.T) engineRun{
		"moto": func(t *testing.T) engineRun {
			if testing.Short() {
				t.Skip("runs moto (about 5 s)")
			}
			r := runOnMoto(t, motoPython(t), child, input, script)
			return engineRun{r.Status, r.Output, countOf(r.Events, "LambdaFunctionScheduled"), r.UnusedAnswers, strings.Join(r.Events, "\n")}
		},
		"aws-local-stepfunctions": func(t *testing.T) engineRun { return runOnNode(t, child, input, script) },
	} {
		t.Run(engine, func(t *testing.T) {
			r := run(t)
			if r.Status != "SUCCEEDED" || len(r.UnusedAnswers) > 0 {
				t.Fatalf("%s (answers left unused: %v), want SUCCEEDED with every answer used: %s\n%s", r.Status, r.UnusedAnswers, r.Output, r.Trace)
			}
			if r.Invocations != 4 {
				t.Errorf("%d invocations, want 4 (find_open_jobs, one copy and one record for open.txt, one record for copied.txt):\n%s", r.Invocations, r.Trace)
			}
			var its []json.RawMessage
			if err := json.Unmarshal([]byte(r.Output), &its); err != nil || len(its) != 4 {
				t.Fatalf("child output %s: %v; want four iterations", r.Output, err)
			}
			var recordedOnly contract.Iteration
			if json.Unmarshal(its[3], &recordedOnly) != nil || recordedOnly.Recorded == nil || recordedOnly.Recorded.JobStatus != "complete" || recordedOnly.Handover != nil {
				t.Errorf("copied.txt's iteration = %s, want it recorded complete", its[3])
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, its[0]); err != nil || compact.String() != wantDone {
				t.Errorf("already-copied iteration = %s, want only its file and job: %s", its[0], wantDone)
			}
			var opened, none contract.Iteration
			if json.Unmarshal(its[1], &opened) != nil || opened.Recorded == nil || opened.Recorded.JobStatus != "complete" || opened.Handover != nil {
				t.Errorf("open.txt's iteration = %s, want it copied and recorded complete", its[1])
			}
			if json.Unmarshal(its[2], &none) != nil || none.LookupError == nil || none.CopyError != nil || none.Handover != nil {
				t.Errorf("missing.txt's iteration = %s, want it ended at \"No open job\" with its lookup_error", its[2])
			}
		})
	}
}

// expressChildForEngines cuts the Express child (ExpressLaneMap's
// ItemProcessor) out of a rendered definition as a state machine of its
// own, as the Distributed Map runs it, with forMoto's changes (both
// engines run it as a Standard execution: moto refuses EXPRESS).
func expressChildForEngines(t *testing.T, def []byte) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(def, &doc); err != nil {
		t.Fatal(err)
	}
	child := findState(doc, ExpressLaneMap)["ItemProcessor"].(map[string]any)
	delete(child, "ProcessorConfig")
	child["Comment"] = "The Express lane's child, with short throttling retries."
	forMoto(child)
	return mustJSON(t, child)
}

// runOnNode runs definition with input on aws-local-stepfunctions
// (testdata/local_engine.cjs), each task answered from script.
func runOnNode(t *testing.T, definition []byte, input, script string) engineRun {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		testenv.Unavailable(t, "needs Node: "+err.Error())
	}
	if _, err := os.Stat(filepath.Join("..", "node_modules", "aws-local-stepfunctions")); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("aws-local-stepfunctions not installed (%v): run npm ci at the repository root", err))
	}
	file := filepath.Join(t.TempDir(), "definition.asl.json")
	if err := os.WriteFile(file, definition, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(t.Context(), "node", "testdata/local_engine.cjs", file, input, script).Output()
	if err != nil {
		t.Fatalf("node run: %v\n%s", err, out)
	}
	var r struct {
		Status        string         `json:"status"`
		Output        string         `json:"output"`
		Calls         []string       `json:"calls"`
		UnusedAnswers map[string]int `json:"unused_answers"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("node output %q: %v", out, err)
	}
	return engineRun{r.Status, r.Output, len(r.Calls), r.UnusedAnswers, strings.Join(r.Calls, "\n")}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
