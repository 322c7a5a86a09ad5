package cdkcontext

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// changedCDKContext is cdk.json's context with change set over it and the
// key del (when not "") removed.
func changedCDKContext(t *testing.T, change map[string]any, del string) map[string]any {
	t.Helper()
	ctx := readCDKContext(t)
	for k, v := range change {
		ctx[k] = v
	}
	if del != "" {
		delete(ctx, del)
	}
	return ctx
}

// readCDKContext returns the "context" object of the repository's cdk.json.
func readCDKContext(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "cdk.json"))
	if err != nil {
		t.Fatalf("read cdk.json: %v", err)
	}
	var cdk struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &cdk); err != nil {
		t.Fatalf("parse cdk.json: %v", err)
	}
	return cdk.Context
}

func TestWorkflowSettings(t *testing.T) {
	// cdk.json's defaults are DefaultSettings: a local run and a deploy with
	// no overrides use the same policy.
	t.Run("cdk.json equals DefaultSettings", func(t *testing.T) {
		got, err := WorkflowSettings(readCDKContext(t))
		if err != nil {
			t.Fatalf("WorkflowSettings(cdk.json): %v", err)
		}
		if diff := cmp.Diff(statemachine.DefaultSettings(), got); diff != "" {
			t.Errorf("cdk.json context vs DefaultSettings (-default +cdk.json):\n%s", diff)
		}
	})

	tests := []struct {
		name    string
		change  map[string]any
		delete  string
		check   func(statemachine.Settings) bool
		wantErr string
	}{
		{
			name:   "-c overrides arrive as strings",
			change: map[string]any{"copyRetries": "5", "copyRetryBackoffRate": "1.5", "mapMaxConcurrency": " 4 "},
			check: func(s statemachine.Settings) bool {
				return s.CopyRetries == 5 && s.CopyRetryBackoffRate == 1.5 && s.MapMaxConcurrency == 4
			},
		},
		{name: "missing key is named", delete: "copyRetries", wantErr: "context copyRetries is missing"},
		{name: "not a number", change: map[string]any{"copyRetrySleepSecs": "soon"}, wantErr: `context copyRetrySleepSecs = "soon": not a number`},
		{name: "fraction where a whole number is needed", change: map[string]any{"copyRetries": 2.5}, wantErr: "context copyRetries = 2.5: must be a whole number"},
		{name: "out of range", change: map[string]any{"mapMaxConcurrency": "0"}, wantErr: "mapMaxConcurrency = 0"},
		{name: "wrong type", change: map[string]any{"taskTimeoutSecs": []any{1}}, wantErr: "context taskTimeoutSecs"},
		{
			name:   "chunk settings from context",
			change: map[string]any{"chunkFiles": "25", "chunkMapMaxConcurrency": 500},
			check: func(s statemachine.Settings) bool {
				return s.ChunkFiles == 25 && s.ChunkMapMaxConcurrency == 500 && s.ChunkExecutionType == ""
			},
		},
		{name: "chunk above the inline Map's 40", change: map[string]any{"chunkFiles": 41}, wantErr: "chunkFiles = 41: must be between 1 and 40"},
		{name: "chunks above Distributed Map's 10,000", change: map[string]any{"chunkMapMaxConcurrency": 10001}, wantErr: "chunkMapMaxConcurrency = 10001: must be between 1 and 10000"},
		{name: "missing chunk key is named", delete: "chunkFiles", wantErr: "context chunkFiles is missing"},
		{name: "copy task timeout not above the copy Lambda's", change: map[string]any{"copyTaskTimeoutSecs": "900"}, wantErr: "copyTaskTimeoutSecs = 900: must exceed the copy Lambda's timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := changedCDKContext(t, tc.change, tc.delete)
			got, err := WorkflowSettings(ctx)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("WorkflowSettings: %v", err)
			}
			if !tc.check(got) {
				t.Errorf("settings not taken from context: %+v", got)
			}
		})
	}
}

func TestWorkflowKeysAreInCDKJSON(t *testing.T) {
	ctx := readCDKContext(t)
	var missing []string
	for _, k := range WorkflowKeys() {
		if _, ok := ctx[k]; !ok {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("cdk.json lacks context keys %v", missing)
	}
}

func TestNumber(t *testing.T) {
	ctx := map[string]any{"f": 2.5, "i": 3, "i64": int64(4), "j": json.Number("5"), "s": " 6 ", "bad": "x", "nil": nil, "list": []any{1}}
	for _, tc := range []struct {
		key     string
		want    float64
		wantErr string
	}{
		{key: "f", want: 2.5}, {key: "i", want: 3}, {key: "i64", want: 4}, {key: "j", want: 5}, {key: "s", want: 6},
		{key: "bad", wantErr: `context bad = "x": not a number`},
		{key: "nil", wantErr: "context nil is missing"},
		{key: "absent", wantErr: "context absent is missing"},
		{key: "list", wantErr: "context list = [1] ([]interface {}): not a number"},
	} {
		got, err := Number(ctx, tc.key)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Number(%q) error = %v, want one containing %q", tc.key, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Number(%q) = %v, %v; want %v", tc.key, got, err, tc.want)
		}
	}
}
