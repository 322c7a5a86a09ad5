package main

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// The reconcile function is not a state of the workflow, so it is not in
// statemachine.Functions but in statemachine.OtherFunctions: the stack
// deploys it beside them, from functions/reconcile, when
// reconcilePeriodMinutes is above 0.

// The CDK context keys of the reconcile sweep.
const (
	ctxReconcilePeriodMinutes = "reconcilePeriodMinutes"
	ctxReconcileGraceMinutes  = "reconcileGraceMinutes"
	ctxReconcileReRestore     = "reconcileReRestore"
	ctxReconcileReRestoreDays = "reconcileReRestoreDays"
	ctxReconcileReRestoreTier = "reconcileReRestoreTier"
	ctxReconcileMaxFiles      = "reconcileMaxFilesPerExecution"
)

var reconcileContextKeys = []string{ctxReconcilePeriodMinutes, ctxReconcileGraceMinutes,
	ctxReconcileReRestore, ctxReconcileReRestoreDays, ctxReconcileReRestoreTier, ctxReconcileMaxFiles}

// ReconcileConfig is the sweep's schedule and policy.
type ReconcileConfig struct {
	// PeriodMinutes is how often the sweep runs; 0 deploys no sweep.
	PeriodMinutes int
	// GraceMinutes is how long a row stays unmarked before it counts as
	// stuck; at least statemachine.MaxUnmarked of the workflow settings
	// (checkReconcileGrace).
	GraceMinutes int
	// ReRestore requests expired restores again (RestoreObject costs
	// money: off by default), for ReRestoreDays in tier ReRestoreTier.
	ReRestore     bool
	ReRestoreDays int
	ReRestoreTier string
	// MaxFilesPerExecution bounds the files of one execution the sweep
	// starts; at most statemachine.MaxFilesPerExecution of the workflow
	// settings and at most the Map's MaxConcurrency (checkReconcileBatch).
	MaxFilesPerExecution int
}

// Enabled reports whether the stack deploys the sweep.
func (c ReconcileConfig) Enabled() bool { return c.PeriodMinutes > 0 }

// The bounds of the period (a day: its alarms evaluate one period, and
// CloudWatch evaluates at most a day) and of the grace (a week).
const (
	maxReconcilePeriodMinutes = 24 * 60
	maxReconcileGraceMinutes  = 7 * 24 * 60
)

func readReconcileConfig(r *contextReader) ReconcileConfig {
	c := ReconcileConfig{
		PeriodMinutes: r.integer(ctxReconcilePeriodMinutes, 0, maxReconcilePeriodMinutes),
		GraceMinutes:  r.integer(ctxReconcileGraceMinutes, 0, maxReconcileGraceMinutes),
		ReRestore:     r.boolean(ctxReconcileReRestore),
		ReRestoreDays: r.integer(ctxReconcileReRestoreDays, 1, reconcile.MaxReRestoreDays),
		ReRestoreTier: r.str(ctxReconcileReRestoreTier, true),
		// Its upper bound is the workflow's (checkReconcileBatch).
		MaxFilesPerExecution: r.integer(ctxReconcileMaxFiles, 1, math.MaxInt32),
	}
	if c.ReRestoreTier != "" && !slices.Contains(reconcile.ReRestoreTiers, c.ReRestoreTier) {
		r.errs = append(r.errs, fmt.Errorf("%s = %q: want one of %s", ctxReconcileReRestoreTier, c.ReRestoreTier, strings.Join(reconcile.ReRestoreTiers, ", ")))
	}
	return c
}

// checkReconcileBatch refuses workflow settings whose executions could
// pass Step Functions' 25,000 history events when every task makes every
// attempt its retriers allow (statemachine.MaxFilesPerExecution: the parent
// and each Standard lane child are bounded whatever the files), and more
// files per sweep execution than one execution carries (the same bound,
// contract.MaxFilesPerExecution, and parse-event's: newParseEventFunction)
// or than the reconcile function accepts (reconcile.MaxFilesPerExecutionLimit).
// It also refuses more files per execution than the Standard lane runs at
// once (checkReconcileBatchConcurrency).
func (c Config) checkReconcileBatch() []error {
	if c.Workflow.ValidatePolicy() != nil {
		return nil // workflow settings whose own errors are reported
	}
	files, _, err := statemachine.MaxFilesPerExecution(c.Workflow)
	if err != nil {
		return []error{fmt.Errorf("%s, %s: the workflow's history bound: %w", statemachine.ContextCopyRetries, statemachine.ContextDatabaseRetries, err)}
	}
	if !c.Reconcile.Enabled() {
		return nil
	}
	var errs []error
	if err := c.checkReconcileBatchConcurrency(); err != nil {
		errs = append(errs, err)
	}
	bound := min(files, reconcile.MaxFilesPerExecutionLimit)
	if n := c.Reconcile.MaxFilesPerExecution; n > bound {
		errs = append(errs, fmt.Errorf("%s = %d: above %d, the most files one execution carries (its state holds them within Step Functions' 256 KiB; "+
			"parse-event and the reconcile function accept no more): set %s to at most %d (docs/limits.md)",
			ctxReconcileMaxFiles, n, bound, ctxReconcileMaxFiles, bound))
	}
	return errs
}

// checkReconcileBatchConcurrency refuses more files per execution than the
// Map runs at once (mapMaxConcurrency). The grace is checked against
// statemachine.MaxUnmarked, which counts nothing before a file's "Find
// open job": that holds only while all of an execution's files start at
// once. A file queued behind others in the Map stays unmarked until its
// turn, so a sweep could start a second copy of it.
func (c Config) checkReconcileBatchConcurrency() error {
	n, conc := c.Reconcile.MaxFilesPerExecution, c.Workflow.MapMaxConcurrency
	if n <= conc {
		return nil
	}
	return fmt.Errorf("%s = %d: above %s = %d, the files one execution runs at once; the files queued behind them stay unmarked until their turn, "+
		"which the reconcile grace does not count, so a sweep could start a second copy: set %s to at most %d, or raise %s (docs/reconcile.md)",
		ctxReconcileMaxFiles, n, statemachine.ContextMapMaxConcurrency, conc, ctxReconcileMaxFiles, conc, statemachine.ContextMapMaxConcurrency)
}

// checkReconcileGrace refuses a grace shorter than the longest the
// workflow, as c.Workflow renders it, can leave a file's row unmarked while
// its execution works on it (statemachine.MaxUnmarked): the sweep counts its
// grace from the mark, so a shorter grace lets a sweep start a second copy
// of a file whose execution is only throttled, retrying the database or
// resuming a large copy (docs/reconcile.md).
func (c Config) checkReconcileGrace() []error {
	if !c.Reconcile.Enabled() || c.Workflow.ValidatePolicy() != nil {
		return nil // no sweep, or workflow settings whose own errors are reported
	}
	bound, err := statemachine.MaxUnmarked(c.Workflow)
	if err != nil {
		return []error{fmt.Errorf("%s: the workflow's longest unmarked span cannot be counted: %w", ctxReconcileGraceMinutes, err)}
	}
	grace := time.Duration(c.Reconcile.GraceMinutes) * time.Minute
	if grace >= bound {
		return nil
	}
	minutes := int((bound + time.Minute - 1) / time.Minute)
	return []error{fmt.Errorf("%s = %d: shorter than the longest the workflow can leave a file's row unmarked while it works on it, %d minutes (%s, every attempt that runs timing out and every retry waiting its longest, from %s, %s, %s, %s and their retry delays), "+
		"so a sweep could start a second copy of a file still being copied: set %s to at least %d, or lower those settings (docs/reconcile.md)",
		ctxReconcileGraceMinutes, c.Reconcile.GraceMinutes, minutes, bound,
		statemachine.ContextCopyTaskTimeoutSecs, statemachine.ContextTaskTimeoutSecs, statemachine.ContextCopyRetries, statemachine.ContextDatabaseRetries,
		ctxReconcileGraceMinutes, minutes)}
}

// ReconcilerProps is what the sweep needs.
type ReconcilerProps struct {
	Config       Config
	StateMachine awsstepfunctions.StateMachine
	Code         awslambda.Code
	LogRetention awslogs.RetentionDays
	// Topic receives the sweep's alarms; Dashboard gets its widgets.
	Topic     awssns.ITopic
	Dashboard awscloudwatch.Dashboard
	// IntakeQueue is the intake; the sweep holds off while its oldest
	// message is older than IntakeGrace (shared/reconcile/intake.go).
	IntakeQueue awssqs.IQueue
	IntakeGrace time.Duration
}

// Reconciler is the scheduled sweep: the reconcile function, its schedule,
// its alarms (alarms.go) and its dashboard row (dashboard.go).
type Reconciler struct {
	constructs.Construct
	Function *GoFunction
	Schedule awsevents.Rule
	Alarms   ReconcileAlarms
}

// NewReconciler creates the sweep: its function and permissions, its
// schedule, its alarms and its dashboard row.
func NewReconciler(scope constructs.Construct, id string, props *ReconcilerProps) *Reconciler {
	rc := props.Config.Reconcile
	c := constructs.NewConstruct(scope, jsii.String(id))
	fn := newReconcileFunction(c, props)
	grantReconcileAccess(fn, props.Config, props.StateMachine)
	grantIntakeAge(fn)
	period := awscdk.Duration_Minutes(jsii.Number(float64(rc.PeriodMinutes)))
	rule := scheduleReconcile(c, fn, rc.PeriodMinutes, period)
	alarms := NewReconcileAlarms(c, &ReconcileAlarmsProps{Function: fn.Function, Period: period, Topic: props.Topic})
	props.Dashboard.AddWidgets(reconcileWidgets(period)...)
	return &Reconciler{Construct: c, Function: fn, Schedule: rule, Alarms: alarms}
}

// newReconcileFunction creates the reconcile function in c, with the
// sweep's settings and the database's (network and SSM parameters).
func newReconcileFunction(c constructs.Construct, props *ReconcilerProps) *GoFunction {
	cfg := props.Config
	rc := cfg.Reconcile
	stack := awscdk.Stack_Of(c)
	// The function's settings render themselves (reconcile.Config.Env), and
	// the database's are request-status's (databaseEnvironment): no
	// variable name is spelled here.
	sweep := reconcile.DefaultConfig()
	sweep.StateMachineARN = *props.StateMachine.StateMachineArn()
	sweep.RestoreBuckets = cfg.RestoreBuckets
	sweep.Period = time.Duration(rc.PeriodMinutes) * time.Minute
	sweep.Grace = time.Duration(rc.GraceMinutes) * time.Minute
	sweep.ReRestore = rc.ReRestore
	sweep.ReRestoreDays = int32(rc.ReRestoreDays)
	sweep.ReRestoreTier = rc.ReRestoreTier
	sweep.MaxFilesPerExecution = rc.MaxFilesPerExecution
	sweep.IntakeQueueURL = *props.IntakeQueue.QueueUrl()
	sweep.IntakeGrace = props.IntakeGrace
	env := sweep.Env()
	maps.Copy(env, databaseEnvironment(cfg.Database))
	fnProps := &GoFunctionProps{
		ConstructID:  "Function",
		Description:  "Sweeps request_status for restored files no event copied; starts their copies or records why not",
		Code:         props.Code,
		Timeout:      awscdk.Duration_Minutes(jsii.Number(15)),
		MemoryMB:     256,
		Environment:  env,
		LogRetention: props.LogRetention,
	}
	databaseNetwork(c, stack, cfg, fnProps)
	fn := NewGoFunction(c, "Function", fnProps)
	grantDatabaseParameters(stack, fn, cfg.Database)
	return fn
}

// grantReconcileAccess lets the sweep ask S3 about the restore buckets'
// objects (and restore them again when reconcileReRestore is on) and
// start executions of the workflow.
func grantReconcileAccess(fn *GoFunction, cfg Config, sm awsstepfunctions.StateMachine) {
	objects := objectARNs(cfg.RestoreBuckets)
	var appliesTo []any
	for _, b := range cfg.RestoreBuckets {
		appliesTo = append(appliesTo, "Resource::arn:<AWS::Partition>:s3:::"+b+"/*")
	}
	// HeadObject needs s3:GetObject; s3:ListBucket makes a missing object
	// answer 404 rather than 403, so the sweep can tell "missing".
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("AskAboutRestoredObjects"),
		Actions:   jsii.Strings("s3:GetObject"),
		Resources: objects,
	}))
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TellMissingRestoredObjects"),
		Actions:   jsii.Strings("s3:ListBucket"),
		Resources: bucketARNs(cfg.RestoreBuckets),
	}))
	if cfg.Reconcile.ReRestore {
		fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("RequestExpiredRestoresAgain"),
			Actions:   jsii.Strings("s3:RestoreObject"),
			Resources: objects,
		}))
	}
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("StartCopies"),
		Actions:   jsii.Strings("states:StartExecution"),
		Resources: &[]*string{sm.StateMachineArn()},
	}))
	appliesTo = append(appliesTo, "Resource::*")
	cdknag.NagSuppressions_AddResourceSuppressions(fn.Role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("Any object of a restore bucket may have been restored: object ARNs are bucket/*, limited to the configured restore buckets. " +
			"cloudwatch:GetMetricData (the intake queue's age) has no resource type: its only resource is *."),
		AppliesTo: &appliesTo,
	}}, jsii.Bool(true))
}

// grantIntakeAge lets the sweep read the intake queue's
// ApproximateAgeOfOldestMessage: cloudwatch:GetMetricData, which supports
// no resource-level permission, so its resource is "*"
// (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html;
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/permissions-reference-cw.html:
// "specify a wildcard character (*) as the resource value"). It reads
// metrics only, no queue: the sweep needs no SQS permission.
func grantIntakeAge(fn *GoFunction) {
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadIntakeAge"),
		Actions:   jsii.Strings("cloudwatch:GetMetricData"),
		Resources: jsii.Strings("*"),
	}))
}

// scheduleReconcile runs fn every period, without asynchronous retries.
func scheduleReconcile(c constructs.Construct, fn *GoFunction, minutes int, period awscdk.Duration) awsevents.Rule {
	// The next sweep comes anyway: no asynchronous retry of a failed one.
	fn.Function.ConfigureAsyncInvoke(&awslambda.EventInvokeConfigOptions{RetryAttempts: jsii.Number(0)})
	rule := awsevents.NewRule(c, jsii.String("Schedule"), &awsevents.RuleProps{
		Description: jsii.String(fmt.Sprintf("Runs the reconcile sweep every %d minutes", minutes)),
		Schedule:    awsevents.Schedule_Rate(period),
	})
	rule.AddTarget(awseventstargets.NewLambdaFunction(fn.Function, &awseventstargets.LambdaFunctionProps{
		RetryAttempts: jsii.Number(2),
		MaxEventAge:   period,
	}))
	return rule
}

// reconcileMetric is one of the sweep's EMF metrics, summed per period.
func reconcileMetric(name, label string, period awscdk.Duration) awscloudwatch.Metric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(metrics.Namespace), MetricName: jsii.String(name),
		DimensionsMap: &map[string]*string{metrics.DimensionFunction: jsii.String(reconcile.FunctionName)},
		Statistic:     jsii.String("Sum"), Period: period, Label: jsii.String(label),
	})
}
