package cdkcontext

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIntake(t *testing.T) {
	// cdk.json's defaults are DefaultIntakeSettings: the local runner and a
	// deploy with no overrides batch the same way.
	t.Run("cdk.json equals DefaultIntakeSettings", func(t *testing.T) {
		got, err := Intake(readCDKContext(t))
		if err != nil {
			t.Fatalf("Intake(cdk.json): %v", err)
		}
		if diff := cmp.Diff(DefaultIntakeSettings(), got); diff != "" {
			t.Errorf("cdk.json context vs DefaultIntakeSettings (-default +cdk.json):\n%s", diff)
		}
	})

	tests := []struct {
		name    string
		change  map[string]any
		delete  string
		want    IntakeSettings
		wantErr string
	}{
		{name: "-c overrides arrive as strings", change: map[string]any{"pipeBatchSize": "10", "pipeBatchWindowSecs": " 0 "}, want: IntakeSettings{BatchSize: 10, BatchWindowSecs: 0}},
		{name: "the bounds themselves", change: map[string]any{"pipeBatchSize": 100, "pipeBatchWindowSecs": 300}, want: IntakeSettings{BatchSize: 100, BatchWindowSecs: 300}},
		{name: "missing key is named", delete: "pipeBatchSize", wantErr: "context pipeBatchSize is missing"},
		{name: "batch of no event", change: map[string]any{"pipeBatchSize": 0}, wantErr: "context pipeBatchSize = 0: must be a whole number from 1 to 100"},
		{name: "batch above one execution's files", change: map[string]any{"pipeBatchSize": "101"}, wantErr: "context pipeBatchSize = 101: must be a whole number from 1 to 100"},
		{name: "fraction", change: map[string]any{"pipeBatchSize": 2.5}, wantErr: "context pipeBatchSize = 2.5: must be a whole number"},
		{name: "window above the Pipe's 300 s", change: map[string]any{"pipeBatchWindowSecs": 301}, wantErr: "context pipeBatchWindowSecs = 301: must be a whole number from 0 to 300"},
		{name: "negative window", change: map[string]any{"pipeBatchWindowSecs": "-1"}, wantErr: "context pipeBatchWindowSecs = -1"},
		{name: "not a number", change: map[string]any{"pipeBatchWindowSecs": "a minute"}, wantErr: `context pipeBatchWindowSecs = "a minute": not a number`},
		{name: "a batch above 10 needs a window", change: map[string]any{"pipeBatchSize": 11, "pipeBatchWindowSecs": 0}, wantErr: "context pipeBatchWindowSecs = 0 with pipeBatchSize = 11"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := changedCDKContext(t, tc.change, tc.delete)
			got, err := Intake(ctx)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Intake: %v", err)
			}
			if got != tc.want {
				t.Errorf("Intake = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestIntakeKeysAreInCDKJSON(t *testing.T) {
	ctx := readCDKContext(t)
	for _, k := range IntakeKeys() {
		if _, ok := ctx[k]; !ok {
			t.Errorf("cdk.json lacks context key %s", k)
		}
	}
}
