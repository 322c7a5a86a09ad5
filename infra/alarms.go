package main

import (
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

// WorkflowAlarmsProps names what to watch and whom to tell.
type WorkflowAlarmsProps struct {
	StateMachine awsstepfunctions.StateMachine
	// DeadLetterQueue is the restore rule's: events it could not send to
	// the intake queue.
	DeadLetterQueue awssqs.IQueue
	// Intake is the intake queue, its dead-letter queue and Pipe.
	Intake *Intake
	// IntakeStalled is the age of the intake's oldest message past which
	// the intake is stalled (IntakeStalledSecs).
	IntakeStalled awscdk.Duration
	// AlarmEmail, when not empty, is subscribed to the topic.
	AlarmEmail string
}

// WorkflowAlarms raises an alarm when an execution fails (any file not
// copied or not recorded: CopyRequestError), when an event could not be sent
// to the intake queue (a message in the rule's dead-letter queue), when the
// Pipe could not start an execution for an event (a message in the intake's
// dead-letter queue) and when the intake's oldest event waits too long, all
// to an encrypted SNS topic.
type WorkflowAlarms struct {
	constructs.Construct
	Topic           awssns.Topic
	FailedAlarm     awscloudwatch.Alarm
	DeadLetterAlarm awscloudwatch.Alarm
	// IntakeDeadLetterAlarm and IntakeStalledAlarm watch the intake.
	IntakeDeadLetterAlarm awscloudwatch.Alarm
	IntakeStalledAlarm    awscloudwatch.Alarm
}

// NewWorkflowAlarms creates the topic, its key and the four alarms.
func NewWorkflowAlarms(scope constructs.Construct, id string, props *WorkflowAlarmsProps) *WorkflowAlarms {
	c := constructs.NewConstruct(scope, jsii.String(id))
	topic := newAlarmTopic(c, props.AlarmEmail)
	failed := NewAlarm(c, "ExecutionsFailed", &AlarmProps{
		Description: "A copy workflow execution failed: a file was not copied or its status not recorded (see the execution's CopyRequestError).",
		Metric: props.StateMachine.MetricFailed(&awscloudwatch.MetricOptions{
			Period:    awscdk.Duration_Minutes(jsii.Number(5)),
			Statistic: jsii.String("Sum"),
		}),
		Topic: topic,
	})
	dead := NewAlarm(c, "DeadLetters", &AlarmProps{
		Description: "A restore event could not be sent to the intake queue and is in the restore rule's dead-letter queue " +
			*props.DeadLetterQueue.QueueName() + ": replay it into the intake (docs/runbook.md).",
		Metric: queueDepth(props.DeadLetterQueue),
		Topic:  topic,
	})
	a := &WorkflowAlarms{Construct: c, Topic: topic, FailedAlarm: failed, DeadLetterAlarm: dead}
	a.addIntakeAlarms(c, props, topic)
	return a
}

// addIntakeAlarms adds the intake's two alarms: a message in its
// dead-letter queue, and its oldest message older than props.IntakeStalled.
func (a *WorkflowAlarms) addIntakeAlarms(c constructs.Construct, props *WorkflowAlarmsProps, topic awssns.ITopic) {
	in := props.Intake
	a.IntakeDeadLetterAlarm = NewAlarm(c, "IntakeDeadLetters", &AlarmProps{
		Description: "The Pipe could not start a copy workflow execution for a restore event of the intake queue " + *in.Queue.QueueName() +
			" (" + strconv.Itoa(maxIntakeReceives) + " receives), and it is in the intake's dead-letter queue " + *in.DeadLetterQueue.QueueName() + ": replay it into the intake (docs/runbook.md).",
		Metric: queueDepth(in.DeadLetterQueue),
		Topic:  topic,
	})
	// The most over 5 minutes: the oldest event's age at any minute past
	// the threshold fires it.
	a.IntakeStalledAlarm = NewAlarm(c, "IntakeStalled", &AlarmProps{
		Description: "The oldest restore event of the intake queue " + *in.Queue.QueueName() + " has waited more than " +
			*props.IntakeStalled.ToHumanString() + " (a batching window and a visibility timeout): the Pipe is not starting executions; see the Pipe's state and docs/runbook.md.",
		Metric: in.Queue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{
			Period:    awscdk.Duration_Minutes(jsii.Number(5)),
			Statistic: jsii.String("Maximum"),
		}),
		Threshold: props.IntakeStalled.ToSeconds(nil),
		Topic:     topic,
	})
}

// queueDepth is a queue's visible messages, the most in 5 minutes.
func queueDepth(q awssqs.IQueue) awscloudwatch.IMetric {
	return q.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
		Period:    awscdk.Duration_Minutes(jsii.Number(5)),
		Statistic: jsii.String("Maximum"),
	})
}

// newAlarmTopic creates the encrypted topic every alarm publishes to, and
// subscribes email to it when not empty.
func newAlarmTopic(c constructs.Construct, email string) awssns.Topic {
	// CloudWatch alarms can publish to an encrypted topic only when the key
	// policy lets CloudWatch use the key, hence a customer managed key.
	key := awskms.NewKey(c, jsii.String("TopicKey"), &awskms.KeyProps{
		Description:       jsii.String("Encrypts the copy-files-to-archive alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
	})
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudWatchAlarmsToPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
	}), nil)
	topic := awssns.NewTopic(c, jsii.String("Topic"), &awssns.TopicProps{
		DisplayName: jsii.String("copy-files-to-archive alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	// A topic policy replaces SNS's default policy, and EnforceSSL makes CDK
	// write one holding only its Deny: without this Allow no alarm could
	// publish. The conditions keep the service principal from acting for
	// another account's alarms, or for alarms outside this stack (confused
	// deputy): https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html
	// and https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html
	topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowStackAlarmsToPublish"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{topic.TopicArn()},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
			"ArnLike":      map[string]any{"aws:SourceArn": alarmARNPattern()},
		},
	}))
	if email != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(email), nil))
	}
	return topic
}

// AlarmProps is one alarm: what it watches, what it tells, where it goes.
type AlarmProps struct {
	// Description is the alarm's text in the email: what happened and
	// where to look.
	Description string
	// Metric fires the alarm when it reaches Threshold in one period.
	Metric awscloudwatch.IMetric
	// Threshold is 1 when nil: one failure, one dead letter.
	Threshold *float64
	Topic     awssns.ITopic
}

// NewAlarm creates the stack's one kind of alarm, named alarmName(id): it
// fires when props.Metric is at least props.Threshold (1 unless set) in one
// period, counts missing data as fine, and publishes to props.Topic. Every
// alarm of the stack is made here, in this file.
func NewAlarm(scope constructs.Construct, id string, props *AlarmProps) awscloudwatch.Alarm {
	threshold := props.Threshold
	if threshold == nil {
		threshold = jsii.Number(1)
	}
	a := awscloudwatch.NewAlarm(scope, jsii.String(id), &awscloudwatch.AlarmProps{
		AlarmName:          alarmName(id),
		AlarmDescription:   jsii.String(props.Description),
		Metric:             props.Metric,
		Threshold:          threshold,
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	a.AddAlarmAction(awscloudwatchactions.NewSnsAction(props.Topic))
	return a
}

// ReconcileAlarmsProps is what the sweep's alarms watch.
type ReconcileAlarmsProps struct {
	// Function is the reconcile function; its errors are failed sweeps.
	Function awslambda.IFunction
	// Period is the sweep's period: each alarm evaluates one sweep.
	Period awscdk.Duration
	Topic  awssns.ITopic
}

// ReconcileAlarms are the sweep's three alarms.
type ReconcileAlarms struct {
	// StuckAgain fires when rows a sweep had started copies of are still
	// stuck at the next sweep.
	StuckAgain awscloudwatch.Alarm
	// NotRestorable fires when a sweep recorded expired or missing
	// restores it did not request again.
	NotRestorable awscloudwatch.Alarm
	// Failed fires when a sweep failed.
	Failed awscloudwatch.Alarm
}

// NewReconcileAlarms creates the sweep's alarms in scope, the sweep's
// construct (their logical IDs are Reconcile<id>...).
func NewReconcileAlarms(scope constructs.Construct, props *ReconcileAlarmsProps) ReconcileAlarms {
	metric := func(name, label string) awscloudwatch.Metric { return reconcileMetric(name, label, props.Period) }
	var a ReconcileAlarms
	a.StuckAgain = NewAlarm(scope, "FilesStuckAcrossSweeps", &AlarmProps{
		Description: "Restored files a reconcile sweep started copies of are still not copied at the next sweep: see `go run ./cmd/recovery status` and docs/runbook.md.",
		Metric:      metric(reconcile.MetricStuckAgain, "stuck again"),
		Topic:       props.Topic,
	})
	notRestorable := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("expired + missing - rerestored"),
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"expired":    metric(reconcile.MetricExpired, "expired"),
			"missing":    metric(reconcile.MetricMissing, "missing"),
			"rerestored": metric(reconcile.MetricReRestored, "re-restored"),
		},
		Label:  jsii.String("recorded error: restore expired or object missing"),
		Period: props.Period,
	})
	a.NotRestorable = NewAlarm(scope, "RestoresExpiredBeforeCopy", &AlarmProps{
		Description: "A reconcile sweep found restored files that can no longer be copied (restore expired, or object missing) and recorded error: request their restores again.",
		Metric:      notRestorable,
		Topic:       props.Topic,
	})
	a.Failed = NewAlarm(scope, "ReconcileFailed", &AlarmProps{
		Description: "A reconcile sweep failed (database, S3 or StartExecution): stuck files wait for the next sweep; see the reconcile function's log.",
		Metric:      props.Function.MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: props.Period}),
		Topic:       props.Topic,
	})
	return a
}

// The alarms are named "<stack name>-<what>", so that the topic policy can
// let this stack's alarms publish (alarmARNPattern), not every alarm of the
// account.
func alarmName(what string) *string {
	return awscdk.Fn_Sub(jsii.String("${AWS::StackName}-"+what), nil)
}

// alarmARNPattern matches the ARNs of the alarms alarmName names.
func alarmARNPattern() *string {
	return awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:${AWS::StackName}-*"), nil)
}
