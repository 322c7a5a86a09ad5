package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
)

// WorkflowAlarmsProps names what to watch and whom to tell.
type WorkflowAlarmsProps struct {
	StateMachine    awsstepfunctions.StateMachine
	DeadLetterQueue awssqs.IQueue
	// AlarmEmail, when not empty, is subscribed to the topic.
	AlarmEmail string
}

// WorkflowAlarms raises an alarm when an execution fails (any file not
// copied or not recorded: CopyRequestError) and when an event could not be
// delivered to the workflow (a message in the dead-letter queue), both to an
// encrypted SNS topic.
type WorkflowAlarms struct {
	constructs.Construct
	Topic           awssns.Topic
	FailedAlarm     awscloudwatch.Alarm
	DeadLetterAlarm awscloudwatch.Alarm
}

// NewWorkflowAlarms creates the topic, its key and the two alarms.
func NewWorkflowAlarms(scope constructs.Construct, id string, props *WorkflowAlarmsProps) *WorkflowAlarms {
	c := constructs.NewConstruct(scope, jsii.String(id))

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
	if props.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(props.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(topic)

	failed := awscloudwatch.NewAlarm(c, jsii.String("ExecutionsFailed"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("A copy workflow execution failed: a file was not copied or its status not recorded (see the execution's CopyRequestError)."),
		Metric: props.StateMachine.MetricFailed(&awscloudwatch.MetricOptions{
			Period:    awscdk.Duration_Minutes(jsii.Number(5)),
			Statistic: jsii.String("Sum"),
		}),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	failed.AddAlarmAction(action)

	dead := awscloudwatch.NewAlarm(c, jsii.String("DeadLetters"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("A restore event could not start the copy workflow and is in the dead-letter queue."),
		Metric: props.DeadLetterQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period:    awscdk.Duration_Minutes(jsii.Number(5)),
			Statistic: jsii.String("Maximum"),
		}),
		Threshold:          jsii.Number(1),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	dead.AddAlarmAction(action)

	return &WorkflowAlarms{Construct: c, Topic: topic, FailedAlarm: failed, DeadLetterAlarm: dead}
}
