package loadsim

import (
	"encoding/json"
	"fmt"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
)

// What Step Functions bills, counted from an execution's events:
//
//   - Standard state transitions: every state entered and every retry of
//     the Standard parent and of its Standard children, and one per child
//     a Distributed Map starts, Express or Standard ("you're charged for
//     one state transition for each child workflow execution that the
//     Distributed Map state starts",
//     https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html;
//     https://aws.amazon.com/step-functions/pricing/). The states inside an
//     Express child are not transitions: Express bills requests and
//     duration instead.
//   - Express requests: one per Express child started.
//   - Express duration: each child's run, "rounded up to the nearest 100ms",
//     times its memory "billed in 64-MB chunks", which depends on "the size
//     of your workflow definition, the use of map or parallel states, and
//     the execution (payload) data size" (https://aws.amazon.com/step-functions/pricing/).
//     A child's definition (a few KB) and payload (a chunk of files, under
//     Step Functions' 256 KiB per state) are far below 64 MB, so each child
//     is counted at one chunk, expressBilledMemoryMB: an assumption, since
//     AWS publishes no formula for it (BillingDetails.billedMemoryUsedInMB,
//     which StartSyncExecution returns, would say; this runner has no AWS).
//
// The Node engine runs a Distributed Map's children inline, so their
// states' events come with the parent's: the definition's structure tells
// them apart (workflowShape). moto runs them as executions of their own,
// each with its own history: its serve mode gives the parent's
// transitions, and its children's by Map state name with their runs
// (stepengine.Ended.ChildTransitions, MapIterations); the children of a
// Map the deployed definition makes EXPRESS bill requests and duration,
// not their transitions, whatever execution type moto ran them as.

// expressBilledMemoryMB is the memory each Express child is billed at.
const expressBilledMemoryMB = 64

// expressDurationStep is the step Express durations are rounded up to.
const expressDurationStepMs = 100

// workflowShape is what billing needs of the definition: the names of the
// states that run inside an Express child, and which Map states are
// Distributed (their children's execution type by Map name).
type workflowShape struct {
	express     map[string]bool
	distributed map[string]string
	seen        map[string]bool
}

// aslState is the part of an ASL state the shape reads.
type aslState struct {
	Type          string `json:"Type"`
	ItemProcessor *struct {
		ProcessorConfig struct {
			Mode          string `json:"Mode"`
			ExecutionType string `json:"ExecutionType"`
		} `json:"ProcessorConfig"`
		States map[string]json.RawMessage `json:"States"`
	} `json:"ItemProcessor"`
	Iterator *struct {
		States map[string]json.RawMessage `json:"States"`
	} `json:"Iterator"`
	Branches []struct {
		States map[string]json.RawMessage `json:"States"`
	} `json:"Branches"`
}

// newWorkflowShape reads the rendered definition.
func newWorkflowShape(definition []byte) (workflowShape, error) {
	var doc struct {
		States map[string]json.RawMessage `json:"States"`
	}
	if err := json.Unmarshal(definition, &doc); err != nil {
		return workflowShape{}, fmt.Errorf("definition: %w", err)
	}
	w := workflowShape{express: map[string]bool{}, distributed: map[string]string{}, seen: map[string]bool{}}
	if err := w.walk(doc.States, false); err != nil {
		return workflowShape{}, err
	}
	return w, nil
}

// walk records the states of one States block; inExpress says the block
// runs inside an Express child.
func (w workflowShape) walk(states map[string]json.RawMessage, inExpress bool) error {
	for name, raw := range states {
		var s aslState
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("definition: state %q: %w", name, err)
		}
		if _, seen := w.seen[name]; seen {
			// Transitions are counted by state name: a name used twice
			// could not be told apart.
			return fmt.Errorf("definition: two states are named %q; the load runner bills transitions by state name", name)
		}
		w.seen[name] = true
		if inExpress {
			w.express[name] = true
		}
		switch {
		case s.ItemProcessor != nil:
			pc := s.ItemProcessor.ProcessorConfig
			child := inExpress
			if pc.Mode == "DISTRIBUTED" {
				w.distributed[name] = pc.ExecutionType
				child = pc.ExecutionType == "EXPRESS"
			}
			if err := w.walk(s.ItemProcessor.States, child); err != nil {
				return err
			}
		case s.Iterator != nil:
			if err := w.walk(s.Iterator.States, inExpress); err != nil {
				return err
			}
		}
		for _, b := range s.Branches {
			if err := w.walk(b.States, inExpress); err != nil {
				return err
			}
		}
	}
	return nil
}

// stepFunctionsUsage is what Step Functions bills for executions.
type stepFunctionsUsage struct {
	StandardTransitions int
	ExpressRequests     int
	ExpressGBSeconds    float64
	// ChildrenCounted says the children's states and runs were in the
	// events (the Node engine); false when only the parent's were (moto).
	ChildrenCounted bool
}

// bill counts one execution's billed Step Functions units from its Ended
// line. An Express child's run is billed in scaled time, its real ms times
// scale (LoadConfig.TimeScale): a child waiting on copies held for three
// minutes of scaled time lives three minutes on AWS. The engine's own hops
// are scaled with it, which the runner's time model does everywhere (its
// real milliseconds count scale times in scaled time): an upper bound.
func (w workflowShape) bill(line stepengine.Ended, scale float64) stepFunctionsUsage {
	u := stepFunctionsUsage{ChildrenCounted: line.TransitionsByState != nil || line.ChildTransitions != nil}
	if line.TransitionsByState == nil {
		// moto: the parent's own history, and its children's by Map.
		u.StandardTransitions = line.Transitions
		for mapName, n := range line.ChildTransitions {
			if w.distributed[mapName] != "EXPRESS" {
				u.StandardTransitions += n
			}
		}
	}
	for name, n := range line.TransitionsByState {
		if !w.express[name] {
			u.StandardTransitions += n
		}
	}
	for mapName, runs := range line.MapIterations {
		executionType, ok := w.distributed[mapName]
		if !ok {
			continue // an inline Map's iterations cost nothing by themselves
		}
		u.StandardTransitions += len(runs)
		if executionType != "EXPRESS" {
			continue
		}
		for _, r := range runs {
			u.ExpressRequests++
			u.ExpressGBSeconds += expressGBSeconds(int64(float64(r.Ms) * max(scale, 1)))
		}
	}
	return u
}

// expressGBSeconds is one Express child's billed duration: ms rounded up to
// 100 ms, at expressBilledMemoryMB.
func expressGBSeconds(ms int64) float64 {
	steps := max(1, (ms+expressDurationStepMs-1)/expressDurationStepMs)
	return float64(steps*expressDurationStepMs) / 1000 * expressBilledMemoryMB / 1024
}

func (u *stepFunctionsUsage) add(o stepFunctionsUsage) {
	u.StandardTransitions += o.StandardTransitions
	u.ExpressRequests += o.ExpressRequests
	u.ExpressGBSeconds += o.ExpressGBSeconds
	u.ChildrenCounted = u.ChildrenCounted || o.ChildrenCounted
}
