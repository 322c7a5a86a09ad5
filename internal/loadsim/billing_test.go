package loadsim

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// The deployed definition's Express child is "Copy chunks"' ItemProcessor:
// its states, nested Map included, are Express; the parent's and the
// Standard lane's are not.
func TestWorkflowShapeOfTheDefinition(t *testing.T) {
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	settings, err := localservices.LoadSettings(root, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	w, err := deployedShape(settings)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"Copy chunks": "EXPRESS", "Copy in the Standard lane": "STANDARD"}, w.distributed); diff != "" {
		t.Errorf("Distributed Maps (-want +got):\n%s", diff)
	}
	for _, name := range []string{"Find open jobs", "Copy each file of the chunk", "Copy file (Express)", "Record copy complete (Express)", "Hand over to the Standard lane"} {
		if !w.express[name] {
			t.Errorf("%q: not counted as a state of the Express child", name)
		}
	}
	for _, name := range []string{"Read restored files", "Copy chunks", "Sort results", "Copy in the Standard lane", "Copy file", "Record copy complete", "Report results"} {
		if !w.seen[name] || w.express[name] {
			t.Errorf("%q: seen %v, Express %v; want a Standard state", name, w.seen[name], w.express[name])
		}
	}
	// moto's rendering (STANDARD children) does not change what is billed.
	settings.ChunkExecutionType = statemachine.ExecutionTypeStandard
	if again, err := deployedShape(settings); err != nil || again.distributed["Copy chunks"] != "EXPRESS" {
		t.Errorf("with moto's rendering: %v, %v; want the deployed EXPRESS children", again.distributed, err)
	}
}

func TestWorkflowShapeRefusesDuplicateNames(t *testing.T) {
	def := `{"StartAt":"A","States":{"A":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},
		"StartAt":"B","States":{"B":{"Type":"Pass","End":true}}},"Next":"B"},"B":{"Type":"Pass","End":true}}}`
	if _, err := newWorkflowShape([]byte(def)); err == nil || !strings.Contains(err.Error(), `"B"`) {
		t.Errorf("error %v, want one naming the state named twice", err)
	}
}

// billingDefinition has a Standard parent, a Distributed Map of Express
// children (each with an inline Map) and one of Standard children.
const billingDefinition = `{"StartAt":"Parse","States":{
 "Parse":{"Type":"Pass","Result":{"chunks":[[1,2],[3,4],[5,6]],"lane":[7,8]},"Next":"Chunks"},
 "Chunks":{"Type":"Map","ItemsPath":"$.chunks","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"EXPRESS"},
   "StartAt":"Find","States":{"Find":{"Type":"Pass","Next":"Each"},
   "Each":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"Copy","States":{"Copy":{"Type":"Pass","End":true}}},"End":true}}},
   "ResultPath":"$.chunk_results","Next":"Lane"},
 "Lane":{"Type":"Map","ItemsPath":"$.lane","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},
   "StartAt":"Copy file","States":{"Copy file":{"Type":"Pass","Next":"Record"},"Record":{"Type":"Pass","End":true}}},
   "ResultPath":"$.lane_results","Next":"Report"},
 "Report":{"Type":"Pass","End":true}}}`

// On the Node engine, which runs the children inline, the Ended line's
// counts give: the parent's 4 states, one transition per child started (3
// Express, 2 Standard), the Standard children's 2 states each; the Express
// children's states (1 + 2 inline iterations of 1 state, and the inline
// Map) are not transitions, the 3 children are Express requests.
func TestBillingFromTheNodeEngine(t *testing.T) {
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	if err := localservices.CheckNodeModules(root); err != nil {
		t.Skip(err)
	}
	line := runServed(t, stepengine.EngineNode, root, billingDefinition)
	shape, err := newWorkflowShape([]byte(billingDefinition))
	if err != nil {
		t.Fatal(err)
	}
	got := shape.bill(line, 1)
	if got.StandardTransitions != 4+3+2+2*2 || got.ExpressRequests != 3 || !got.ChildrenCounted {
		t.Errorf("billed %+v from %v and %v: want 13 Standard transitions (4 parent states, 5 children started, 4 Standard child states), 3 Express requests",
			got, line.TransitionsByState, line.MapIterations)
	}
	// Each Express child runs in well under 100 ms: one 100 ms step at 64 MB.
	if want := 3 * 0.1 * 64 / 1024; math.Abs(got.ExpressGBSeconds-want) > 1e-12 {
		t.Errorf("Express GB-s %g, want %g (runs %v)", got.ExpressGBSeconds, want, line.MapIterations["Chunks"])
	}
}

// On moto, which runs each Distributed Map child with a history of its
// own (and refuses EXPRESS: the Express Map runs STANDARD children there),
// the serve mode's line gives the parent's transitions and the children's
// by Map: billed against the deployed shape, the same 13 transitions and 3
// Express requests as on Node.
func TestBillingFromTheMotoEngine(t *testing.T) {
	if err := stepengine.CheckMoto(context.Background(), ""); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("the moto engine cannot run: %v", err))
	}
	root, err := localservices.FindRepoRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	asRun := strings.Replace(billingDefinition, `"ExecutionType":"EXPRESS"`, `"ExecutionType":"STANDARD"`, 1)
	line := runServed(t, stepengine.EngineMoto, root, asRun)
	// The parent's own history: its 4 states; the Standard children's 2
	// states each; the Express Map's children (3, run STANDARD here) 4 each
	// (Find, Each, 2 inline Copy), not billed as transitions.
	if line.Transitions != 4 || !cmp.Equal(line.ChildTransitions, map[string]int{"Chunks": 3 * 4, "Lane": 2 * 2}) {
		t.Errorf("moto line: %d transitions, children's %v; want 4, Chunks 12 and Lane 4", line.Transitions, line.ChildTransitions)
	}
	shape, err := newWorkflowShape([]byte(billingDefinition))
	if err != nil {
		t.Fatal(err)
	}
	got := shape.bill(line, 1)
	if got.StandardTransitions != 4+3+2+2*2 || got.ExpressRequests != 3 || !got.ChildrenCounted {
		t.Errorf("billed %+v from %d, %v and %v: want 13 Standard transitions (4 parent states, 5 children started, 4 Standard child states), 3 Express requests",
			got, line.Transitions, line.ChildTransitions, line.MapIterations)
	}
	// moto's interpreter is slower than Node's: its children's runs, each
	// from its own history's first event to its last, are billed as they
	// are, in 100 ms steps at 64 MB.
	runs := line.MapIterations["Chunks"]
	want := 0.0
	for _, r := range runs {
		want += expressGBSeconds(r.Ms)
		if r.Ms < 0 || r.Ms > 10000 || r.Failed {
			t.Errorf("Express child run %+v: want a success of 0 to 10 s", r)
		}
	}
	if len(runs) != 3 || math.Abs(got.ExpressGBSeconds-want) > 1e-12 || got.ExpressGBSeconds < 3*0.1*64/1024 {
		t.Errorf("Express GB-s %g, want %g, at least three 100 ms steps at 64 MB (runs %v)", got.ExpressGBSeconds, want, runs)
	}
}

// runServed runs one execution of definition (input {}) in engine's serve
// mode and returns its Ended line; it must succeed.
func runServed(t *testing.T, engine, root, definition string) stepengine.Ended {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	server, err := stepengine.StartServer(ctx, engine, root, "http://127.0.0.1:9", stepengine.ServeJob{Definition: json.RawMessage(definition)}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(7, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	_ = server.CloseInput()
	line, ok := <-server.Ended()
	if err := server.Wait(); err != nil || !ok {
		t.Fatalf("engine: %v (line %v)", err, ok)
	}
	if line.Result.Status != "SUCCEEDED" {
		t.Fatalf("execution %s: %s %s", line.Result.Status, line.Result.Error, line.Result.Cause)
	}
	return line
}

func TestBillWithoutChildren(t *testing.T) {
	shape, err := newWorkflowShape([]byte(billingDefinition))
	if err != nil {
		t.Fatal(err)
	}
	// An engine line without the children's figures: the parent's only.
	if got := shape.bill(stepengine.Ended{Transitions: 6}, 1); got != (stepFunctionsUsage{StandardTransitions: 6}) {
		t.Errorf("billed %+v, want the line's 6 transitions only", got)
	}
	// moto's: the parent's, the Standard children's, and one per child
	// started; an Express Map's children's transitions are not billed.
	line := stepengine.Ended{Transitions: 6, ChildTransitions: map[string]int{"Chunks": 40, "Lane": 9},
		MapIterations: map[string][]stepengine.IterationRun{"Chunks": {{Ms: 150}, {Ms: 50}}, "Lane": {{Ms: 10}}}}
	want := stepFunctionsUsage{StandardTransitions: 6 + 9 + 3, ExpressRequests: 2, ExpressGBSeconds: expressGBSeconds(150) + expressGBSeconds(50), ChildrenCounted: true}
	if got := shape.bill(line, 1); math.Abs(got.ExpressGBSeconds-want.ExpressGBSeconds) > 1e-12 || got.StandardTransitions != want.StandardTransitions ||
		got.ExpressRequests != want.ExpressRequests || !got.ChildrenCounted {
		t.Errorf("billed %+v, want %+v", got, want)
	}
	// At time scale 60 the children's runs are billed in scaled time: 9 s
	// and 3 s; the transitions and requests do not change.
	want.ExpressGBSeconds = expressGBSeconds(9000) + expressGBSeconds(3000)
	if got := shape.bill(line, 60); math.Abs(got.ExpressGBSeconds-want.ExpressGBSeconds) > 1e-12 || got.StandardTransitions != want.StandardTransitions ||
		got.ExpressRequests != want.ExpressRequests {
		t.Errorf("billed at scale 60 %+v, want %+v", got, want)
	}
}

func TestExpressGBSeconds(t *testing.T) {
	for ms, steps := range map[int64]int64{0: 1, 1: 1, 100: 1, 101: 2, 1999: 20, 2000: 20} {
		if got, want := expressGBSeconds(ms), float64(steps)*0.1*0.0625; math.Abs(got-want) > 1e-12 {
			t.Errorf("%d ms: %g GB-s, want %d steps of 100 ms at 64 MB = %g", ms, got, steps, want)
		}
	}
}

// The cost items price each per-file unit; they add up to the total, and
// every price names its AWS page.
func TestUsageFill(t *testing.T) {
	u := Usage{
		Files:           100,
		StepFunctions:   stepFunctionsUsage{StandardTransitions: 8, ExpressRequests: 3, ExpressGBSeconds: 0.5},
		StartExecutions: 1,
		Intake:          IntakeCalls{SQSRequests: 130, PipeRequests: 100},
		LambdaRequests:  206, LambdaGBSeconds: 40,
		S3PutClass: 100, S3GetClass: 200,
		LogBytesBySource: map[string]int64{"copy-file": 30000, LogSourceStateMachine: 0},
	}
	var rep LoadReport
	u.fill(&rep)
	want := BilledUnits{StandardTransitions: 0.08, ExpressRequests: 0.03, ExpressGBSeconds: 0.005, SQSRequests: 1.3, PipeRequests: 1,
		LambdaRequests: 2.06, LambdaGBSeconds: 0.4, S3PutClass: 1, S3GetClass: 2, LogBytes: 300, StartExecutions: 0.01}
	if diff := cmp.Diff(want, rep.PerFile, cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) < 1e-12 })); diff != "" {
		t.Errorf("per file (-want +got):\n%s", diff)
	}
	items := map[string]float64{
		"standard_transitions": 2, "express_requests": 0.03, "express_duration": 0.005 * 0.00001667 * 1e6,
		"sqs_requests": 0.52, "pipe_requests": 0.4, "lambda_requests": 0.412, "lambda_duration": 0.4 * 0.0000133334 * 1e6,
		"s3_requests": 5 + 0.8, "log_ingestion": 300 * 0.5 / (1 << 30) * 1e6,
	}
	var sum float64
	for name, v := range items {
		if math.Abs(rep.CostItems[name]-v) > 1e-9 {
			t.Errorf("%s: $%.6f per million files, want $%.6f", name, rep.CostItems[name], v)
		}
		sum += v
	}
	if len(rep.CostItems) != len(items) || math.Abs(rep.CostPerMillionFilesUSD-sum) > 1e-9 {
		t.Errorf("cost $%.4f from %v, want $%.4f from the %d items", rep.CostPerMillionFilesUSD, rep.CostItems, sum, len(items))
	}
	for _, p := range rep.Prices {
		if !strings.HasPrefix(p.Source, "https://aws.amazon.com/") || p.USD <= 0 {
			t.Errorf("price %+v: want a positive price from an AWS pricing page", p)
		}
	}
}
