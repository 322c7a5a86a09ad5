package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// RestoreTriggerProps says which buckets' restores go to which intake queue.
type RestoreTriggerProps struct {
	// Intake is the queue the restore events are sent to (Intake.Queue).
	Intake         awssqs.IQueue
	RestoreBuckets []string
	// EnableBucketNotifications turns on "send notifications to Amazon
	// EventBridge" on the existing restore buckets (through CDK's
	// bucket-notifications custom resource, which keeps the buckets' other
	// notification settings).
	EnableBucketNotifications bool
}

// RestoreTrigger is the EventBridge rule that sends each "Object Restore
// Completed" event from the restore buckets to the intake queue, cut down to
// what the workflow reads (restoreEventTemplate), retrying delivery and
// parking events it could not send in an encrypted dead-letter queue.
type RestoreTrigger struct {
	constructs.Construct
	Rule            awsevents.Rule
	DeadLetterQueue awssqs.Queue
}

// NewRestoreTrigger creates the rule, its target and the dead-letter queue.
// The dead-letter queue holds events whose SendMessage to the intake failed
// for 24 hours; an event in the intake that the Pipe cannot deliver goes to
// the intake's own dead-letter queue (intake.go).
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
	rule.AddTarget(awseventstargets.NewSqsQueue(props.Intake, &awseventstargets.SqsQueueProps{
		DeadLetterQueue: dlq,
		RetryAttempts:   jsii.Number(185),
		MaxEventAge:     awscdk.Duration_Hours(jsii.Number(24)),
	}))
	// CDK's RuleTargetInput renders every field unquoted; the version id
	// needs quotes (restoreEventTemplate), so the transformer is set on the
	// rule's one target directly.
	rule.Node().DefaultChild().(awsevents.CfnRule).AddPropertyOverride(jsii.String("Targets.0.InputTransformer"), map[string]any{
		"InputPathsMap": restoreEventPaths,
		"InputTemplate": restoreEventTemplate,
	})

	if props.EnableBucketNotifications {
		for i, name := range props.RestoreBuckets {
			bucket := awss3.Bucket_FromBucketName(c, jsii.String(fmt.Sprintf("RestoreBucket%d", i+1)), jsii.String(name))
			bucket.EnableEventBridgeNotification()
		}
	}

	return &RestoreTrigger{Construct: c, Rule: rule, DeadLetterQueue: dlq}
}

// restoreEventPaths are the fields of an "Object Restore Completed" event the
// workflow reads (parse-event), by the names restoreEventTemplate uses.
var restoreEventPaths = map[string]string{
	"bucket":  "$.detail.bucket.name",
	"key":     "$.detail.object.key",
	"size":    "$.detail.object.size",
	"etag":    "$.detail.object.etag",
	"version": "$.detail.object.version-id",
	"expiry":  "$.detail.restore-expiry-time",
}

// restoreEventTemplate is the message the rule sends to the intake: a
// minimal EventBridge event that parse-event reads as it reads the whole
// one, about 350 bytes instead of about 1 KB: the batch the Pipe passes
// (billed by 64 KB chunk) and the execution's input (256 KiB at most) are
// that much smaller.
//
// A placeholder outside quotes is replaced by the value as JSON (a string
// with its quotes, a number), one inside quotes by the bare text
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html).
// The bucket, key and size are in every restore event and stay unquoted, so
// whatever characters the key holds arrive escaped as S3 sent them. The
// version id is absent on an unversioned bucket, and for a path the event
// lacks "that variable isn't created and won't appear in the output" (same
// page, "Common Issues"): quoted, it then leaves "" (valid JSON, which
// parse-event reads as no version; it reads null alike), where an unquoted
// one could leave no value at all. The ETag and the expiry, optional to
// parse-event, are quoted for the same reason; neither holds a quote or a
// backslash (hex digits and a dash; an RFC 3339 time).
const restoreEventTemplate = `{"detail-type":"Object Restore Completed","source":"aws.s3",` +
	`"detail":{"bucket":{"name":<bucket>},"object":{"key":<key>,"size":<size>,"etag":"<etag>","version-id":"<version>"},` +
	`"restore-expiry-time":"<expiry>"}}`
