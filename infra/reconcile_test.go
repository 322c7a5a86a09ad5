package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/infra/cdkcontext"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// actionsOf returns the actions of statements, by Sid.
func actionsOf(stmts []map[string]any) map[string]string {
	out := map[string]string{}
	for _, st := range stmts {
		sid, _ := st["Sid"].(string)
		b, _ := json.Marshal(st["Action"])
		out[sid] = string(b)
	}
	return out
}

func TestReconcileSweep(t *testing.T) {
	if reconcile.FunctionName != statemachine.FunctionReconcile {
		t.Fatalf("reconcile.FunctionName %q (its metrics' Function) differs from statemachine.FunctionReconcile %q (the folder deployed)",
			reconcile.FunctionName, statemachine.FunctionReconcile)
	}
	// GIVEN cdk.json's defaults (hourly sweep, 1,320 minutes' grace, no re-restore)
	s := synth(t, map[string]any{"restoreBuckets": []any{"restore-a", "restore-b"}, "archiveBuckets": []any{"archive-a"}})
	r := s.stack.Reconciler
	if r == nil {
		t.Fatal("no reconcile sweep with the default reconcilePeriodMinutes")
	}
	fnID := s.logicalID(r.Function.Function.Node().DefaultChild())
	roleID := s.logicalID(r.Function.Role.Node().DefaultChild())
	smID := s.logicalID(s.stack.Workflow.StateMachine.Node().DefaultChild())
	intakeID := s.logicalID(s.stack.Intake.Queue.Node().DefaultChild())

	t.Run("the function's settings", func(t *testing.T) {
		// THEN it gets the database settings, the restore buckets and the
		// sweep's policy, and the workflow's ARN
		env := s.props(t, fnID)["Environment"].(map[string]any)["Variables"].(map[string]any)
		want := map[string]any{
			"DATABASE_PORT": "5432", "DATABASE_NAME": "disaster_recovery", "DATABASE_USER": "druser",
			"DATABASE_HOST_PARAMETER": "drdb-host", "DATABASE_PASSWORD_PARAMETER": "drdb-user-pass",
			"DATABASE_SSLMODE": "verify-full", "DATABASE_MAX_CONNS": "1",
			"SOURCE_BUCKETS": "restore-a,restore-b", "STATE_MACHINE_ARN": map[string]any{"Ref": smID},
			"RECONCILE_PERIOD_MINUTES": "60", "RECONCILE_GRACE_MINUTES": "1320", "RECONCILE_RERESTORE": "false",
			"RECONCILE_RERESTORE_DAYS": "3", "RECONCILE_RERESTORE_TIER": "Standard",
			// the function's defaults, now listed (reconcile.Config.Env); the batch is cdk.json's reconcileMaxFilesPerExecution
			"RECONCILE_PAGE_SIZE": "500", "RECONCILE_MAX_FILES_PER_EXECUTION": "8",
			"RECONCILE_MAX_FILES_PER_SWEEP": "10000",
			// the intake it holds off for: its URL (the queue's Ref) and
			// the age past which the intake is stalled
			"RECONCILE_INTAKE_QUEUE_URL": map[string]any{"Ref": intakeID}, "RECONCILE_INTAKE_GRACE_SECONDS": "300",
		}
		if diff := cmp.Diff(want, env); diff != "" {
			t.Errorf("environment (-want +got):\n%s", diff)
		}
		// AND each variable is one reconcile.ConfigFromEnv or the database
		// configuration reads
		cfgEnv := map[string]string{}
		for k, v := range env {
			if s, ok := v.(string); ok {
				cfgEnv[k] = s
			}
		}
		cfgEnv[reconcile.EnvStateMachineARN] = "arn:aws:states:us-east-1:123456789012:stateMachine:x"
		cfgEnv[reconcile.EnvIntakeQueueURL] = "https://sqs.us-east-1.amazonaws.com/123456789012/intake"
		if _, err := reconcile.ConfigFromEnv(func(k string) string { return cfgEnv[k] }); err != nil {
			t.Errorf("reconcile.ConfigFromEnv refuses the deployed environment: %v", err)
		}
	})

	t.Run("least privilege", func(t *testing.T) {
		// THEN it may HEAD the restore buckets' objects, start this
		// workflow, read the database's parameters, and not restore
		got := actionsOf(s.statements(roleID))
		for sid, want := range map[string]string{
			"AskAboutRestoredObjects": `"s3:GetObject"`, "TellMissingRestoredObjects": `"s3:ListBucket"`,
			"StartCopies": `"states:StartExecution"`, "ReadDatabaseParameters": `"ssm:GetParameter"`,
			"DecryptDatabasePasswordThroughSSM": `"kms:Decrypt"`, "ReadIntakeAge": `"cloudwatch:GetMetricData"`,
		} {
			if got[sid] != want {
				t.Errorf("statement %s: actions %s, want %s (all: %v)", sid, got[sid], want, got)
			}
		}
		if _, ok := got["RequestExpiredRestoresAgain"]; ok {
			t.Error("s3:RestoreObject is granted though reconcileReRestore is false")
		}
		for _, st := range s.statements(roleID) {
			if st["Sid"] == "StartCopies" {
				if diff := cmp.Diff(map[string]any{"Ref": smID}, st["Resource"]); diff != "" {
					t.Errorf("StartExecution on (-want +got):\n%s", diff)
				}
			}
			// GetMetricData has no resource type: "*" is its only resource
			if st["Sid"] == "ReadIntakeAge" && st["Resource"] != "*" {
				t.Errorf("GetMetricData on %v, want *", st["Resource"])
			}
		}
	})

	t.Run("schedule, alarms and no cdk-nag finding", func(t *testing.T) {
		rules := 0
		for _, rule := range s.resources("AWS::Events::Rule") {
			if rule["Properties"].(map[string]any)["ScheduleExpression"] == "rate(1 hour)" {
				rules++
			}
		}
		if rules != 1 {
			t.Errorf("%d rules with ScheduleExpression rate(1 hour), want 1", rules)
		}
		var names []string
		for _, a := range s.resources("AWS::CloudWatch::Alarm") {
			b, _ := json.Marshal(a["Properties"].(map[string]any)["AlarmName"])
			names = append(names, string(b))
		}
		for _, want := range []string{"FilesStuckAcrossSweeps", "RestoresExpiredBeforeCopy", "ReconcileFailed"} {
			if !strings.Contains(strings.Join(names, " "), "-"+want) {
				t.Errorf("no alarm named <stack>-%s among %v", want, names)
			}
		}
		if f := nagFindings(s); len(f) > 0 {
			t.Errorf("cdk-nag findings:\n%s", strings.Join(f, "\n"))
		}
	})

	t.Run("re-restore on, and the sweep off", func(t *testing.T) {
		// GIVEN reconcileReRestore=true
		on := synth(t, map[string]any{"restoreBuckets": []any{"restore-a"}, "archiveBuckets": []any{"archive-a"},
			"reconcileReRestore": "true", "reconcilePeriodMinutes": "30"})
		got := actionsOf(on.statements(on.logicalID(on.stack.Reconciler.Function.Role.Node().DefaultChild())))
		// THEN RestoreObject is granted
		if got["RequestExpiredRestoresAgain"] != `"s3:RestoreObject"` {
			t.Errorf("re-restore on: statements %v, want s3:RestoreObject", got)
		}
		// AND the function is told so, and the period
		onEnv := on.props(t, on.logicalID(on.stack.Reconciler.Function.Function.Node().DefaultChild()))["Environment"].(map[string]any)["Variables"].(map[string]any)
		if onEnv[reconcile.EnvReRestore] != "true" || onEnv[reconcile.EnvPeriodMinutes] != "30" {
			t.Errorf("re-restore on, every 30 minutes: environment %v", onEnv)
		}
		// GIVEN a longer batching window: THEN the intake grace follows
		// the age past which the intake is stalled
		slow := synth(t, map[string]any{"restoreBuckets": []any{"restore-a"}, "archiveBuckets": []any{"archive-a"},
			cdkcontext.ContextPipeBatchWindowSecs: 300})
		slowEnv := slow.props(t, slow.logicalID(slow.stack.Reconciler.Function.Function.Node().DefaultChild()))["Environment"].(map[string]any)["Variables"].(map[string]any)
		if got := slowEnv[reconcile.EnvIntakeGraceSecs]; got != "780" {
			t.Errorf("a 300 s batching window: %s = %v, want 780 (300 + 300 + 6 × 30)", reconcile.EnvIntakeGraceSecs, got)
		}
		// GIVEN reconcilePeriodMinutes=0: THEN no sweep at all
		off := synth(t, map[string]any{"restoreBuckets": []any{"restore-a"}, "archiveBuckets": []any{"archive-a"},
			"reconcilePeriodMinutes": 0})
		if off.stack.Reconciler != nil || len(off.resources("AWS::Lambda::Function")) != len(functionNames) {
			t.Errorf("reconcilePeriodMinutes=0 still deploys a sweep")
		}
	})
}

func TestReconcileContextErrors(t *testing.T) {
	ctx := cdkJSONContext(t)
	ctx["restoreBuckets"], ctx["archiveBuckets"] = []any{"restore-a"}, []any{"archive-a"}
	ctx[ctxReconcileReRestoreTier] = "Fast"
	ctx[ctxReconcileGraceMinutes] = -5
	ctx[ctxReconcilePeriodMinutes] = 2000
	_, err := ConfigFromContext(func(k string) any { return ctx[k] })
	for _, want := range []string{`reconcileReRestoreTier = "Fast": want one of Standard, Bulk, Expedited`, "reconcileGraceMinutes = -5",
		"reconcilePeriodMinutes = 2000: want a whole number from 0 to 1440"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}

// TestReconcileGraceCoversTheWorkflow: synth refuses a reconcile grace
// shorter than the longest the workflow can leave a row unmarked
// (statemachine.MaxUnmarked), naming the key, the grace, the bound and the
// fix; cdk.json's default passes with the default workflow settings, and a
// workflow setting that lengthens the bound past the grace is refused.
func TestReconcileGraceCoversTheWorkflow(t *testing.T) {
	bound, err := statemachine.MaxUnmarked(statemachine.DefaultSettings())
	if err != nil {
		t.Fatal(err)
	}
	boundMin := int((bound + time.Minute - 1) / time.Minute) // 1277 with the defaults
	tests := []contextCase{
		{name: "cdk.json's defaults"},
		{name: "the grace the sweep had before the mark",
			set: map[string]any{ctxReconcileGraceMinutes: 60},
			wantErr: []string{"reconcileGraceMinutes = 60: shorter than the longest the workflow can leave a file's row unmarked",
				fmt.Sprintf("%d minutes (%s", boundMin, bound), fmt.Sprintf("set reconcileGraceMinutes to at least %d", boundMin)}},
		{name: "one minute short", set: map[string]any{ctxReconcileGraceMinutes: boundMin - 1},
			wantErr: []string{fmt.Sprintf("reconcileGraceMinutes = %d: shorter", boundMin-1)}},
		{name: "exactly the bound, rounded up", set: map[string]any{ctxReconcileGraceMinutes: boundMin}},
		// 3 copy attempts run: 3 x (2000 - 960) s = 52 minutes more, 1329 > 1320
		{name: "a longer copy task timeout outgrows the default grace",
			set:     map[string]any{statemachine.ContextCopyTaskTimeoutSecs: 2000},
			wantErr: []string{"reconcileGraceMinutes = 1320: shorter", "copyTaskTimeoutSecs"}},
		{name: "no sweep, no grace to check",
			set: map[string]any{ctxReconcileGraceMinutes: 60, ctxReconcilePeriodMinutes: 0}},
	}
	checkContextCases(t, tests)
}

// TestReconcileBatchWithinHistoryBound: synth refuses a
// reconcileMaxFilesPerExecution above the history bound of the deployment's
// own workflow settings (statemachine.MaxFilesPerExecution), naming the
// key, the value, the bound and the settings; cdk.json's default passes.
func TestReconcileBatchWithinHistoryBound(t *testing.T) {
	tests := []contextCase{
		{name: "cdk.json's defaults"},
		{name: "more files than one execution carries",
			set:     map[string]any{ctxReconcileMaxFiles: 101, statemachine.ContextMapMaxConcurrency: 40},
			wantErr: []string{"reconcileMaxFilesPerExecution = 101: above 100, the most files one execution carries", "set reconcileMaxFilesPerExecution to at most 100"}},
		// The history bound no longer depends on the files: a Standard
		// lane child holds one file, the parent's Maps are Distributed.
		{name: "most copy retries, most files the Standard lane runs at once",
			set: map[string]any{statemachine.ContextCopyRetries: 100, statemachine.ContextMapMaxConcurrency: 40, ctxReconcileMaxFiles: 40, ctxReconcileGraceMinutes: 2923}},
		{name: "no sweep, no batch to check", set: map[string]any{ctxReconcileMaxFiles: 500, ctxReconcilePeriodMinutes: 0}},
		// A file queued behind others in the Map is unmarked until its
		// turn, which the grace's bound does not count.
		{name: "more files than the Map runs at once",
			set: map[string]any{statemachine.ContextMapMaxConcurrency: 4},
			wantErr: []string{"reconcileMaxFilesPerExecution = 8: above mapMaxConcurrency = 4", "unmarked until their turn",
				"set reconcileMaxFilesPerExecution to at most 4, or raise mapMaxConcurrency"}},
		{name: "as many files as the Map runs at once",
			set: map[string]any{statemachine.ContextMapMaxConcurrency: 4, ctxReconcileMaxFiles: 4}},
	}
	checkContextCases(t, tests)
}

// cdk.json's reconcile defaults are the function's own (what a sweep does
// without them set, as the local runner runs it).
func TestReconcileDefaultsMatchTheFunction(t *testing.T) {
	ctx := cdkJSONContext(t)
	got := map[string]any{ctxReconcilePeriodMinutes: ctx[ctxReconcilePeriodMinutes], ctxReconcileGraceMinutes: ctx[ctxReconcileGraceMinutes],
		ctxReconcileReRestore: ctx[ctxReconcileReRestore], ctxReconcileReRestoreDays: ctx[ctxReconcileReRestoreDays],
		ctxReconcileReRestoreTier: ctx[ctxReconcileReRestoreTier], ctxReconcileMaxFiles: ctx[ctxReconcileMaxFiles]}
	want := map[string]any{ctxReconcilePeriodMinutes: float64(reconcile.DefaultPeriodMinutes), ctxReconcileGraceMinutes: float64(reconcile.DefaultGraceMinutes),
		ctxReconcileReRestore: false, ctxReconcileReRestoreDays: float64(reconcile.DefaultReRestoreDays),
		ctxReconcileReRestoreTier: reconcile.DefaultReRestoreTier, ctxReconcileMaxFiles: float64(reconcile.DefaultMaxFilesPerExecution)}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cdk.json (-reconcile's defaults +cdk.json):\n%s", diff)
	}
	// The sweep's default intake grace is the age past which cdk.json's
	// intake is stalled (what the stack deploys).
	if stalled := IntakeStalledSecs(cdkcontext.DefaultIntakeSettings()); stalled != reconcile.DefaultIntakeGraceSecs {
		t.Errorf("reconcile.DefaultIntakeGraceSecs %d, the default intake's stalled age %d", reconcile.DefaultIntakeGraceSecs, stalled)
	}
}

// contextCase is cdk.json's context with set over it, and the fragments
// the synth error must hold (none: the context is accepted).
type contextCase struct {
	name    string
	set     map[string]any
	wantErr []string
}

// checkContextCases runs ConfigFromContext on each case, with one restore
// and one archive bucket, and checks its error.
func checkContextCases(t *testing.T, tests []contextCase) {
	t.Helper()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := cdkJSONContext(t)
			ctx["restoreBuckets"], ctx["archiveBuckets"] = []any{"restore-a"}, []any{"archive-a"}
			maps.Copy(ctx, tc.set)
			_, err := ConfigFromContext(func(k string) any { return ctx[k] })
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("ConfigFromContext: %v", err)
				}
				return
			}
			for _, want := range tc.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("error %v does not say %q", err, want)
				}
			}
		})
	}
}
