package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
)

// dashboardBody returns the dashboard's body with every token (Ref,
// Fn::GetAtt, pseudo parameters) written as "<...>", parsed.
func dashboardBody(t *testing.T, s synthesized) map[string]any {
	t.Helper()
	dashes := s.resources("AWS::CloudWatch::Dashboard")
	if len(dashes) != 1 {
		t.Fatalf("%d dashboards, want 1", len(dashes))
	}
	var props map[string]any
	for _, d := range dashes {
		props = d["Properties"].(map[string]any)
	}
	// The name is the stack's name and region: dashboards are global to
	// an account, so a fixed name collides across regions and stacks.
	if diff := cmp.Diff(map[string]any{"Fn::Sub": "${AWS::StackName}-${AWS::Region}"}, props["DashboardName"]); diff != "" {
		t.Errorf("DashboardName (-want +got):\n%s", diff)
	}
	var b strings.Builder
	switch body := props["DashboardBody"].(type) {
	case string:
		b.WriteString(body)
	case map[string]any:
		for _, part := range body["Fn::Join"].([]any)[1].([]any) {
			if str, ok := part.(string); ok {
				b.WriteString(str)
				continue
			}
			tok, _ := json.Marshal(part)
			b.WriteString("<" + strings.NewReplacer(`"`, "").Replace(string(tok)) + ">")
		}
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(b.String()), &doc); err != nil {
		t.Fatalf("dashboard body is not JSON: %v\n%s", err, b.String())
	}
	return doc
}

// widgetMetrics lists, per widget title, its metrics as "namespace name
// stat [dims]" and its expressions.
func widgetMetrics(t *testing.T, doc map[string]any) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, w := range doc["widgets"].([]any) {
		p := w.(map[string]any)["properties"].(map[string]any)
		title := p["title"].(string)
		for _, m := range p["metrics"].([]any) {
			row := m.([]any)
			opts, _ := row[len(row)-1].(map[string]any)
			if expr, ok := opts["expression"].(string); ok {
				out[title] = append(out[title], "expr "+expr)
				continue
			}
			var parts []string
			for _, v := range row {
				if s, ok := v.(string); ok {
					parts = append(parts, s)
				}
			}
			stat, ok := opts["stat"].(string)
			if !ok {
				stat = "Average" // CloudWatch's default, which CDK leaves out
			}
			parts = append(parts, "stat="+stat)
			if period, ok := opts["period"].(float64); ok && period != 300 {
				parts = append(parts, fmt.Sprintf("period=%v", period))
			}
			out[title] = append(out[title], strings.Join(parts, " "))
		}
	}
	return out
}

func TestDashboard(t *testing.T) {
	s := synth(t, map[string]any{"restoreBuckets": "restore-a", "archiveBuckets": "archive-a"})
	got := widgetMetrics(t, dashboardBody(t, s))
	smArn := "<{Ref:" + s.logicalID(s.stack.Workflow.StateMachine.Node().DefaultChild()) + "}>"
	fnRef := func(name string) string {
		return "<{Ref:" + s.logicalID(s.stack.Functions[name].Function.Node().DefaultChild()) + "}>"
	}
	queueName := func(q awssqs.IQueue) string {
		return "<{Fn::GetAtt:[" + s.logicalID(q.Node().DefaultChild()) + ",QueueName]}>"
	}
	dlq, intakeDLQ, intake := queueName(s.stack.Trigger.DeadLetterQueue), queueName(s.stack.Intake.DeadLetterQueue), queueName(s.stack.Intake.Queue)
	ns := metrics.Namespace
	var lambdaRows []string
	for _, name := range functionNames {
		lambdaRows = append(lambdaRows, "AWS/Lambda Errors FunctionName "+fnRef(name)+" stat=Sum", "AWS/Lambda Throttles FunctionName "+fnRef(name)+" stat=Sum")
	}
	want := map[string][]string{
		"Executions started / succeeded / failed": {
			"AWS/States ExecutionsStarted StateMachineArn " + smArn + " stat=Sum",
			"AWS/States ExecutionsSucceeded StateMachineArn " + smArn + " stat=Sum",
			"AWS/States ExecutionsFailed StateMachineArn " + smArn + " stat=Sum",
		},
		"Files copied vs failed (by error name)": {
			ns + " FilesCopied Function aggregate stat=Sum",
			`expr SEARCH('{CopyFilesToArchive,Function,ErrorName} MetricName="FilesFailed"', 'Sum', 300)`,
		},
		"Bytes copied per day": {ns + " BytesCopied Function copy-file stat=Sum period=86400"},
		"Copy duration (seconds, all passes)": {
			ns + " CopySeconds Function copy-file stat=p50", ns + " CopySeconds Function copy-file stat=p90", ns + " CopySeconds Function copy-file stat=p99",
		},
		"Throughput (MB/s) and passes per copy": {
			ns + " CopyThroughput Function copy-file stat=Average", ns + " CopyThroughput Function copy-file stat=p10",
			ns + " CopyPasses Function copy-file stat=Average",
		},
		"Errors and throttles per function": lambdaRows,
		"Dead-letter queues and the intake's oldest event (s)": {
			"AWS/SQS ApproximateNumberOfMessagesVisible QueueName " + dlq + " stat=Maximum",
			"AWS/SQS ApproximateNumberOfMessagesVisible QueueName " + intakeDLQ + " stat=Maximum",
			"AWS/SQS ApproximateAgeOfOldestMessage QueueName " + intake + " stat=Maximum",
		},
		// The sweep's row: each of its metrics, one point per sweep (60 minutes).
		"Reconcile: stuck files per sweep": {
			ns + " StuckFiles Function reconcile stat=Sum period=3600", ns + " StuckAgainFiles Function reconcile stat=Sum period=3600",
			ns + " RestoresRunning Function reconcile stat=Sum period=3600", ns + " RowsNotInRestoreBuckets Function reconcile stat=Sum period=3600",
		},
		"Reconcile: what the sweeps did": {
			ns + " ReconcileFilesStarted Function reconcile stat=Sum period=3600", ns + " RestoresExpired Function reconcile stat=Sum period=3600",
			ns + " RestoredFilesMissing Function reconcile stat=Sum period=3600", ns + " RestoresRequestedAgain Function reconcile stat=Sum period=3600",
			ns + " ReconcileExecutionsStarted Function reconcile stat=Sum period=3600", ns + " ReconcileCutShort Function reconcile stat=Sum period=3600",
		},
	}
	for title, rows := range want {
		for _, row := range rows {
			if !slices.Contains(got[title], row) {
				t.Errorf("widget %q lacks %q; has:\n  %s", title, row, strings.Join(got[title], "\n  "))
			}
		}
	}
	db := strings.Join(got["Database calls: latency (ms) and unavailability"], "\n")
	for _, row := range []string{"DatabaseCallMilliseconds Function request-status Operation find_open_job stat=p99",
		"DatabaseUnavailable Function request-status Operation record_outcome stat=Sum"} {
		if !strings.Contains(db, row) {
			t.Errorf("database widget lacks %q:\n%s", row, db)
		}
	}
}
