package statemachine

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The two lanes' Distributed Map states in definition.asl.json, by which
// the bounds find them.
const (
	// ExpressLaneMap runs one Express child per chunk of ChunkFiles files.
	ExpressLaneMap = "Copy chunks"
	// StandardLaneMap runs one Standard child per file the Express lane
	// did not finish: today's per-file iteration.
	StandardLaneMap = "Copy in the Standard lane"
	// SortResultsState sorts each round's results; its Parameters carry
	// the deferral policy (max_rounds, wait_base_secs, wait_cap_secs).
	SortResultsState = "Sort results"
)

// ExpressDurationLimit is the longest an Express execution runs: "Maximum
// execution time ... Express Workflows: 5 minutes"
// (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html,
// "Quotas related to state machine executions"). A child still running
// then is stopped and reports nothing; "Sort results" defers its whole chunk
// to go round again, so nothing is lost, but every file of the chunk is
// copied again.
const ExpressDurationLimit = 5 * time.Minute

// ExpressBudget is the most ExpressBound may find: ExpressDurationLimit
// less a 30 s (10 %) margin for what the bound does not count. The bound
// counts every task's attempts at their TimeoutSeconds and every retry's
// full wait, but not the time Step Functions takes to start the child and
// to move between its states (seven on the worst path), nor the round
// trip of an invocation Lambda refused (throttled: at most six on the
// path, counted as taking no time). Each is milliseconds on AWS; the margin
// allows a second each and then some.
const ExpressBudget = ExpressDurationLimit - 30*time.Second

// ExpressBound returns, for a rendered definition, the longest one Express
// child (ExpressLaneMap's ItemProcessor) can run when every task makes
// every attempt its retriers allow: "Find open jobs", then the longest path
// of one file through the chunk's inline Map, times the rounds the Map
// needs when its MaxConcurrency is below the chunk's files (1 when it
// copies the whole chunk at once, as the definition does). Each task takes
// its attempts x TimeoutSeconds plus its retries' capped backoff, the
// attempts of a throttling-only retrier taking no run time (taskWorst);
// Choice and Pass states take none. The chunk's files are the size the
// ResultSelectors of "Read restored files" and "Sort results" give
// States.ArrayPartition.
func ExpressBound(definition []byte) (time.Duration, error) {
	var doc aslStateList
	if err := json.Unmarshal(definition, &doc); err != nil {
		return 0, fmt.Errorf("express bound: read definition: %w", err)
	}
	worst, err := expressChildWorst(doc)
	if err != nil {
		return 0, fmt.Errorf("express bound: %w", err)
	}
	return seconds(worst), nil
}

// expressChildWorst is ExpressBound in seconds.
func expressChildWorst(doc aslStateList) (float64, error) {
	lane, chunk, err := expressLane(doc)
	if err != nil {
		return 0, err
	}
	w := newSpanWalker(*lane.ItemProcessor, false, chunk, 0)
	return w.from(lane.ItemProcessor.StartAt, ExpressLaneMap)
}

// expressLane returns ExpressLaneMap and the files of one chunk.
func expressLane(doc aslStateList) (aslState, int, error) {
	lane, ok := doc.States[ExpressLaneMap]
	if !ok || lane.Type != "Map" || lane.ItemProcessor == nil {
		return aslState{}, 0, fmt.Errorf("no Map state %q with an ItemProcessor", ExpressLaneMap)
	}
	chunk, err := chunkFiles(doc, lane.ItemsPath)
	if err != nil {
		return aslState{}, 0, err
	}
	return lane, chunk, nil
}

// arrayPartition matches the intrinsic that cuts the files ("Read restored
// files") or the deferred files ("Sort results") into chunks.
var arrayPartition = regexp.MustCompile(`^States\.ArrayPartition\(\s*\$\.(?:files|deferred)\s*,\s*(\d+)\s*\)$`)

// chunkFiles finds the chunk size: the largest States.ArrayPartition of
// the top-level states whose Parameters or ResultSelector write itemsPath
// (the Express Map's).
func chunkFiles(doc aslStateList, itemsPath string) (int, error) {
	key := strings.TrimPrefix(itemsPath, "$.") + ".$"
	largest := 0
	for _, st := range doc.States {
		for _, template := range []map[string]any{st.Parameters, st.ResultSelector} {
			expr, _ := template[key].(string)
			m := arrayPartition.FindStringSubmatch(expr)
			if m == nil {
				continue
			}
			n, err := strconv.Atoi(m[1])
			if err != nil || n < 1 {
				return 0, fmt.Errorf("chunk size %q: want a whole number of at least 1", m[1])
			}
			largest = max(largest, n)
		}
	}
	if largest == 0 {
		return 0, fmt.Errorf("no state writes %s with States.ArrayPartition($.files, N): the chunk size is unknown", itemsPath)
	}
	return largest, nil
}

// mapRounds is how many times over a Map runs its iterations one after
// another: items / MaxConcurrency, rounded up, where MaxConcurrency is at
// most limit (the Map's own) and 0 or absent means limit.
func mapRounds(st aslState, items, limit int) int {
	conc := limit
	if st.MaxConcurrency != nil && *st.MaxConcurrency > 0 {
		conc = min(*st.MaxConcurrency, limit)
	}
	return max(1, (items+conc-1)/conc)
}

// seconds rounds a bound in seconds up to a whole second.
func seconds(s float64) time.Duration {
	return time.Duration(math.Ceil(s)) * time.Second
}
