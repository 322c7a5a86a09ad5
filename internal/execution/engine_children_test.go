package execution

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/invokeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
)

// childrenDefinition is the batched workflow's shape in small: a
// Distributed Map (STANDARD children: moto refuses EXPRESS; the Node engine
// runs it inline either way) whose child runs an inline Map over its files,
// each file one Lambda task. A ToleratedFailurePercentage that is an
// integer, as AWS takes it, which moto's parser alone refuses (its driver
// rewrites it).
const childrenDefinition = `{
  "StartAt": "Chunks",
  "States": {
    "Chunks": {
      "Type": "Map",
      "ItemsPath": "$.chunks",
      "ItemSelector": {"files.$": "$$.Map.Item.Value"},
      "ToleratedFailurePercentage": 100,
      "Label": "Chunk",
      "ItemProcessor": {
        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
        "StartAt": "Each file",
        "States": {
          "Each file": {
            "Type": "Map",
            "ItemsPath": "$.files",
            "ItemProcessor": {
              "ProcessorConfig": {"Mode": "INLINE"},
              "StartAt": "Copy file",
              "States": {
                "Copy file": {
                  "Type": "Task",
                  "Resource": "arn:aws:lambda:us-east-1:123456789012:function:copy",
                  "TimeoutSeconds": 30,
                  "End": true
                }
              }
            },
            "End": true
          }
        }
      },
      "End": true
    }
  }
}`

// Both engines report the events of a Distributed Map child, each with its
// path of Map iterations (the child first, then the file's iteration inside
// it), and the history shows each under its child execution: moto keeps
// them in a history per child, as AWS does, which its driver reads; the
// Node engine runs the child inline and its log only keeps one index per
// event, which engine.cjs completes.
func TestEnginesReportDistributedMapChildren(t *testing.T) {
	for _, engine := range []string{stepengine.EngineNode, stepengine.EngineMoto} {
		t.Run(engine, func(t *testing.T) {
			copyFn := lambda.NewHandler(func(ctx context.Context, in struct {
				Key string `json:"source_key"`
			}) (map[string]any, error) {
				return map[string]any{"copied": in.Key}, nil
			})
			res := runChildren(t, engine, invokeapi.Function{Name: "copy", Handler: copyFn})
			if !res.Succeeded() {
				t.Fatalf("%s: %s %s", res.Status, res.ErrorName(), res.CauseText())
			}
			var got []string
			for _, ev := range res.History {
				if ev.Type == "StateExited" && ev.State != nil && ev.State.Name == "Copy file" {
					got = append(got, fmt.Sprintf("%v %s", ev.Path, findString(ev.State.Output, "copied")))
				}
			}
			sort.Strings(got)
			want := []string{
				"[{Chunks 0} {Each file 0}] a",
				"[{Chunks 0} {Each file 1}] b",
				"[{Chunks 1} {Each file 0}] c",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Copy file exits by Map path on %s (-want +got):\n%s", engine, diff)
			}
			if res.MaxCopiesInHistory < 1 {
				t.Errorf("copies in flight by the history: %d, want at least 1", res.MaxCopiesInHistory)
			}
		})
	}
}

// runChildren runs childrenDefinition for three files in two chunks and
// checks the printed history names each file's child execution.
func runChildren(t *testing.T, engine string, functions ...invokeapi.Function) *Result {
	t.Helper()
	var out bytes.Buffer
	res := runOnWith(t, engine, childrenDefinition, `{"chunks": [[{"source_key": "a"}, {"source_key": "b"}], [{"source_key": "c"}]]}`, &out, functions...)
	for _, want := range []string{"Chunk#0 ", "Chunk#1 "} {
		found := false
		for _, line := range strings.Split(out.String(), "\n") {
			if strings.Contains(line, want) && strings.Contains(line, "Copy file") && strings.Contains(line, "StateEntered") {
				found = true
			}
		}
		if !found {
			t.Errorf("the history shows no Copy file entered in child %q:\n%s", strings.TrimSpace(want), out.String())
		}
	}
	return res
}
