package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// restoreCompleted is S3's "Object Restore Completed" event as AWS's
// EventBridge guide shows it, with detail.object as given.
func restoreCompleted(object map[string]any) map[string]any {
	return map[string]any{
		"version": "0", "id": "6924de0d-13e2-6bbf-c0c1-b903b753565e", "detail-type": "Object Restore Completed",
		"source": "aws.s3", "account": "111122223333", "time": "2021-11-12T00:00:00Z", "region": "ca-central-1",
		"resources": []any{"arn:aws:s3:::example-bucket"},
		"detail": map[string]any{
			"version": "0", "bucket": map[string]any{"name": "example-bucket"}, "object": object,
			"request-id": "189F19CB7FCB7A38", "requester": "s3.amazonaws.com",
			"restore-expiry-time": "2021-11-13T00:00:00Z", "source-storage-class": "GLACIER",
		},
	}
}

// lookup resolves a dot path ($.a.b) in a decoded JSON event.
func lookup(event map[string]any, path string) (any, bool) {
	var v any = event
	for _, part := range strings.Split(strings.TrimPrefix(path, "$."), ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

var placeholderRef = regexp.MustCompile(`"<([a-z]+)>"|<([a-z]+)>`)

// transform fills template as EventBridge's input transformer documents it
// (eb-transform-target-input.html): an unquoted placeholder becomes the
// value as JSON, a quoted one the value's bare text, and a placeholder whose
// path the event lacks is not created and does not appear in the output.
func transform(t *testing.T, paths map[string]string, template string, event map[string]any) []byte {
	t.Helper()
	return []byte(placeholderRef.ReplaceAllStringFunc(template, func(m string) string {
		sub := placeholderRef.FindStringSubmatch(m)
		quoted, name := sub[1] != "", sub[1]+sub[2]
		v, ok := lookup(event, paths[name])
		switch {
		case !ok && quoted:
			return `""`
		case !ok:
			return ""
		case quoted:
			return `"` + fmt.Sprint(v) + `"`
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}))
}

// TestRestoreEventTemplate: the message the rule sends to the intake is an
// event parse-event reads to the same file as S3's whole event, on a
// versioned bucket and on an unversioned one (no version-id).
func TestRestoreEventTemplate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		object map[string]any
		want   contract.File
	}{
		{
			name:   "versioned bucket",
			object: map[string]any{"key": "example-key", "size": 5, "etag": "b57f9512698f4b09e608f4f2a65852e5", "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e"},
			want: contract.File{SourceBucket: "example-bucket", SourceKey: "example-key", Size: 5, VersionID: "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
				ETag: "b57f9512698f4b09e608f4f2a65852e5", RestoreExpiryTime: "2021-11-13T00:00:00Z"},
		},
		{
			name:   "unversioned bucket: no version-id in the event",
			object: map[string]any{"key": "dir/a+b%2Bc%22.txt", "size": 5368709121, "etag": "0a1b2c3d4e5f60718293a4b5c6d7e8f9-3"},
			want: contract.File{SourceBucket: "example-bucket", SourceKey: `dir/a b+c".txt`, Size: 5368709121,
				ETag: "0a1b2c3d4e5f60718293a4b5c6d7e8f9-3", RestoreExpiryTime: "2021-11-13T00:00:00Z"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// GIVEN S3's event
			event := restoreCompleted(tc.object)
			whole, err := json.Marshal(event)
			if err != nil {
				t.Fatal(err)
			}
			// WHEN the rule's transformer cuts it down
			msg := transform(t, restoreEventPaths, restoreEventTemplate, event)
			// THEN parse-event reads the message as it reads the whole event
			got, err := parseevent.ParseEvent(msg)
			if err != nil {
				t.Fatalf("parse-event refuses the intake message %s: %v", msg, err)
			}
			if diff := cmp.Diff([]contract.File{tc.want}, got); diff != "" {
				t.Errorf("file from the intake message %s (-want +got):\n%s", msg, diff)
			}
			fromWhole, err := parseevent.ParseEvent(whole)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(fromWhole, got); diff != "" {
				t.Errorf("intake message and whole event differ (-whole +message):\n%s", diff)
			}
			// AND it is much smaller
			if len(msg)*2 > len(whole) {
				t.Errorf("intake message is %d bytes, the whole event %d: want at most half", len(msg), len(whole))
			}
		})
	}
}

// pipeRoleStatements are the statements of the Pipe role's inline policies.
func (s synthesized) pipeRoleStatements(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, p := range s.props(t, s.logicalID(s.stack.Intake.Role.Node().DefaultChild()))["Policies"].([]any) {
		for _, st := range p.(map[string]any)["PolicyDocument"].(map[string]any)["Statement"].([]any) {
			out = append(out, st.(map[string]any))
		}
	}
	return out
}

// grants lists a role's statements as "action on resource" lines, the
// resources as the template spells them, so an extra action or resource
// shows.
func grants(sts []map[string]any, prefix string) []string {
	var out []string
	for _, st := range sts {
		for _, a := range actions(st) {
			if !strings.HasPrefix(a, prefix) {
				continue
			}
			for _, r := range asList(st["Resource"]) {
				b, _ := json.Marshal(r)
				out = append(out, a+" on "+string(b))
			}
		}
	}
	return out
}

func TestIntakeStack(t *testing.T) {
	// GIVEN batch settings other than cdk.json's
	// WHEN the stack is synthesized (once; the subtests share it)
	s := synth(t, map[string]any{
		"restoreBuckets": []any{"restore-a"}, "archiveBuckets": []any{"archive-a"},
		"pipeBatchSize": 20, "pipeBatchWindowSecs": "5",
	})
	queueID := s.logicalID(s.stack.Intake.Queue.Node().DefaultChild())
	dlqID := s.logicalID(s.stack.Intake.DeadLetterQueue.Node().DefaultChild())
	smID := s.logicalID(s.stack.Workflow.StateMachine.Node().DefaultChild())

	t.Run("the intake queue: encrypted, kept 7 days, hidden a window and six deliveries, 5 receives to its dead-letter queue", func(t *testing.T) {
		p := s.props(t, queueID)
		got := map[string]any{"sse": p["SqsManagedSseEnabled"], "retention": p["MessageRetentionPeriod"], "visibility": p["VisibilityTimeout"], "redrive": p["RedrivePolicy"]}
		want := map[string]any{
			"sse": true, "retention": float64(7 * 86400), "visibility": float64(5 + 6*30),
			"redrive": map[string]any{"deadLetterTargetArn": getAttArn(dlqID), "maxReceiveCount": float64(5)},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("intake queue (-want +got):\n%s", diff)
		}
		dlq := s.props(t, dlqID)
		if dlq["SqsManagedSseEnabled"] != true || dlq["MessageRetentionPeriod"] != float64(14*86400) {
			t.Errorf("intake dead-letter queue: SSE %v, retention %v; want true, 14 days (longer than the intake's 7)", dlq["SqsManagedSseEnabled"], dlq["MessageRetentionPeriod"])
		}
		// AND both refuse plain HTTP
		for _, id := range []string{queueID, dlqID} {
			if !queueDeniesPlainHTTP(s, id) {
				t.Errorf("%s has no Deny of aws:SecureTransport false", id)
			}
		}
	})

	t.Run("the rule sends the cut-down event to the intake, with its retries and dead-letter queue", func(t *testing.T) {
		targets := s.props(t, s.logicalID(s.stack.Trigger.Rule.Node().DefaultChild()))["Targets"].([]any)
		if len(targets) != 1 {
			t.Fatalf("want 1 target, got %v", targets)
		}
		target := targets[0].(map[string]any)
		paths := map[string]any{}
		for k, v := range restoreEventPaths {
			paths[k] = v
		}
		got := map[string]any{"Arn": target["Arn"], "DeadLetterConfig": target["DeadLetterConfig"], "RetryPolicy": target["RetryPolicy"], "InputTransformer": target["InputTransformer"]}
		want := map[string]any{
			"Arn":              getAttArn(queueID),
			"DeadLetterConfig": map[string]any{"Arn": getAttArn(s.logicalID(s.stack.Trigger.DeadLetterQueue.Node().DefaultChild()))},
			"RetryPolicy":      map[string]any{"MaximumRetryAttempts": float64(185), "MaximumEventAgeInSeconds": float64(86400)},
			"InputTransformer": map[string]any{"InputPathsMap": paths, "InputTemplate": restoreEventTemplate},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("rule target (-want +got):\n%s", diff)
		}
	})

	t.Run("the Pipe batches by context and starts the state machine fire and forget, after the Map policy", func(t *testing.T) {
		pipes := s.resources("AWS::Pipes::Pipe")
		if len(pipes) != 1 {
			t.Fatalf("want 1 pipe, got %d", len(pipes))
		}
		for id, pipe := range pipes {
			p := pipe["Properties"].(map[string]any)
			got := map[string]any{"Source": p["Source"], "SourceParameters": p["SourceParameters"], "Target": p["Target"],
				"TargetParameters": p["TargetParameters"], "RoleArn": p["RoleArn"], "LogConfiguration": p["LogConfiguration"]}
			want := map[string]any{
				"Source":           getAttArn(queueID),
				"SourceParameters": map[string]any{"SqsQueueParameters": map[string]any{"BatchSize": float64(20), "MaximumBatchingWindowInSeconds": float64(5)}},
				"Target":           map[string]any{"Ref": smID},
				"TargetParameters": map[string]any{"StepFunctionStateMachineParameters": map[string]any{"InvocationType": "FIRE_AND_FORGET"}},
				"RoleArn":          getAttArn(s.logicalID(s.stack.Intake.Role.Node().DefaultChild())),
				"LogConfiguration": nil,
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("pipe %s (-want +got):\n%s", id, diff)
			}
			mapPolicy := s.logicalID(s.stack.Workflow.MapPolicy.Node().DefaultChild())
			deps, _ := pipe["DependsOn"].([]any)
			if !slicesContainsAny(deps, mapPolicy) {
				t.Errorf("pipe DependsOn %v, want %s: no batch may start before the state machine may start its children", deps, mapPolicy)
			}
		}
	})

	t.Run("the Pipe's role may read the intake and start the state machine, nothing else", func(t *testing.T) {
		got := grants(s.pipeRoleStatements(t), "")
		queue, _ := json.Marshal(getAttArn(queueID))
		want := []string{
			"sqs:ReceiveMessage on " + string(queue), "sqs:DeleteMessage on " + string(queue), "sqs:GetQueueAttributes on " + string(queue),
			`states:StartExecution on {"Ref":"` + smID + `"}`,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("pipe role grants (-want +got):\n%s", diff)
		}
		if n := len(s.statements(s.logicalID(s.stack.Intake.Role.Node().DefaultChild()))); n != 0 {
			t.Errorf("pipe role has %d statements in attached policies; want its inline policy only", n)
		}
		trust, _ := json.Marshal(s.props(t, s.logicalID(s.stack.Intake.Role.Node().DefaultChild()))["AssumeRolePolicyDocument"])
		for _, w := range []string{`"Service":"pipes.amazonaws.com"`, `"aws:SourceAccount":{"Ref":"AWS::AccountId"}`} {
			if !strings.Contains(string(trust), w) {
				t.Errorf("pipe role trust policy %s lacks %s", trust, w)
			}
		}
	})

	t.Run("the state machine may start itself and watch its Map Runs' children, nothing more of Step Functions", func(t *testing.T) {
		got := grants(s.statements(s.logicalID(s.stack.Workflow.Role.Node().DefaultChild())), "states:")
		children := `{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":states:",{"Ref":"AWS::Region"},":",{"Ref":"AWS::AccountId"},":execution:",{"Fn::GetAtt":["` + smID + `","Name"]},"/*"]]}`
		want := []string{
			`states:StartExecution on {"Ref":"` + smID + `"}`,
			"states:DescribeExecution on " + children, "states:StopExecution on " + children,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("state machine role's Step Functions grants (-want +got):\n%s", diff)
		}
	})

	t.Run("alarms on the intake's dead letters and on its oldest message, naming the queues", func(t *testing.T) {
		for _, tc := range []struct {
			id, metric, queue string
			threshold         float64
		}{
			{"IntakeDeadLetters", "ApproximateNumberOfMessagesVisible", dlqID, 1},
			// a 5 s window and a 185 s visibility timeout
			{"IntakeStalled", "ApproximateAgeOfOldestMessage", queueID, 190},
		} {
			a := s.alarmNamed(t, tc.id)
			name := map[string]any{"Fn::GetAtt": []any{tc.queue, "QueueName"}}
			got := map[string]any{"Namespace": a["Namespace"], "MetricName": a["MetricName"], "Dimensions": a["Dimensions"], "Threshold": a["Threshold"]}
			want := map[string]any{"Namespace": "AWS/SQS", "MetricName": tc.metric, "Dimensions": []any{map[string]any{"Name": "QueueName", "Value": name}}, "Threshold": tc.threshold}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", tc.id, diff)
			}
			desc, _ := json.Marshal(a["AlarmDescription"])
			wantName, _ := json.Marshal(name)
			if !strings.Contains(string(desc), string(wantName)) {
				t.Errorf("%s description %s does not name the queue %s", tc.id, desc, wantName)
			}
		}
	})

	t.Run("cdk-nag AwsSolutions has no unsuppressed finding", func(t *testing.T) {
		if f := nagFindings(s); len(f) > 0 {
			t.Errorf("cdk-nag findings:\n%s", strings.Join(f, "\n"))
		}
	})
}

// alarmNamed returns the Properties of the alarm named alarmName(what).
func (s synthesized) alarmNamed(t *testing.T, what string) map[string]any {
	t.Helper()
	want, _ := json.Marshal(sub("${AWS::StackName}-" + what))
	for _, a := range s.resources("AWS::CloudWatch::Alarm") {
		p := a["Properties"].(map[string]any)
		if name, _ := json.Marshal(p["AlarmName"]); string(name) == string(want) {
			return p
		}
	}
	t.Fatalf("no alarm named %s", want)
	return nil
}

// queueDeniesPlainHTTP reports whether a queue policy on the queue denies
// requests without TLS.
func queueDeniesPlainHTTP(s synthesized, queueID string) bool {
	for _, p := range s.resources("AWS::SQS::QueuePolicy") {
		props := p["Properties"].(map[string]any)
		queues, _ := json.Marshal(props["Queues"])
		if !strings.Contains(string(queues), `"`+queueID+`"`) {
			continue
		}
		doc, _ := json.Marshal(props["PolicyDocument"])
		if strings.Contains(string(doc), `"Effect":"Deny"`) && strings.Contains(string(doc), `"aws:SecureTransport":"false"`) {
			return true
		}
	}
	return false
}

func slicesContainsAny(list []any, want string) bool {
	for _, v := range list {
		if v == want {
			return true
		}
	}
	return false
}
