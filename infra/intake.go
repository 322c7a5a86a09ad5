package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awspipes"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/copy-files-to-archive/copy-files-to-archive/infra/cdkcontext"
)

// IntakeProps is what the intake feeds and how it batches.
type IntakeProps struct {
	StateMachine awsstepfunctions.IStateMachine
	Settings     cdkcontext.IntakeSettings
	// StartAfter are constructs the Pipe must wait for before it starts
	// executions (the state machine role's Distributed Map policy).
	StartAfter []constructs.IConstruct
}

// Intake is the queue the restore rule sends each restore event to, and
// the EventBridge Pipe that starts one Standard execution per batch of
// them; a message the Pipe cannot deliver maxIntakeReceives times moves to
// the intake's own dead-letter queue.
type Intake struct {
	constructs.Construct
	Queue           awssqs.Queue
	DeadLetterQueue awssqs.Queue
	Pipe            awspipes.CfnPipe
	Role            awsiam.Role
}

// pipeDeliverySecs bounds how long the Pipe takes to deliver a batch it has
// gathered (StartExecution, retried when throttled). Pipes asks for a
// visibility timeout of "at least six times the timeout that you configure
// on your pipe"
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html);
// a Pipe has no timeout of its own to configure, so this is ours.
const pipeDeliverySecs = 30

// maxIntakeReceives is the intake's redrive maxReceiveCount. For an SQS
// source "Pipes retries customer errors until the maximum receive count of
// the source queue" and does not count its own internal errors
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-error-troubleshooting.html),
// and AWS asks for at least 5 (eb-pipes-sqs.html): a batch whose
// StartExecution fails 5 times (permissions, a deleted state machine, a
// throttle past the Pipe's retries) lands in the dead-letter queue.
const maxIntakeReceives = 5

// Retention: the intake keeps a message 7 days, the dead-letter queue 14
// days. A standard queue's message keeps its enqueue time when it moves to
// the dead-letter queue, so the dead-letter queue must keep messages longer
// than the source
// (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/setting-up-dead-letter-queue-retention.html).
const (
	intakeRetentionDays           = 7
	intakeDeadLetterRetentionDays = 14
)

// IntakeVisibilitySecs is the intake queue's visibility timeout: the
// Pipe's batching window (the messages it has received stay hidden while
// it gathers the rest of the batch, eb-pipes-sqs.html) plus six times its
// delivery time. A shorter one would let SQS hand a message out again while
// its batch is still being delivered: an execution more for the same file,
// harmless (a duplicate is copied and recorded once) but billed.
func IntakeVisibilitySecs(s cdkcontext.IntakeSettings) int {
	return s.BatchWindowSecs + 6*pipeDeliverySecs
}

// IntakeStalledSecs is the age of the intake's oldest message past which
// the intake is stalled: a healthy Pipe deletes each message within its
// batching window plus its delivery; a message older than a window and a
// whole visibility timeout has had at least one failed delivery.
func IntakeStalledSecs(s cdkcontext.IntakeSettings) int {
	return s.BatchWindowSecs + IntakeVisibilitySecs(s)
}

// NewIntake creates the queue, its dead-letter queue, the Pipe and its role.
func NewIntake(scope constructs.Construct, id string, props *IntakeProps) *Intake {
	c := constructs.NewConstruct(scope, jsii.String(id))
	in := &Intake{Construct: c}
	in.DeadLetterQueue = awssqs.NewQueue(c, jsii.String("DeadLetterQueue"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(intakeDeadLetterRetentionDays)),
	})
	cdknag.NagSuppressions_AddResourceSuppressions(in.DeadLetterQueue, &[]*cdknag.NagPackSuppression{{
		Id:     jsii.String("AwsSolutions-SQS3"),
		Reason: jsii.String("This queue is itself the intake's dead-letter queue; its messages are replayed into the intake by hand (replay-dlq, docs/runbook.md)."),
	}}, jsii.Bool(false))
	in.Queue = awssqs.NewQueue(c, jsii.String("Queue"), &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(intakeRetentionDays)),
		VisibilityTimeout: awscdk.Duration_Seconds(jsii.Number(float64(IntakeVisibilitySecs(props.Settings)))),
		DeadLetterQueue:   &awssqs.DeadLetterQueue{Queue: in.DeadLetterQueue, MaxReceiveCount: jsii.Number(maxIntakeReceives)},
	})
	in.Role = newPipeRole(c, in.Queue, props.StateMachine)
	in.Pipe = newPipe(c, in, props)
	return in
}

// newPipeRole is the Pipe's role: read and delete the intake's messages
// (the permissions eb-pipes-sqs.html lists for an SQS source) and start
// executions of the state machine, nothing else. The policy is inline, part
// of the role itself, so the Pipe never exists without it.
func newPipeRole(c constructs.Construct, queue awssqs.IQueue, sm awsstepfunctions.IStateMachine) awsiam.Role {
	doc := awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{Statements: &[]awsiam.PolicyStatement{
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("ReadIntakeQueue"),
			Actions:   jsii.Strings("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"),
			Resources: &[]*string{queue.QueueArn()},
		}),
		awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("StartBatchExecutions"),
			Actions:   jsii.Strings("states:StartExecution"),
			Resources: &[]*string{sm.StateMachineArn()},
		}),
	}})
	// aws:SourceAccount keeps the Pipes service from assuming the role for
	// another account's pipe (confused deputy).
	principal := awsiam.NewServicePrincipal(jsii.String("pipes.amazonaws.com"), &awsiam.ServicePrincipalOpts{
		Conditions: &map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()}},
	})
	return awsiam.NewRole(c, jsii.String("PipeRole"), &awsiam.RoleProps{
		AssumedBy:      principal,
		Description:    jsii.String("Starts one copy workflow execution per batch of the intake queue's restore events"),
		InlinePolicies: &map[string]awsiam.PolicyDocument{"ReadIntakeStartExecutions": doc},
	})
}

// newPipe is the Pipe from the intake queue to the state machine. Its input
// to StartExecution is the batch as the Pipe reads it: a JSON array of SQS
// records, each with its messageId and, as body, the restore event the rule
// sent (eb-pipes-sqs.html, "Example events"); parse-event reads that shape.
//
// The Pipe has no log configuration: a batch it cannot start returns to the
// queue and, after maxIntakeReceives, lands in the dead-letter queue, and
// both are alarmed (alarms.go); logging would need log permissions on its
// role, which is kept to the four actions it uses.
func newPipe(c constructs.Construct, in *Intake, props *IntakeProps) awspipes.CfnPipe {
	pipe := awspipes.NewCfnPipe(c, jsii.String("Pipe"), &awspipes.CfnPipeProps{
		Description: jsii.String("Starts the copy workflow once per batch of restore events"),
		RoleArn:     in.Role.RoleArn(),
		Source:      in.Queue.QueueArn(),
		SourceParameters: &awspipes.CfnPipe_PipeSourceParametersProperty{
			SqsQueueParameters: &awspipes.CfnPipe_PipeSourceSqsQueueParametersProperty{
				BatchSize:                      jsii.Number(float64(props.Settings.BatchSize)),
				MaximumBatchingWindowInSeconds: jsii.Number(float64(props.Settings.BatchWindowSecs)),
			},
		},
		Target: props.StateMachine.StateMachineArn(),
		TargetParameters: &awspipes.CfnPipe_PipeTargetParametersProperty{
			// A Standard workflow can only be started asynchronously:
			// "REQUEST_RESPONSE is not supported for STANDARD state machine
			// workflows"
			// (https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_PipeTargetStateMachineParameters.html).
			StepFunctionStateMachineParameters: &awspipes.CfnPipe_PipeTargetStateMachineParametersProperty{
				InvocationType: jsii.String("FIRE_AND_FORGET"),
			},
		},
	})
	for _, dep := range props.StartAfter {
		pipe.Node().AddDependency(dep)
	}
	return pipe
}
