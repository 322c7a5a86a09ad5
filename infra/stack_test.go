package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// TestMain stops the jsii runtime (a Node process) after the tests. jsii
// prints a Node end-of-life banner unless JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=20
// is in the environment of `go test`.
func TestMain(m *testing.M) {
	code := m.Run()
	jsii.Close()
	os.Exit(code)
}

// cdkJSONContext is the "context" of the repository's cdk.json.
func cdkJSONContext(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "cdk.json"))
	if err != nil {
		t.Fatalf("read cdk.json: %v", err)
	}
	var doc struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parse cdk.json: %v", err)
	}
	return doc.Context
}

// synthesized is one synthesized variant of the stack, shared by subtests
// (a synth costs seconds of jsii).
type synthesized struct {
	stack    *ArchiveCopyStack
	template assertions.Template
	json     map[string]any // the template as plain JSON
	cfg      Config
}

// synth builds the stack from cdk.json's context plus overrides, the way
// `cdk synth -c key=value` would, with a stand-in for the Lambda code.
func synth(t *testing.T, overrides map[string]any) synthesized {
	t.Helper()
	return synthEnv(t, overrides, func(Config) *awscdk.Environment { return nil })
}

// synthEnv is synth with the stack's environment chosen from the Config
// (StackEnv, as main does, or a fixed one).
func synthEnv(t *testing.T, overrides map[string]any, env func(Config) *awscdk.Environment) synthesized {
	t.Helper()
	ctx := cdkJSONContext(t)
	for k, v := range overrides {
		ctx[k] = v
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx, Outdir: jsii.String(t.TempDir())})
	cfg, err := ConfigFromContext(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err != nil {
		t.Fatalf("ConfigFromContext: %v", err)
	}
	codeDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(codeDir, "bootstrap"), []byte("stand-in"), 0o755); err != nil {
		t.Fatal(err)
	}
	stack, err := NewArchiveCopyStack(app, stackID, &ArchiveCopyStackProps{
		StackProps:   awscdk.StackProps{Env: env(cfg)},
		Config:       cfg,
		FunctionCode: func(string) awslambda.Code { return awslambda.Code_FromAsset(jsii.String(codeDir), nil) },
	})
	if err != nil {
		t.Fatalf("NewArchiveCopyStack: %v", err)
	}
	tmpl := assertions.Template_FromStack(stack.Stack, nil)
	raw, err := json.Marshal(tmpl.ToJSON())
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return synthesized{stack: stack, template: tmpl, json: doc, cfg: cfg}
}

// resources returns the template's resources of one type, by logical id.
func (s synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.json["Resources"].(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] == typ {
			out[id] = res
		}
	}
	return out
}

// props returns the Properties of the resource with the logical id.
func (s synthesized) props(t *testing.T, id string) map[string]any {
	t.Helper()
	r, ok := s.json["Resources"].(map[string]any)[id].(map[string]any)
	if !ok {
		t.Fatalf("no resource %s in the template", id)
	}
	p, _ := r["Properties"].(map[string]any)
	return p
}

// logicalID is the logical id of a construct's CloudFormation resource.
func (s synthesized) logicalID(defaultChild any) string {
	return *s.stack.GetLogicalId(defaultChild.(awscdk.CfnElement))
}

func (s synthesized) functionID(name string) string {
	return s.logicalID(s.stack.Functions[name].Function.Node().DefaultChild())
}

func (s synthesized) roleID(name string) string {
	return s.logicalID(s.stack.Functions[name].Role.Node().DefaultChild())
}

// statements returns the IAM statements of every AWS::IAM::Policy attached
// to the role with the given logical id, plus its inline policies.
func (s synthesized) statements(roleID string) []map[string]any {
	var out []map[string]any
	for _, p := range s.resources("AWS::IAM::Policy") {
		props := p["Properties"].(map[string]any)
		attached := false
		for _, r := range props["Roles"].([]any) {
			if ref, ok := r.(map[string]any)["Ref"]; ok && ref == roleID {
				attached = true
			}
		}
		if !attached {
			continue
		}
		for _, st := range props["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			out = append(out, st.(map[string]any))
		}
	}
	return out
}

// bySid finds the statement with the Sid.
func bySid(t *testing.T, sts []map[string]any, sid string) map[string]any {
	t.Helper()
	for _, st := range sts {
		if st["Sid"] == sid {
			return st
		}
	}
	t.Fatalf("no statement %q among %v", sid, sts)
	return nil
}

// actions lists a statement's actions (Action may be a string or a list).
func actions(st map[string]any) []string {
	switch a := st["Action"].(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			out = append(out, x.(string))
		}
		return out
	}
	return nil
}

// asList turns a Resource (string, object or list) into a list.
func asList(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	return []any{v}
}

// sub is how the template spells awscdk.Fn_Sub(s).
func sub(s string) map[string]any { return map[string]any{"Fn::Sub": s} }

// getAttArn is how the template refers to a resource's ARN.
func getAttArn(id string) map[string]any { return map[string]any{"Fn::GetAtt": []any{id, "Arn"}} }

// expect runs a CDK assertion, which reports failure by panicking through
// jsii, as a test error.
func expect(t *testing.T, what string, assertion func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	assertion()
}

// nagFindings lists cdk-nag's unsuppressed AwsSolutions errors and warnings.
func nagFindings(s synthesized) []string {
	var out []string
	ann := assertions.Annotations_FromStack(s.stack.Stack)
	pattern := assertions.Match_StringLikeRegexp(jsii.String("AwsSolutions-.*"))
	for _, m := range *ann.FindError(jsii.String("*"), pattern) {
		out = append(out, fmt.Sprintf("error at %s: %v", *m.Id, m.Entry.Data))
	}
	for _, m := range *ann.FindWarning(jsii.String("*"), pattern) {
		out = append(out, fmt.Sprintf("warning at %s: %v", *m.Id, m.Entry.Data))
	}
	return out
}

// resolveDefinition turns the state machine's DefinitionString (an Fn::Join
// of text and Fn::GetAtt of the functions) into text, writing each function
// ARN as "arn:<logical id>".
func resolveDefinition(t *testing.T, def any) string {
	t.Helper()
	if s, ok := def.(string); ok {
		return s
	}
	join, ok := def.(map[string]any)["Fn::Join"].([]any)
	if !ok || len(join) != 2 || join[0] != "" {
		t.Fatalf("DefinitionString is neither text nor Fn::Join: %v", def)
	}
	var b strings.Builder
	for _, part := range join[1].([]any) {
		switch p := part.(type) {
		case string:
			b.WriteString(p)
		case map[string]any:
			att, ok := p["Fn::GetAtt"].([]any)
			if !ok || att[1] != "Arn" {
				t.Fatalf("unexpected part of the definition: %v", p)
			}
			b.WriteString("arn:" + att[0].(string))
		default:
			t.Fatalf("unexpected part of the definition: %v", p)
		}
	}
	return b.String()
}

// checkDeployedDefinition: what CloudFormation receives is Render of the
// same settings, with the functions' ARNs in the right tasks.
func checkDeployedDefinition(t *testing.T, s synthesized) {
	t.Helper()
	// GIVEN the synthesized state machine
	sms := s.resources("AWS::StepFunctions::StateMachine")
	if len(sms) != 1 {
		t.Fatalf("want 1 state machine, got %d", len(sms))
	}
	var deployed any
	for _, sm := range sms {
		deployed = sm["Properties"].(map[string]any)["DefinitionString"]
	}
	// WHEN the definition is resolved and the settings rendered locally
	settings := s.cfg.Workflow
	settings.FunctionARNs = map[string]string{}
	for _, name := range functionNames {
		settings.FunctionARNs[name] = "arn:" + s.functionID(name)
	}
	want, err := statemachine.Render(settings)
	if err != nil {
		t.Fatal(err)
	}
	// THEN they are the same document
	var gotDoc, wantDoc any
	if err := json.Unmarshal([]byte(resolveDefinition(t, deployed)), &gotDoc); err != nil {
		t.Fatalf("deployed definition is not JSON: %v", err)
	}
	if err := json.Unmarshal(want, &wantDoc); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantDoc, gotDoc); diff != "" {
		t.Errorf("deployed definition differs from statemachine.Render (-render +deployed):\n%s", diff)
	}
}

func TestStackWithDefaults(t *testing.T) {
	// GIVEN cdk.json's defaults and the two required bucket lists
	// WHEN the stack is synthesized (once; the subtests share the template)
	s := synth(t, map[string]any{
		"restoreBuckets": []any{"restore-a", "restore-b"},
		"archiveBuckets": []any{"archive-a"},
	})

	t.Run("the Go Lambdas on provided.al2023 arm64 with JSON logs and X-Ray", func(t *testing.T) {
		// THEN each function is a bootstrap on provided.al2023/arm64, traced,
		// logging JSON to its own log group
		// (and the reconcile sweep's: reconcile_test.go)
		fns := s.resources("AWS::Lambda::Function")
		if len(fns) != len(functionNames)+1 {
			t.Errorf("want %d functions, got %d", len(functionNames)+1, len(fns))
		}
		// Each function has its listed timeout: copy-file Lambda's
		// maximum, the others 30 s.
		timeouts := map[string]float64{}
		for _, f := range statemachine.Functions {
			timeouts[f.Name] = float64(f.TimeoutSecs)
		}
		if timeouts[statemachine.FunctionCopyFile] != 900 || timeouts[statemachine.FunctionParseEvent] != 30 {
			t.Errorf("listed timeouts %v; want copy-file 900 s, the others 30 s", timeouts)
		}
		for _, name := range functionNames {
			p := s.props(t, s.functionID(name))
			got := map[string]any{
				"Runtime": p["Runtime"], "Architectures": p["Architectures"], "Handler": p["Handler"],
				"TracingConfig": p["TracingConfig"], "LogFormat": p["LoggingConfig"].(map[string]any)["LogFormat"],
				"Timeout": p["Timeout"],
			}
			want := map[string]any{
				"Runtime": "provided.al2023", "Architectures": []any{"arm64"}, "Handler": "bootstrap",
				"TracingConfig": map[string]any{"Mode": "Active"}, "LogFormat": "JSON", "Timeout": timeouts[name],
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", name, diff)
			}
			logGroup := p["LoggingConfig"].(map[string]any)["LogGroup"]
			if diff := cmp.Diff(map[string]any{"Ref": s.logicalID(s.stack.Functions[name].LogGroup.Node().DefaultChild())}, logGroup); diff != "" {
				t.Errorf("%s logs to the wrong log group (-want +got):\n%s", name, diff)
			}
			if _, inVPC := p["VpcConfig"]; inVPC {
				t.Errorf("%s is in a VPC though no vpcId is set", name)
			}
		}
	})

	t.Run("application log level pinned to the metrics lines' level", func(t *testing.T) {
		// THEN every function's ApplicationLogLevel is the level the EMF
		// metrics lines are written at (Lambda drops JSON lines below it,
		// so a higher level would blank the dashboard), and SystemLogLevel
		// is WARN: no START/REPORT lines, whose bytes the load runner counts
		// at the same level (lambdafn.SystemLogLevel)
		for _, name := range functionNames {
			lc := s.props(t, s.functionID(name))["LoggingConfig"].(map[string]any)
			got := map[string]any{"ApplicationLogLevel": lc["ApplicationLogLevel"], "SystemLogLevel": lc["SystemLogLevel"]}
			want := map[string]any{"ApplicationLogLevel": metrics.LambdaLogLevel, "SystemLogLevel": "WARN"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s LoggingConfig (-want +got):\n%s", name, diff)
			}
		}
		if metrics.Level != slog.LevelInfo || metrics.LambdaLogLevel != "INFO" {
			t.Errorf("metrics lines at %v, pinned level %s: they must agree", metrics.Level, metrics.LambdaLogLevel)
		}
	})

	t.Run("log groups keep logs for logRetentionDays", func(t *testing.T) {
		// THEN the functions' log groups and the state machine's keep 90 days
		groups := s.resources("AWS::Logs::LogGroup")
		// (copy-file-express logs to copy-file's)
		if len(groups) != len(statemachine.Folders())+2 { // and the reconcile sweep's
			t.Errorf("want %d log groups, got %d", len(statemachine.Folders())+2, len(groups))
		}
		for id, g := range groups {
			if got := g["Properties"].(map[string]any)["RetentionInDays"]; got != float64(90) {
				t.Errorf("%s RetentionInDays = %v, want 90", id, got)
			}
		}
	})

	t.Run("copy Lambda environment", func(t *testing.T) {
		// THEN the copy Lambda gets the allowlists and the multipart settings
		env := s.props(t, s.functionID(statemachine.FunctionCopyFile))["Environment"].(map[string]any)["Variables"]
		// (every setting copyfile.ConfigFromEnv reads, defaults included, so
		// the template shows what the function runs with)
		want := map[string]any{
			"SOURCE_BUCKETS": "restore-a,restore-b", "ARCHIVE_BUCKETS": "archive-a",
			"MULTIPART_THRESHOLD_MB": "24", "MULTIPART_CHUNKSIZE_MB": "1024", "MULTIPART_CONCURRENCY": "256",
			"MULTIPART_MIN_PART_MB": "12", "MULTIPART_CHECKSUM": "source",
			"ARCHIVE_OBJECT_ACL":        "bucket-owner-full-control",
			"COPY_DEADLINE_MARGIN_SECS": "30", "COPY_PROGRESS_SECS": "30",
		}
		if diff := cmp.Diff(want, env); diff != "" {
			t.Errorf("copy-file environment (-want +got):\n%s", diff)
		}
	})

	t.Run("copy-file-express is copy-file deployed again at its own memory", func(t *testing.T) {
		// THEN the Express lane's copy function has copy-file's environment,
		// role (the one principal of the CopyRoleArn output) and log group,
		// and the memory statemachine.Functions gives each
		std := s.props(t, s.functionID(statemachine.FunctionCopyFile))
		express := s.props(t, s.functionID(statemachine.FunctionCopyFileExpress))
		if s.functionID(statemachine.FunctionCopyFile) == s.functionID(statemachine.FunctionCopyFileExpress) {
			t.Fatal("one function for both lanes")
		}
		for _, key := range []string{"Environment", "Role", "LoggingConfig", "Runtime", "Handler", "Timeout"} {
			if diff := cmp.Diff(std[key], express[key]); diff != "" {
				t.Errorf("%s differs (-copy-file +copy-file-express):\n%s", key, diff)
			}
		}
		got := map[string]any{"copy-file": std["MemorySize"], "copy-file-express": express["MemorySize"]}
		want := map[string]any{"copy-file": float64(1769), "copy-file-express": float64(statemachine.ExpressCopyMemoryMB)}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("MemorySize (-want +got):\n%s", diff)
		}
		if n := len(s.resources("AWS::IAM::Role")); n == 0 {
			t.Fatal("no roles")
		}
		if s.roleID(statemachine.FunctionCopyFileExpress) != s.roleID(statemachine.FunctionCopyFile) {
			t.Errorf("copy-file-express runs as %s, copy-file as %s: want one role", s.roleID(statemachine.FunctionCopyFileExpress), s.roleID(statemachine.FunctionCopyFile))
		}
	})

	t.Run("parse-event Lambda environment", func(t *testing.T) {
		// THEN parse-event rejects events of more files than one execution
		// carries within the history quota (statemachine.MaxFilesPerExecution)
		env := s.props(t, s.functionID(statemachine.FunctionParseEvent))["Environment"].(map[string]any)["Variables"]
		if diff := cmp.Diff(map[string]any{"MAX_FILES_PER_EVENT": "100"}, env); diff != "" {
			t.Errorf("parse-event environment (-want +got):\n%s", diff)
		}
	})

	t.Run("database Lambda environment", func(t *testing.T) {
		// THEN the request-status Lambda gets the database settings and the
		// names (not the values) of the SSM parameters
		env := s.props(t, s.functionID(statemachine.FunctionRequestStatus))["Environment"].(map[string]any)["Variables"]
		want := map[string]any{
			"DATABASE_PORT": "5432", "DATABASE_NAME": "disaster_recovery", "DATABASE_USER": "druser",
			"DATABASE_HOST_PARAMETER": "drdb-host", "DATABASE_PASSWORD_PARAMETER": "drdb-user-pass",
			"DATABASE_SSLMODE": "verify-full", "DATABASE_MAX_CONNS": "1",
		}
		if diff := cmp.Diff(want, env); diff != "" {
			t.Errorf("request-status environment (-want +got):\n%s", diff)
		}
		for _, name := range functionsBut(statemachine.FunctionRequestStatus) {
			env, _ := s.props(t, s.functionID(name))["Environment"].(map[string]any)
			vars, _ := env["Variables"].(map[string]any)
			for k := range vars {
				if strings.HasPrefix(k, "DATABASE_") {
					t.Errorf("%s has database setting %s", name, k)
				}
			}
		}
	})

	t.Run("no function reserves concurrency by default", func(t *testing.T) {
		// THEN no function has a reserved concurrency: Lambda refuses any
		// reservation that leaves fewer than 100 unreserved executions, so
		// a default deploy must reserve none to succeed on an account with
		// a concurrency quota of 10
		for _, name := range functionNames {
			if v, ok := s.props(t, s.functionID(name))["ReservedConcurrentExecutions"]; ok {
				t.Errorf("%s: ReservedConcurrentExecutions = %v, want none", name, v)
			}
		}
	})

	t.Run("state machine logs to a group under /aws/vendedlogs/states/", func(t *testing.T) {
		// THEN the state machine's log group is named
		// /aws/vendedlogs/states/<stack name>-<stack UUID>
		id := s.logicalID(s.stack.Workflow.LogGroup.Node().DefaultChild())
		got := s.props(t, id)["LogGroupName"]
		want := map[string]any{"Fn::Join": []any{"", []any{
			"/aws/vendedlogs/states/", map[string]any{"Ref": "AWS::StackName"}, "-",
			map[string]any{"Fn::Select": []any{float64(2), map[string]any{"Fn::Split": []any{"/", map[string]any{"Ref": "AWS::StackId"}}}}},
		}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("state machine LogGroupName (-want +got):\n%s", diff)
		}
		// AND the state machine logs there
		expect(t, "logging destination", func() {
			s.template.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), assertions.Match_ObjectLike(&map[string]any{
				"LoggingConfiguration": assertions.Match_ObjectLike(&map[string]any{
					"Destinations": []any{map[string]any{"CloudWatchLogsLogGroup": map[string]any{"LogGroupArn": getAttArn(id)}}},
				}),
			}))
		})
	})

	t.Run("stack outputs the copy role's ARN", func(t *testing.T) {
		// THEN an archive bucket owner in another account can name the role
		expect(t, "CopyRoleArn output", func() {
			s.template.HasOutput(jsii.String("CopyRoleArn"), assertions.Match_ObjectLike(&map[string]any{
				"Value": getAttArn(s.roleID(statemachine.FunctionCopyFile)),
			}))
		})
	})

	t.Run("Standard state machine logging ERROR with execution data and X-Ray", func(t *testing.T) {
		// THEN errors are logged with their causes; the whole history stays
		// in Step Functions (a Standard workflow), not in paid logs, and
		// the load runner counts the log at the same level
		// (statemachine.LogLevel)
		expect(t, "state machine properties", func() {
			s.template.HasResourceProperties(jsii.String("AWS::StepFunctions::StateMachine"), assertions.Match_ObjectLike(&map[string]any{
				"StateMachineType": "STANDARD",
				"LoggingConfiguration": assertions.Match_ObjectLike(&map[string]any{
					"Level":                "ERROR",
					"IncludeExecutionData": true,
				}),
				"TracingConfiguration": map[string]any{"Enabled": true},
			}))
		})
	})

	t.Run("deployed definition is statemachine.Render of the same settings", func(t *testing.T) {
		checkDeployedDefinition(t, s)
	})

	t.Run("EventBridge rule on restore completion in the restore buckets", func(t *testing.T) {
		// THEN the pattern names the source, the detail type and the buckets
		pattern := assertions.NewCapture(nil)
		expect(t, "rule", func() {
			s.template.HasResourceProperties(jsii.String("AWS::Events::Rule"), assertions.Match_ObjectLike(&map[string]any{
				"EventPattern": pattern,
				"State":        "ENABLED",
			}))
		})
		wantPattern := map[string]any{
			"source":      []any{"aws.s3"},
			"detail-type": []any{"Object Restore Completed"},
			"detail":      map[string]any{"bucket": map[string]any{"name": []any{"restore-a", "restore-b"}}},
		}
		got := map[string]any{}
		for k, v := range *pattern.AsObject() {
			got[k] = v
		}
		gotJSON, _ := json.Marshal(got)
		var gotPattern map[string]any
		_ = json.Unmarshal(gotJSON, &gotPattern)
		if diff := cmp.Diff(wantPattern, gotPattern); diff != "" {
			t.Errorf("event pattern (-want +got):\n%s", diff)
		}

		// AND the target is the intake queue, with retries and the DLQ
		// (the transformer: intake_test.go)
		queueID := s.logicalID(s.stack.Intake.Queue.Node().DefaultChild())
		dlqID := s.logicalID(s.stack.Trigger.DeadLetterQueue.Node().DefaultChild())
		targets := s.props(t, s.logicalID(s.stack.Trigger.Rule.Node().DefaultChild()))["Targets"].([]any)
		if len(targets) != 1 {
			t.Fatalf("want 1 target, got %v", targets)
		}
		target := targets[0].(map[string]any)
		got2 := map[string]any{"Arn": target["Arn"], "DeadLetterConfig": target["DeadLetterConfig"], "RetryPolicy": target["RetryPolicy"]}
		want2 := map[string]any{
			"Arn":              getAttArn(queueID),
			"DeadLetterConfig": map[string]any{"Arn": getAttArn(dlqID)},
			"RetryPolicy":      map[string]any{"MaximumRetryAttempts": float64(185), "MaximumEventAgeInSeconds": float64(86400)},
		}
		if diff := cmp.Diff(want2, got2); diff != "" {
			t.Errorf("rule target (-want +got):\n%s", diff)
		}
	})

	t.Run("dead-letter queue is encrypted, TLS-only, and only the rule may send", func(t *testing.T) {
		// THEN
		expect(t, "queue encryption", func() {
			s.template.HasResourceProperties(jsii.String("AWS::SQS::Queue"), assertions.Match_ObjectLike(&map[string]any{
				"SqsManagedSseEnabled":   true,
				"MessageRetentionPeriod": 1209600,
			}))
		})
		ruleID := s.logicalID(s.stack.Trigger.Rule.Node().DefaultChild())
		expect(t, "queue policy", func() {
			s.template.HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), assertions.Match_ObjectLike(&map[string]any{
				"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
					"Statement": assertions.Match_ArrayWith(&[]any{
						assertions.Match_ObjectLike(&map[string]any{
							"Effect":    "Deny",
							"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
						}),
						assertions.Match_ObjectLike(&map[string]any{
							"Effect":    "Allow",
							"Action":    "sqs:SendMessage",
							"Principal": map[string]any{"Service": "events.amazonaws.com"},
							"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": getAttArn(ruleID)}},
						}),
					}),
				}),
			}))
		})
	})

	t.Run("alarms on failed executions and dead letters go to an encrypted topic", func(t *testing.T) {
		topicID := s.logicalID(s.stack.Alarms.Topic.Node().DefaultChild())
		smID := s.logicalID(s.stack.Workflow.StateMachine.Node().DefaultChild())
		dlqID := s.logicalID(s.stack.Trigger.DeadLetterQueue.Node().DefaultChild())
		// THEN
		expect(t, "failed-executions alarm", func() {
			s.template.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), assertions.Match_ObjectLike(&map[string]any{
				"Namespace":          "AWS/States",
				"MetricName":         "ExecutionsFailed",
				"Dimensions":         []any{map[string]any{"Name": "StateMachineArn", "Value": map[string]any{"Ref": smID}}},
				"Threshold":          1,
				"ComparisonOperator": "GreaterThanOrEqualToThreshold",
				"AlarmActions":       []any{map[string]any{"Ref": topicID}},
			}))
		})
		expect(t, "dead-letter alarm", func() {
			s.template.HasResourceProperties(jsii.String("AWS::CloudWatch::Alarm"), assertions.Match_ObjectLike(&map[string]any{
				"Namespace":    "AWS/SQS",
				"MetricName":   "ApproximateNumberOfMessagesVisible",
				"Dimensions":   []any{map[string]any{"Name": "QueueName", "Value": getAttName(dlqID)}},
				"Threshold":    1,
				"AlarmActions": []any{map[string]any{"Ref": topicID}},
			}))
		})
		// AND the topic policy (which replaces SNS's default policy) lets
		// CloudWatch publish for this stack's alarms in this account only,
		// besides denying plain HTTP
		expect(t, "topic policy", func() {
			s.template.HasResourceProperties(jsii.String("AWS::SNS::TopicPolicy"), assertions.Match_ObjectLike(&map[string]any{
				"Topics": []any{map[string]any{"Ref": topicID}},
				"PolicyDocument": assertions.Match_ObjectLike(&map[string]any{
					"Statement": assertions.Match_ArrayWith(&[]any{
						assertions.Match_ObjectLike(&map[string]any{
							"Effect":    "Deny",
							"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
						}),
						map[string]any{
							"Sid":       "AllowStackAlarmsToPublish",
							"Effect":    "Allow",
							"Action":    "sns:Publish",
							"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
							"Resource":  map[string]any{"Ref": topicID},
							"Condition": map[string]any{
								"StringEquals": map[string]any{"aws:SourceAccount": map[string]any{"Ref": "AWS::AccountId"}},
								"ArnLike":      map[string]any{"aws:SourceArn": sub("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-*")},
							},
						},
					}),
				}),
			}))
		})
		// AND both alarms have names that pattern matches
		names := map[string]bool{}
		for _, a := range s.resources("AWS::CloudWatch::Alarm") {
			name, _ := json.Marshal(a["Properties"].(map[string]any)["AlarmName"])
			names[string(name)] = true
		}
		wantNames := map[string]bool{
			`{"Fn::Sub":"${AWS::StackName}-ExecutionsFailed"}`: true,
			`{"Fn::Sub":"${AWS::StackName}-DeadLetters"}`:      true,
			// The intake's (intake_test.go).
			`{"Fn::Sub":"${AWS::StackName}-IntakeDeadLetters"}`: true,
			`{"Fn::Sub":"${AWS::StackName}-IntakeStalled"}`:     true,
			// The reconcile sweep's (reconcile_test.go).
			`{"Fn::Sub":"${AWS::StackName}-FilesStuckAcrossSweeps"}`:    true,
			`{"Fn::Sub":"${AWS::StackName}-RestoresExpiredBeforeCopy"}`: true,
			`{"Fn::Sub":"${AWS::StackName}-ReconcileFailed"}`:           true,
		}
		if diff := cmp.Diff(wantNames, names); diff != "" {
			t.Errorf("alarm names (-want +got):\n%s", diff)
		}
		expect(t, "topic encryption", func() {
			s.template.HasResourceProperties(jsii.String("AWS::SNS::Topic"), assertions.Match_ObjectLike(&map[string]any{
				"KmsMasterKeyId": getAttArn(s.logicalID(s.stack.Alarms.Topic.MasterKey().Node().DefaultChild())),
			}))
		})
		if n := len(s.resources("AWS::SNS::Subscription")); n != 0 {
			t.Errorf("no alarmEmail but %d subscriptions", n)
		}
	})

	t.Run("copy Lambda reads only the restore buckets and writes only the archive buckets", func(t *testing.T) {
		sts := s.statements(s.roleID(statemachine.FunctionCopyFile))
		read := bySid(t, sts, "ReadRestoredObjects")
		write := bySid(t, sts, "WriteArchiveObjects")
		verify := bySid(t, sts, "VerifyArchiveObjects")
		list := bySid(t, sts, "TellMissingRestoredObjects")
		regions := bySid(t, sts, "FindArchiveBucketRegions")
		got := map[string]any{
			"list":             actions(list),
			"list resources":   asList(list["Resource"]),
			"head bucket":      actions(regions),
			"head resources":   asList(regions["Resource"]),
			"read":             actions(read),
			"read resources":   asList(read["Resource"]),
			"write":            actions(write),
			"write resources":  asList(write["Resource"]),
			"verify":           actions(verify),
			"verify resources": asList(verify["Resource"]),
		}
		archive := []any{sub("arn:${AWS::Partition}:s3:::archive-a/*")}
		want := map[string]any{
			"list":           []string{"s3:ListBucket"},
			"list resources": []any{sub("arn:${AWS::Partition}:s3:::restore-a"), sub("arn:${AWS::Partition}:s3:::restore-b")},
			// HeadBucket (the archive bucket's region) needs s3:ListBucket.
			"head bucket":      []string{"s3:ListBucket"},
			"head resources":   []any{sub("arn:${AWS::Partition}:s3:::archive-a")},
			"read":             []string{"s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"},
			"read resources":   []any{sub("arn:${AWS::Partition}:s3:::restore-a/*"), sub("arn:${AWS::Partition}:s3:::restore-b/*")},
			"write":            []string{"s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectTagging", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"},
			"write resources":  archive,
			"verify":           []string{"s3:GetObject", "s3:DeleteObject"},
			"verify resources": archive,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("copy-file S3 statements (-want +got):\n%s", diff)
		}
		for _, st := range sts {
			for _, a := range actions(st) {
				if strings.HasPrefix(a, "s3:") && !slices.Contains([]string{"TellMissingRestoredObjects", "FindArchiveBucketRegions", "ReadRestoredObjects", "WriteArchiveObjects", "VerifyArchiveObjects"}, st["Sid"].(string)) {
					t.Errorf("copy-file has another S3 statement: %v", st)
				}
				if strings.HasPrefix(a, "kms:") {
					t.Errorf("copy-file may use KMS without archiveKmsKeyArn or sourceKmsKeyArns: %v", st)
				}
			}
		}
	})

	t.Run("only the database Lambda reads the two SSM parameters", func(t *testing.T) {
		sts := s.statements(s.roleID(statemachine.FunctionRequestStatus))
		params := bySid(t, sts, "ReadDatabaseParameters")
		decrypt := bySid(t, sts, "DecryptDatabasePasswordThroughSSM")
		passwordARN := sub("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/drdb-user-pass")
		got := map[string]any{
			"params actions": actions(params), "params": asList(params["Resource"]),
			"decrypt actions": actions(decrypt), "decrypt condition": decrypt["Condition"],
		}
		want := map[string]any{
			"params actions": []string{"ssm:GetParameter"},
			"params": []any{
				sub("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/drdb-host"),
				passwordARN,
			},
			"decrypt actions": []string{"kms:Decrypt"},
			"decrypt condition": map[string]any{
				"StringEquals":             map[string]any{"kms:ViaService": sub("ssm.${AWS::Region}.${AWS::URLSuffix}")},
				"ForAnyValue:StringEquals": map[string]any{"kms:EncryptionContext:PARAMETER_ARN": []any{passwordARN}},
			},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request-status SSM statements (-want +got):\n%s", diff)
		}
		for _, other := range functionsBut(statemachine.FunctionRequestStatus) {
			for _, st := range s.statements(s.roleID(other)) {
				for _, a := range actions(st) {
					if strings.HasPrefix(a, "ssm:") || strings.HasPrefix(a, "kms:") {
						t.Errorf("%s may %s: %v", other, a, st)
					}
				}
			}
		}
	})

	t.Run("the state machine may invoke exactly its functions", func(t *testing.T) {
		smRole := s.logicalID(s.stack.Workflow.Role.Node().DefaultChild())
		sts := s.statements(smRole)
		invoke := bySid(t, sts, "InvokeWorkflowFunctions")
		var want []any
		for _, name := range functionNames {
			want = append(want, getAttArn(s.functionID(name)))
		}
		if diff := cmp.Diff(want, asList(invoke["Resource"])); diff != "" {
			t.Errorf("lambda:InvokeFunction resources (-want +got):\n%s", diff)
		}
		// Every Task of the deployed definition, its children's included
		// (they run with this role), invokes one of those: the Standard
		// child's "Copy small file" copy-file-express, as the Express
		// child's copy does.
		may := map[string]bool{}
		for _, r := range asList(invoke["Resource"]) {
			if att, ok := r.(map[string]any)["Fn::GetAtt"].([]any); ok {
				may["arn:"+att[0].(string)] = true
			}
		}
		var deployed any
		for _, sm := range s.resources("AWS::StepFunctions::StateMachine") {
			deployed = sm["Properties"].(map[string]any)["DefinitionString"]
		}
		tasks := map[string]string{}
		var walk func(list map[string]any)
		walk = func(list map[string]any) {
			for name, v := range list["States"].(map[string]any) {
				st := v.(map[string]any)
				if st["Type"] == "Task" {
					tasks[name], _ = st["Resource"].(string)
				}
				if ip, ok := st["ItemProcessor"].(map[string]any); ok {
					walk(ip)
				}
			}
		}
		var doc map[string]any
		if err := json.Unmarshal([]byte(resolveDefinition(t, deployed)), &doc); err != nil {
			t.Fatal(err)
		}
		walk(doc)
		for name, resource := range tasks {
			if !may[resource] {
				t.Errorf("task %q invokes %s, which the role may not invoke", name, resource)
			}
		}
		for task, fn := range map[string]string{
			statemachine.StandardSmallCopyState: statemachine.FunctionCopyFileExpress,
			statemachine.StandardCopyState:      statemachine.FunctionCopyFile,
			"Copy file (Express)":               statemachine.FunctionCopyFileExpress,
		} {
			if got, want := tasks[task], "arn:"+s.functionID(fn); got != want {
				t.Errorf("task %q invokes %s, want %s (%s)", task, got, want, fn)
			}
		}
		for _, st := range sts {
			for _, a := range actions(st) {
				if strings.HasPrefix(a, "lambda:") && st["Sid"] != "InvokeWorkflowFunctions" {
					t.Errorf("another Lambda statement: %v", st)
				}
			}
		}
	})

	t.Run("every function role starts from its own log group, no managed policy", func(t *testing.T) {
		for _, name := range functionNames {
			role := s.props(t, s.roleID(name))
			if mp, ok := role["ManagedPolicyArns"]; ok {
				t.Errorf("%s role has managed policies %v", name, mp)
			}
			var logs []map[string]any
			for _, st := range s.statements(s.roleID(name)) {
				if slices.Contains(actions(st), "logs:PutLogEvents") {
					logs = append(logs, st)
				}
			}
			wantRes := getAttArn(s.logicalID(s.stack.Functions[name].LogGroup.Node().DefaultChild()))
			if len(logs) != 1 || !cmp.Equal(asList(logs[0]["Resource"]), []any{wantRes}) {
				t.Errorf("%s: logs statements %v, want one on %v", name, logs, wantRes)
			}
		}
	})

	t.Run("no wildcard action anywhere", func(t *testing.T) {
		for id, p := range s.resources("AWS::IAM::Policy") {
			for _, st := range p["Properties"].(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
				for _, a := range actions(st.(map[string]any)) {
					if a == "*" || strings.HasSuffix(a, ":*") {
						t.Errorf("%s allows %s", id, a)
					}
				}
			}
		}
	})

	t.Run("optional features are off", func(t *testing.T) {
		if n := len(s.resources("Custom::S3BucketNotifications")); n != 0 {
			t.Errorf("enableRestoreBucketEventBridge is false but %d bucket notification resources exist", n)
		}
	})

	t.Run("cdk-nag AwsSolutions has no unsuppressed finding", func(t *testing.T) {
		if f := nagFindings(s); len(f) > 0 {
			t.Errorf("cdk-nag findings:\n%s", strings.Join(f, "\n"))
		}
	})

	t.Run("resource list", func(t *testing.T) {
		counts := map[string]int{}
		for _, r := range s.json["Resources"].(map[string]any) {
			counts[r.(map[string]any)["Type"].(string)]++
		}
		var lines []string
		for typ, n := range counts {
			lines = append(lines, fmt.Sprintf("%3d %s", n, typ))
		}
		sort.Strings(lines)
		t.Logf("synthesized resources:\n%s", strings.Join(lines, "\n"))
	})
}

func getAttName(id string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{id, "QueueName"}}
}

func TestStackWithEveryOption(t *testing.T) {
	// GIVEN every optional setting, overrides given as strings (as -c does)
	// WHEN the stack is synthesized
	s := synth(t, map[string]any{
		"restoreBuckets":                 "restore-a",
		"archiveBuckets":                 `["archive-a","archive-b"]`,
		"archiveKmsKeyArn":               "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"sourceKmsKeyArns":               `["arn:aws:kms:us-east-1:123456789012:key/aaaa1111-12ab-34cd-56ef-1234567890ab","arn:aws:kms:eu-west-1:123456789012:key/bbbb2222-12ab-34cd-56ef-1234567890ab"]`,
		"archiveStorageClass":            "DEEP_ARCHIVE",
		"enableRestoreBucketEventBridge": "true",
		"vpcId":                          "vpc-0123456789abcdef0",
		"subnetIds":                      "subnet-0123456789abcdef0,subnet-0fedcba9876543210",
		"securityGroupId":                "sg-0123456789abcdef0",
		"alarmEmail":                     "ops@example.org",
		"copyRetries":                    "5",
		"copyRetrySleepSecs":             "10",
		"reconcileGraceMinutes":          "1380", // covers the longer copy retries (bound 1,311 minutes; checkReconcileGrace)
		"mapMaxConcurrency":              "4",
		"reconcileMaxFilesPerExecution":  "4", // at most mapMaxConcurrency (checkReconcileBatchConcurrency)
		"requestStatusConcurrency":       "20",
		"copyFileConcurrency":            "50",
		"databaseSslMode":                "verify-ca",
		"databaseSslRootCert":            "testdata/database-ca.pem",
	})

	t.Run("database Lambda trusts the CA file it is shipped with", func(t *testing.T) {
		env := s.props(t, s.functionID(statemachine.FunctionRequestStatus))["Environment"].(map[string]any)["Variables"].(map[string]any)
		got := map[string]any{"DATABASE_SSLMODE": env["DATABASE_SSLMODE"], "DATABASE_SSLROOTCERT": env["DATABASE_SSLROOTCERT"]}
		want := map[string]any{"DATABASE_SSLMODE": "verify-ca", "DATABASE_SSLROOTCERT": "/var/task/database-ca.pem"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request-status TLS settings (-want +got):\n%s", diff)
		}
	})

	t.Run("requestStatusConcurrency and copyFileConcurrency reserve concurrency", func(t *testing.T) {
		// THEN request-status reserves 20 (one connection each) and
		// copy-file 50; the other two reserve none
		got := map[string]any{}
		for _, name := range functionNames {
			got[name] = s.props(t, s.functionID(name))["ReservedConcurrentExecutions"]
		}
		want := map[string]any{
			statemachine.FunctionParseEvent: nil, statemachine.FunctionRequestStatus: float64(20),
			statemachine.FunctionCopyFile: float64(50), statemachine.FunctionAggregate: nil,
			// The Express lane's copies give up within 75 s, and the
			// Standard lane's small ones ("Copy small file", up to 64 MiB)
			// take seconds: they need no share kept from the other
			// functions.
			statemachine.FunctionCopyFileExpress: nil,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("ReservedConcurrentExecutions (-want +got):\n%s", diff)
		}
		env := s.props(t, s.functionID(statemachine.FunctionRequestStatus))["Environment"].(map[string]any)["Variables"].(map[string]any)
		if env["DATABASE_MAX_CONNS"] != "1" {
			t.Errorf("DATABASE_MAX_CONNS = %v, want 1", env["DATABASE_MAX_CONNS"])
		}
	})

	t.Run("database Lambda runs in the VPC", func(t *testing.T) {
		// THEN only the request-status Lambda has a VpcConfig, with the
		// given subnets and security group
		p := s.props(t, s.functionID(statemachine.FunctionRequestStatus))
		want := map[string]any{"SubnetIds": []any{"subnet-0123456789abcdef0", "subnet-0fedcba9876543210"}, "SecurityGroupIds": []any{"sg-0123456789abcdef0"}}
		if diff := cmp.Diff(want, p["VpcConfig"]); diff != "" {
			t.Errorf("VpcConfig (-want +got):\n%s", diff)
		}
		role := s.props(t, s.roleID(statemachine.FunctionRequestStatus))
		mps, _ := json.Marshal(role["ManagedPolicyArns"])
		if !strings.Contains(string(mps), "AWSLambdaVPCAccessExecutionRole") {
			t.Errorf("request-status role lacks the VPC access policy: %s", mps)
		}
		for _, name := range functionsBut(statemachine.FunctionRequestStatus) {
			if _, ok := s.props(t, s.functionID(name))["VpcConfig"]; ok {
				t.Errorf("%s is in the VPC too", name)
			}
		}
	})

	t.Run("copy Lambda encrypts with the archive key in the storage class", func(t *testing.T) {
		env := s.props(t, s.functionID(statemachine.FunctionCopyFile))["Environment"].(map[string]any)["Variables"].(map[string]any)
		got := map[string]any{"ARCHIVE_KMS_KEY_ID": env["ARCHIVE_KMS_KEY_ID"], "STORAGE_CLASS": env["STORAGE_CLASS"]}
		want := map[string]any{
			"ARCHIVE_KMS_KEY_ID": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
			"STORAGE_CLASS":      "DEEP_ARCHIVE",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("copy-file environment (-want +got):\n%s", diff)
		}
	})

	t.Run("copy Lambda may use the archive key", func(t *testing.T) {
		st := bySid(t, s.statements(s.roleID(statemachine.FunctionCopyFile)), "UseArchiveKey")
		got := map[string]any{"actions": actions(st), "resource": st["Resource"]}
		want := map[string]any{
			"actions":  []string{"kms:GenerateDataKey", "kms:Decrypt"},
			"resource": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("UseArchiveKey (-want +got):\n%s", diff)
		}
	})

	t.Run("copy Lambda may decrypt with the restored objects' keys, nothing more", func(t *testing.T) {
		st := bySid(t, s.statements(s.roleID(statemachine.FunctionCopyFile)), "DecryptRestoredObjects")
		got := map[string]any{"actions": actions(st), "resource": st["Resource"]}
		want := map[string]any{
			"actions": []string{"kms:Decrypt"},
			"resource": []any{
				"arn:aws:kms:us-east-1:123456789012:key/aaaa1111-12ab-34cd-56ef-1234567890ab",
				"arn:aws:kms:eu-west-1:123456789012:key/bbbb2222-12ab-34cd-56ef-1234567890ab",
			},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("DecryptRestoredObjects (-want +got):\n%s", diff)
		}
	})

	t.Run("alarm email is subscribed", func(t *testing.T) {
		expect(t, "subscription", func() {
			s.template.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), assertions.Match_ObjectLike(&map[string]any{
				"Protocol": "email",
				"Endpoint": "ops@example.org",
			}))
		})
	})

	t.Run("EventBridge notifications are turned on for the restore bucket", func(t *testing.T) {
		expect(t, "bucket notifications", func() {
			s.template.HasResourceProperties(jsii.String("Custom::S3BucketNotifications"), assertions.Match_ObjectLike(&map[string]any{
				"BucketName":                "restore-a",
				"NotificationConfiguration": map[string]any{"EventBridgeConfiguration": map[string]any{}},
				"Managed":                   false,
			}))
		})
	})

	t.Run("deployed definition carries the overridden policy", func(t *testing.T) {
		if s.cfg.Workflow.CopyRetries != 5 || s.cfg.Workflow.CopyRetrySleepSecs != 10 || s.cfg.Workflow.MapMaxConcurrency != 4 {
			t.Fatalf("overrides not read: %+v", s.cfg.Workflow)
		}
		checkDeployedDefinition(t, s)
	})

	t.Run("cdk-nag AwsSolutions has no unsuppressed finding", func(t *testing.T) {
		if f := nagFindings(s); len(f) > 0 {
			t.Errorf("cdk-nag findings:\n%s", strings.Join(f, "\n"))
		}
	})
}

func TestStackRejectsTimeoutsBelowTheLambdas(t *testing.T) {
	// GIVEN task timeouts that would cut the Lambdas short
	// WHEN the stack is built THEN it fails naming the setting (before any
	// construct is made, so no synth is needed)
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"copy task not above 900 s", func(c *Config) { c.Workflow.CopyTaskTimeoutSecs = 900 }, "copyTaskTimeoutSecs = 900"},
		{"other tasks not above 30 s", func(c *Config) { c.Workflow.TaskTimeoutSecs = 30 }, "taskTimeoutSecs = 30"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := cdkJSONContext(t)
			ctx["restoreBuckets"] = []any{"restore-a"}
			ctx["archiveBuckets"] = []any{"archive-a"}
			cfg, err := ConfigFromContext(func(k string) any { return ctx[k] })
			if err != nil {
				t.Fatal(err)
			}
			tc.change(&cfg)
			_, err = NewArchiveCopyStack(nil, stackID, &ArchiveCopyStackProps{Config: cfg})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// functionsBut lists the stack's functions except the one named.
func functionsBut(name string) []string {
	var out []string
	for _, n := range functionNames {
		if n != name {
			out = append(out, n)
		}
	}
	return out
}

func TestStackWithArchiveBucketDefaultKeys(t *testing.T) {
	// GIVEN archive buckets whose default encryption is SSE-KMS under
	// customer managed keys (archiveBucketKmsKeyArns), no archiveKmsKeyArn,
	// and the restore buckets' region named (restoreBucketRegions)
	keys := []any{
		"arn:aws:kms:eu-west-1:123456789012:key/aaaa1111-12ab-34cd-56ef-1234567890ab",
		"arn:aws:kms:eu-central-1:210987654321:key/bbbb2222-12ab-34cd-56ef-1234567890ab",
	}
	// WHEN the stack is synthesized with the environment main gives it
	s := synthEnv(t, map[string]any{
		"restoreBuckets":          []any{"restore-a"},
		"archiveBuckets":          []any{"archive-a", "archive-b"},
		"archiveBucketKmsKeyArns": keys,
		"restoreBucketRegions":    map[string]any{"restore-a": "eu-west-1"},
	}, StackEnv)

	t.Run("copy Lambda may use the buckets' default keys, and sends no SSE header", func(t *testing.T) {
		// THEN the copy role may GenerateDataKey and Decrypt with exactly
		// those keys (S3 encrypts each copy with the bucket's key on the
		// role's behalf: CopyObject, CreateMultipartUpload; UploadPartCopy,
		// Complete, the check's HeadObject), and the function is not told
		// to send a key (ARCHIVE_KMS_KEY_ID unset)
		sts := s.statements(s.roleID(statemachine.FunctionCopyFile))
		use := bySid(t, sts, "UseArchiveBucketDefaultKeys")
		got := map[string]any{"actions": actions(use), "resources": asList(use["Resource"])}
		want := map[string]any{"actions": []string{"kms:GenerateDataKey", "kms:Decrypt"}, "resources": keys}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("UseArchiveBucketDefaultKeys (-want +got):\n%s", diff)
		}
		for _, st := range sts {
			if st["Sid"] != "UseArchiveBucketDefaultKeys" && slices.ContainsFunc(actions(st), func(a string) bool { return strings.HasPrefix(a, "kms:") }) {
				t.Errorf("another KMS statement: %v", st)
			}
		}
		env := s.props(t, s.functionID(statemachine.FunctionCopyFile))["Environment"].(map[string]any)["Variables"].(map[string]any)
		if v, ok := env["ARCHIVE_KMS_KEY_ID"]; ok {
			t.Errorf("ARCHIVE_KMS_KEY_ID = %v: the copies must take the buckets' default encryption", v)
		}
	})

	t.Run("stack is deployed in the restore buckets' region", func(t *testing.T) {
		// THEN the stack is pinned to eu-west-1, where S3 sends the restore
		// buckets' EventBridge events
		if got := *s.stack.Region(); got != "eu-west-1" {
			t.Errorf("stack region %q, want eu-west-1", got)
		}
	})

	t.Run("cdk-nag AwsSolutions has no unsuppressed finding", func(t *testing.T) {
		if f := nagFindings(s); len(f) > 0 {
			t.Errorf("cdk-nag findings:\n%s", strings.Join(f, "\n"))
		}
	})
}

func TestStackRefusesRestoreBucketsOfAnotherRegion(t *testing.T) {
	// GIVEN restore buckets in eu-west-1 and a stack pinned to us-east-1
	ctx := cdkJSONContext(t)
	ctx["restoreBuckets"] = []any{"restore-a"}
	ctx["archiveBuckets"] = []any{"archive-a"}
	ctx["restoreBucketRegions"] = map[string]any{"restore-a": "eu-west-1"}
	cfg, err := ConfigFromContext(func(k string) any { return ctx[k] })
	if err != nil {
		t.Fatal(err)
	}
	// WHEN the stack is built
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
	_, err = NewArchiveCopyStack(app, stackID, &ArchiveCopyStackProps{
		StackProps: awscdk.StackProps{Env: &awscdk.Environment{Region: jsii.String("us-east-1")}},
		Config:     cfg,
	})
	// THEN it fails, saying why and where to deploy
	want := "restoreBucketRegions puts the restore buckets in eu-west-1, but the stack is deployed in us-east-1: " +
		"S3 sends a bucket's EventBridge events only in the bucket's own region, so this stack would never see their restores; deploy it in eu-west-1"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
}
