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
	if props.AlarmEmail != "" {
		topic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(props.AlarmEmail), nil))
	}
	action := awscloudwatchactions.NewSnsAction(topic)

	failed := awscloudwatch.NewAlarm(c, jsii.String("ExecutionsFailed"), &awscloudwatch.AlarmProps{
		AlarmName:        alarmName("ExecutionsFailed"),
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
		AlarmName:        alarmName("DeadLetters"),
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
