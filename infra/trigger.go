package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// RestoreTriggerProps says which buckets' restores start which workflow.
type RestoreTriggerProps struct {
	StateMachine   awsstepfunctions.IStateMachine
	RestoreBuckets []string
	// EnableBucketNotifications turns on "send notifications to Amazon
	// EventBridge" on the existing restore buckets (through CDK's
	// bucket-notifications custom resource, which keeps the buckets' other
	// notification settings).
	EnableBucketNotifications bool
}

// RestoreTrigger is the EventBridge rule that starts one execution per "Object
// Restore Completed" event from the restore buckets, with the whole event as
// input, retrying delivery and parking undeliverable events in an encrypted
// dead-letter queue.
type RestoreTrigger struct {
	constructs.Construct
	Rule            awsevents.Rule
	DeadLetterQueue awssqs.Queue
}

// NewRestoreTrigger creates the rule, its target and the dead-letter queue.
func NewRestoreTrigger(scope constructs.Construct, id string, props *RestoreTriggerProps) *RestoreTrigger {
	c := constructs.NewConstruct(scope, jsii.String(id))

	dlq := awssqs.NewQueue(c, jsii.String("DeadLetterQueue"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(14)),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(dlq, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself the dead-letter queue of the EventBridge target; its messages are inspected and redriven by hand."),
	}}, jsii.Bool(false))

	buckets := make([]any, len(props.RestoreBuckets))
	for i, b := range props.RestoreBuckets {
		buckets[i] = b
	}
	rule := awsevents.NewRule(c, jsii.String("Rule"), &awsevents.RuleProps{
		Description: jsii.String("Starts the copy workflow when S3 completes a restore in a restore bucket"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings("aws.s3"),
			DetailType: jsii.Strings("Object Restore Completed"),
			Detail: &map[string]any{
				"bucket": map[string]any{"name": buckets},
			},
		},
	})
	rule.AddTarget(awseventstargets.NewSfnStateMachine(props.StateMachine, &awseventstargets.SfnStateMachineProps{
		DeadLetterQueue: dlq,
		RetryAttempts:   jsii.Number(185),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(24)),
	}))

	if props.EnableBucketNotifications {
		for i, name := range props.RestoreBuckets {
			bucket := awss3.Bucket_FromBucketName(c, jsii.String(fmt.Sprintf("RestoreBucket%d", i+1)), jsii.String(name))
			bucket.EnableEventBridgeNotification()
		}
	}

	return &RestoreTrigger{Construct: c, Rule: rule, DeadLetterQueue: dlq}
}
