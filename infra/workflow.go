package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// CopyWorkflowProps are the workflow's functions and policy.
type CopyWorkflowProps struct {
	// Functions holds each of statemachine.Functions, by Name.
	Functions map[string]awslambda.IFunction
	// Settings is the workflow policy; the function ARNs are filled in here.
	Settings     statemachine.Settings
	LogRetention awslogs.RetentionDays
}

// CopyWorkflow is the Standard state machine rendered from
// statemachine/definition.asl.json, logging every event with execution data,
// traced with X-Ray, and allowed to invoke its five functions and nothing
// else.
type CopyWorkflow struct {
	constructs.Construct
	StateMachine awsstepfunctions.StateMachine
	Role         awsiam.Role
	LogGroup     awslogs.LogGroup
	// MapPolicy lets the state machine run its Distributed Maps' children
	// (nothing may start an execution before it exists).
	MapPolicy awsiam.Policy
	// Definition is the rendered ASL, with the ARNs as CDK tokens.
	Definition string
}

// NewCopyWorkflow renders the definition and creates the state machine.
func NewCopyWorkflow(scope constructs.Construct, id string, props *CopyWorkflowProps) (*CopyWorkflow, error) {
	c := constructs.NewConstruct(scope, jsii.String(id))

	s := props.Settings
	s.FunctionARNs = map[string]string{}
	var arns []*string
	for _, f := range statemachine.Functions {
		fn, ok := props.Functions[f.Name]
		if !ok {
			return nil, fmt.Errorf("workflow: function %s is missing", f.Name)
		}
		s.FunctionARNs[f.Name] = *fn.FunctionArn()
		arns = append(arns, fn.FunctionArn())
	}
	definition, err := statemachine.Render(s)
	if err != nil {
		return nil, err
	}

	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), nil),
		Description: jsii.String("Runs the copy-files-to-archive state machine"),
	})
	// The function ARNs exactly: grantInvoke would add "ARN:*" (every
	// version and alias), which the definition never calls.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("InvokeWorkflowFunctions"),
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: &arns,
	}))

	// Under /aws/vendedlogs/: Step Functions adds each log group it logs to
	// to the account's CloudWatch Logs resource policy, which holds at most
	// 5,120 characters; groups under /aws/vendedlogs/ are covered by one
	// entry, so busy accounts do not hit that limit
	// (https://docs.aws.amazon.com/step-functions/latest/dg/bp-cwl.html).
	// The name ends in the stack's id (a UUID CloudFormation gives each
	// stack it creates): the group is retained when the stack is deleted,
	// and a fixed name would then block creating the stack again.
	logGroup := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		LogGroupName:  StateMachineLogGroupName(),
		Retention:     props.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})

	sm := awsstepfunctions.NewStateMachine(c, jsii.String("StateMachine"), &awsstepfunctions.StateMachineProps{
		Comment:          jsii.String("Copies files restored from Glacier to their archive bucket and records each file's status"),
		DefinitionBody:   awsstepfunctions.DefinitionBody_FromString(jsii.String(string(definition))),
		StateMachineType: awsstepfunctions.StateMachineType_STANDARD,
		Role:             role,
		Logs: &awsstepfunctions.LogOptions{
			Destination:          logGroup,
			Level:                awsstepfunctions.LogLevel(statemachine.LogLevel),
			IncludeExecutionData: jsii.Bool(true),
		},
		TracingEnabled: jsii.Bool(true),
	})

	mapPolicy := newDistributedMapPolicy(c, sm, role)

	cdknag.NagSuppressions_AddResourceSuppressions(sm, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SF1"),
		Reason: jsii.String("The state machine logs at " + statemachine.LogLevel + ": every failed or retried task, iteration and execution, with its cause. " +
			"A Standard execution's whole history stays in Step Functions for 90 days, where operators read it; logging ALL events " +
			"with execution data cost about 11 KB per file, the largest log item (docs/concurrency.md, docs/runbook.md \"Logs\")."),
	}}, jsii.Bool(true))

	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Step Functions logging (logs:CreateLogDelivery, GetLogDelivery, UpdateLogDelivery, DeleteLogDelivery, " +
			"ListLogDeliveries, PutResourcePolicy, DescribeResourcePolicies, DescribeLogGroups) and X-Ray tracing " +
			"(PutTraceSegments, PutTelemetryRecords, GetSamplingRules, GetSamplingTargets) support no resource-level permissions."),
		AppliesTo: &[]any{"Resource::*"},
	}}, jsii.Bool(true))

	return &CopyWorkflow{Construct: c, StateMachine: sm, Role: role, LogGroup: logGroup, MapPolicy: mapPolicy, Definition: string(definition)}, nil
}

// newDistributedMapPolicy lets the state machine run its two Distributed
// Maps ("Copy chunks", Express children; "Copy in the Standard lane",
// Standard children): each child is an execution of this same state
// machine, so its role may start executions of it, and describe and stop
// the Map Runs' children, whose ARNs are execution:<name>/<Map Run
// label>:<id> (https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html).
// Express children need nothing more: they run with this role (the
// functions they invoke are in InvokeWorkflowFunctions) and cannot be
// stopped or described. They log through the state machine's own logging
// configuration (level statemachine.LogLevel, with execution data): a
// child has no state machine of its own to configure, and
// DescribeStateMachineForExecution of a child returns the parent's, "the
// state machine associated with the Map Run"
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeStateMachineForExecution.html),
// so an Express child's failure is in the state machine's log group.
//
// A policy of its own, not the role's default policy: the state machine
// depends on that one, and naming the state machine in it would be a
// dependency cycle.
func newDistributedMapPolicy(c constructs.Construct, sm awsstepfunctions.StateMachine, role awsiam.Role) awsiam.Policy {
	children := awscdk.Stack_Of(c).FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("states"), Resource: jsii.String("execution"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		ResourceName: jsii.String(*sm.StateMachineName() + "/*"),
	})
	policy := awsiam.NewPolicy(c, jsii.String("DistributedMapPolicy"), &awsiam.PolicyProps{
		Roles: &[]awsiam.IRole{role},
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("StartChildExecutions"),
				Actions:   jsii.Strings("states:StartExecution"),
				Resources: &[]*string{sm.StateMachineArn()},
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Sid:       jsii.String("WatchChildExecutions"),
				Actions:   jsii.Strings("states:DescribeExecution", "states:StopExecution"),
				Resources: &[]*string{children},
			}),
		},
	})
	cdknag.NagSuppressions_AddResourceSuppressions(policy, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("A Distributed Map names its children execution:<state machine>/<Map Run label>:<id> at run time: the executions of this state machine's Map Runs, nothing else."),
		AppliesTo: &[]any{&cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::arn:<AWS::Partition>:states:(<AWS::Region>|[a-z0-9-]+):<AWS::AccountId>:execution:<[^>]+\.Name>\/\*$/g`)}},
	}}, jsii.Bool(false))
	return policy
}

// StateMachineLogGroupPrefix starts the name of the state machine's log group.
const StateMachineLogGroupPrefix = "/aws/vendedlogs/states/"

// StateMachineLogGroupName is the state machine's log group name:
// /aws/vendedlogs/states/<stack name>-<UUID of the stack id>.
func StateMachineLogGroupName() *string {
	stackUUID := awscdk.Fn_Select(jsii.Number(2), awscdk.Fn_Split(jsii.String("/"), awscdk.Aws_STACK_ID(), nil))
	return awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String(StateMachineLogGroupPrefix), awscdk.Aws_STACK_NAME(), jsii.String("-"), stackUUID,
	})
}
