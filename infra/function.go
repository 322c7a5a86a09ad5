package main

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
)

// GoFunctionProps describes one Go Lambda of the workflow.
type GoFunctionProps struct {
	// ConstructID is the function's construct id
	// (statemachine.Function.ConstructID).
	ConstructID string
	Description string
	// Code holds the `bootstrap` executable (see lambdaBuilder).
	Code        awslambda.Code
	Timeout     awscdk.Duration
	MemoryMB    float64
	Environment map[string]string
	// ReservedConcurrency, when above 0, is the function's reserved
	// concurrency: at most that many invocations at once (more are
	// throttled with Lambda.TooManyRequestsException), and as many kept
	// aside from the account's pool.
	ReservedConcurrency int
	// LogRetention is how long the function's log group keeps its logs.
	LogRetention awslogs.RetentionDays
	// Shared, when not nil, is the function whose role and log group this
	// one uses instead of its own (two deployments of the same code: one
	// principal, one log group).
	Shared *GoFunction
	// VPC placement; all nil for a Lambda outside any VPC.
	VPC            awsec2.IVpc
	Subnets        []awsec2.ISubnet
	SecurityGroups []awsec2.ISecurityGroup
}

// GoFunction is a Go Lambda on provided.al2023 / arm64 with its own log group
// (retention set, JSON log format), X-Ray active tracing, and a role of its
// own that starts with nothing but writing to that log group.
type GoFunction struct {
	constructs.Construct
	Function awslambda.Function
	Role     awsiam.Role
	LogGroup awslogs.LogGroup
	// Environment is the function's environment, as given.
	Environment map[string]string
}

// NewGoFunction creates the function, its role and its log group (or uses
// props.Shared's).
func NewGoFunction(scope constructs.Construct, id string, props *GoFunctionProps) *GoFunction {
	c := constructs.NewConstruct(scope, jsii.String(id))
	if props.Shared != nil {
		return newGoFunction(c, props, props.Shared.Role, props.Shared.LogGroup)
	}
	role := awsiam.NewRole(c, jsii.String("Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("Runs the " + id + " Lambda of the copy-files-to-archive workflow"),
	})
	logGroup := awslogs.NewLogGroup(c, jsii.String("Logs"), &awslogs.LogGroupProps{
		Retention:     props.LogRetention,
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	// logs:CreateLogStream and logs:PutLogEvents on this log group only (no
	// AWSLambdaBasicExecutionRole, which allows every log group).
	logGroup.GrantWrite(role)
	// Active tracing adds xray:PutTraceSegments and xray:PutTelemetryRecords
	// on "*".
	cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions, so their resource is \"*\"."),
		AppliesTo: &[]any{"Resource::*"},
	}}, jsii.Bool(true))
	return newGoFunction(c, props, role, logGroup)
}

// newGoFunction creates the function in c, running as role and logging to
// logGroup. Several functions may log to one log group, each to streams
// named after the function, its version and its execution environment
// (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-loggroups.html).
func newGoFunction(c constructs.Construct, props *GoFunctionProps, role awsiam.Role, logGroup awslogs.LogGroup) *GoFunction {

	env := map[string]*string{}
	for k, v := range props.Environment {
		env[k] = jsii.String(v)
	}
	fnProps := &awslambda.FunctionProps{
		Description:   jsii.String(props.Description),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          props.Code,
		Role:          role,
		Timeout:       props.Timeout,
		MemorySize:    jsii.Number(props.MemoryMB),
		Environment:   &env,
		LogGroup:      logGroup,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		// With JSON logs Lambda drops application lines below this level
		// by their "level" key; the EMF metric lines are INFO
		// (metrics.Level), so a function raised to WARN would blank the
		// dashboard. Pinned here, a deploy resets a level raised by hand.
		ApplicationLogLevelV2: applicationLogLevel,
		// WARN: no START/REPORT line per invocation (about 600 bytes
		// each, a third of a small file's function logs); Lambda's own
		// metrics keep Duration, Errors and Throttles (docs/runbook.md,
		// "Logs").
		SystemLogLevelV2: awslambda.SystemLogLevel(lambdafn.SystemLogLevel),
		Tracing:          awslambda.Tracing_ACTIVE,
	}
	if props.ReservedConcurrency > 0 {
		fnProps.ReservedConcurrentExecutions = jsii.Number(props.ReservedConcurrency)
	}
	if props.VPC != nil {
		fnProps.Vpc = props.VPC
		fnProps.VpcSubnets = &awsec2.SubnetSelection{Subnets: &props.Subnets}
		fnProps.SecurityGroups = &props.SecurityGroups
		// With a role of our own, CDK adds no ENI permissions: Lambda needs
		// them to attach the function to the VPC.
		role.AddManagedPolicy(awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("service-role/AWSLambdaVPCAccessExecutionRole")))
		cdknag.NagSuppressions_AddResourceSuppressions(role, &[]*cdknag.NagPackSuppression{{
			Id:        jsii.String("AwsSolutions-IAM4"),
			Reason:    jsii.String("AWSLambdaVPCAccessExecutionRole holds exactly the EC2 network-interface actions Lambda needs to run in the VPC; AWS maintains it."),
			AppliesTo: &[]any{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"},
		}}, jsii.Bool(true))
	}
	fn := awslambda.NewFunction(c, jsii.String("Function"), fnProps)
	return &GoFunction{Construct: c, Function: fn, Role: role, LogGroup: logGroup, Environment: props.Environment}
}

// applicationLogLevel is the functions' ApplicationLogLevel: the level the
// metrics lines are written at (metrics.LambdaLogLevel), checked by the
// stack test.
var applicationLogLevel = awslambda.ApplicationLogLevel(metrics.LambdaLogLevel)

// retention converts a day count cdk.json gives (one CloudWatch Logs
// accepts; Config checks it) to the CDK's enum.
func retention(days int) awslogs.RetentionDays {
	byDays := map[int]awslogs.RetentionDays{
		1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
		7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
		60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
		150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
		400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
		1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
		2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
		3653: awslogs.RetentionDays_TEN_YEARS,
	}
	if r, ok := byDays[days]; ok {
		return r
	}
	return awslogs.RetentionDays_THREE_MONTHS
}
