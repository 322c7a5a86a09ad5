package statemachine

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestExpressBoundDefaults works out the Express child's worst case by hand
// from the rendered defaults. Each task makes every attempt its retriers
// allow; an attempt that runs takes its TimeoutSeconds, a retry waits its
// capped backoff, and the throttling retrier's attempts were refused by
// Lambda and take no run time:
//
//	Find open jobs: 1 + 1 (database) + 1 (Lambda faults) = 3 attempts x 10 s = 30 s,
//	  waits 1 (database) + 1 + 2 (throttling) + 1 (faults) = 5 s: 35 s
//	then one file (the chunk's 40 files all at once: MaxConcurrency 40):
//	  Copy file (Express): 1 + 1 (transient or faults) = 2 attempts x 75 s = 150 s,
//	    waits 1 + 1 + 2 = 4 s: 154 s
//	  Record copy complete (Express), or its error: 35 s, as Find open jobs
//	= 35 + 154 + 35 = 224 s, 46 s under ExpressBudget (270 s)
//
// The chunk size does not change it (the inner Map's MaxConcurrency is the
// chunk size), nor does the execution type moto's rendering asks for.
func TestExpressBoundDefaults(t *testing.T) {
	for name, change := range map[string]func(*Settings){
		"defaults":                          func(*Settings) {},
		"one file a chunk":                  func(s *Settings) { s.ChunkFiles = 1 },
		"ten files a chunk":                 func(s *Settings) { s.ChunkFiles = 10 },
		"STANDARD children (moto)":          func(s *Settings) { s.ChunkExecutionType = ExecutionTypeStandard },
		"the most children at once":         func(s *Settings) { s.ChunkMapMaxConcurrency = MaxDistributedMapConcurrency },
		"longer Standard lane copy timeout": func(s *Settings) { s.CopyTaskTimeoutSecs = 5000 },
	} {
		t.Run(name, func(t *testing.T) {
			s := withARNs(DefaultSettings())
			change(&s)
			def, err := Render(s)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ExpressBound(def)
			if err != nil {
				t.Fatal(err)
			}
			if want := 224 * time.Second; got != want {
				t.Errorf("ExpressBound = %s, want %s (hand-computed)", got, want)
			}
			if got > ExpressBudget || ExpressBudget >= ExpressDurationLimit {
				t.Errorf("bound %s above the budget %s, or the budget not under Express's %s", got, ExpressBudget, ExpressDurationLimit)
			}
			if err := CheckBounds(def); err != nil {
				t.Errorf("CheckBounds(defaults): %v", err)
			}
		})
	}
}

// TestExpressBoundRefusesLongerChildren: an edit of the rendered definition
// that lengthens the child changes the bound by what it adds, and one that
// takes it past ExpressBudget is refused by CheckBounds (which Render runs
// on the definition it renders).
func TestExpressBoundRefusesLongerChildren(t *testing.T) {
	def, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		state  string
		change func(st map[string]any)
		want   time.Duration
	}{
		{"a longer copy timeout: two attempts of 120 s", "Copy file (Express)",
			func(st map[string]any) { st["TimeoutSeconds"] = 120 }, (224 + 2*45) * time.Second},
		{"one more transient retry: one more 75 s attempt after a 2 s wait", "Copy file (Express)",
			func(st map[string]any) { retryEntry(st, 0)["MaxAttempts"] = 2 }, (224 + 75 + 2) * time.Second},
		// 58 more throttled retries wait 4 s each and run nothing.
		{"throttling retried 60 times adds only its waits", "Find open jobs",
			func(st map[string]any) { retryEntry(st, 1)["MaxAttempts"] = 60 }, (224 + 58*4) * time.Second},
		// 40 files at 20 at a time: two rounds of one file's 189 s.
		{"a chunk's files in two rounds", "Copy each file of the chunk",
			func(st map[string]any) { st["MaxConcurrency"] = 20 }, (35 + 2*189) * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			changed := editState(t, def, tc.state, tc.change)
			got, err := ExpressBound(changed)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("ExpressBound = %s, want %s", got, tc.want)
			}
			if err := CheckBounds(changed); err == nil || !strings.Contains(err.Error(), "an Express child") {
				t.Errorf("CheckBounds of a child of %s: error = %v, want the Express child refused", got, err)
			}
		})
	}
}

// TestRenderRefusesAnExpressChildBeyondTheBudget: a definition.asl.json
// whose Express copy task waits longer fails Render and ValidatePolicy,
// whatever the settings.
func TestRenderRefusesAnExpressChildBeyondTheBudget(t *testing.T) {
	saved := definition
	t.Cleanup(func() { definition = saved })
	const old = `"TimeoutSeconds": "${ExpressCopyTaskTimeoutSeconds}"`
	if !bytes.Contains(saved, []byte(old)) {
		t.Fatalf("definition.asl.json has no %s", old)
	}
	definition = bytes.Replace(saved, []byte(old), []byte(`"TimeoutSeconds": 150`), 1)
	if _, err := Render(withARNs(DefaultSettings())); err == nil || !strings.Contains(err.Error(), "an Express child") {
		t.Errorf("Render: error = %v, want the Express child refused", err)
	}
	if err := DefaultSettings().ValidatePolicy(); err == nil || !strings.Contains(err.Error(), "may run 6m14s") {
		t.Errorf("ValidatePolicy: error = %v, want the bound (35 + 2 x 150 + 4 + 35 = 374 s) named", err)
	}
}

// TestExpressBoundNeedsTheChunkSize: without States.ArrayPartition the
// chunk's files, and so the inner Map's rounds, are unknown.
func TestExpressBoundNeedsTheChunkSize(t *testing.T) {
	def, err := Render(withARNs(DefaultSettings()))
	if err != nil {
		t.Fatal(err)
	}
	changed := def
	for name, list := range map[string]string{"Read restored files": "$.files", SortResultsState: "$.deferred"} {
		changed = editState(t, changed, name, func(st map[string]any) {
			st["ResultSelector"].(map[string]any)["chunks.$"] = list
		})
	}
	if _, err := ExpressBound(changed); err == nil || !strings.Contains(err.Error(), "chunk size is unknown") {
		t.Errorf("ExpressBound without ArrayPartition: error = %v, want the chunk size unknown", err)
	}
}

// editState returns def with change applied to the state named name, at
// whatever depth.
func editState(t *testing.T, def []byte, name string, change func(map[string]any)) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(def, &doc); err != nil {
		t.Fatal(err)
	}
	st := findState(doc, name)
	if st == nil {
		t.Fatalf("no state %q", name)
	}
	change(st)
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// findState finds the state named name in list or its ItemProcessors.
func findState(list map[string]any, name string) map[string]any {
	states, _ := list["States"].(map[string]any)
	if st, ok := states[name].(map[string]any); ok {
		return st
	}
	for _, v := range states {
		if ip, ok := v.(map[string]any)["ItemProcessor"].(map[string]any); ok {
			if st := findState(ip, name); st != nil {
				return st
			}
		}
	}
	return nil
}

// retryEntry returns the i-th Retry entry of st.
func retryEntry(st map[string]any, i int) map[string]any {
	return st["Retry"].([]any)[i].(map[string]any)
}
