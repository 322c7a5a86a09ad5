package main

import (
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// DashboardProps names what the dashboard shows.
type DashboardProps struct {
	StateMachine awsstepfunctions.StateMachine
	// DeadLetterQueue is the restore rule's.
	DeadLetterQueue awssqs.IQueue
	// Intake is the intake queue and its dead-letter queue.
	Intake *Intake
	// Functions by name (functions/<name>), in the order to show them.
	Functions map[string]awslambda.IFunction
}

// DashboardName is the dashboard's name: the stack's name and region
// ("CopyFilesToArchive-us-east-1"). Dashboards are global to an account
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html:
// a PutDashboard with an existing name replaces that dashboard), so a fixed
// name would collide between the stack's copies in two regions, or two
// stacks of one account.
const DashboardName = "${AWS::StackName}-${AWS::Region}"

// NewDashboard creates the CloudWatch dashboard DashboardName: the
// workflow's executions, the files copied and failed and the copies' bytes,
// duration and throughput (the functions' EMF metrics, namespace
// CopyFilesToArchive), the database calls, each function's errors and
// throttles, the dead-letter queues' depth and the intake's oldest event.
func NewDashboard(scope constructs.Construct, id string, props *DashboardProps) awscloudwatch.Dashboard {
	dash := awscloudwatch.NewDashboard(scope, jsii.String(id), &awscloudwatch.DashboardProps{
		DashboardName:   awscdk.Fn_Sub(jsii.String(DashboardName), nil),
		DefaultInterval: awscdk.Duration_Days(jsii.Number(1)),
	})
	dash.AddWidgets(executionWidgets(props.StateMachine)...)
	dash.AddWidgets(copyWidgets()...)
	dash.AddWidgets(healthWidgets(props)...)
	return dash
}

// dashboardPeriod is the period of the dashboard's graphs.
func dashboardPeriod() awscdk.Duration { return awscdk.Duration_Minutes(jsii.Number(5)) }

// emfSeries is one graph line of the functions' EMF metrics: metric Name
// as Function (functions/<Function>) emits it, with the extra dimensions
// Dims, shown as Stat under Label.
type emfSeries struct {
	Name, Function, Stat, Label string
	Dims                        map[string]*string
}

// emfMetric is s as a CloudWatch metric of the dashboard's period.
func emfMetric(s emfSeries) awscloudwatch.Metric {
	d := map[string]*string{metrics.DimensionFunction: jsii.String(s.Function)}
	for k, v := range s.Dims {
		d[k] = v
	}
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(metrics.Namespace), MetricName: jsii.String(s.Name), DimensionsMap: &d,
		Statistic: jsii.String(s.Stat), Period: dashboardPeriod(), Label: jsii.String(s.Label),
	})
}

// graph is a graph widget, six units high, with right-axis metrics when
// right is not nil.
func graph(title string, width float64, left []awscloudwatch.IMetric, right []awscloudwatch.IMetric) awscloudwatch.GraphWidget {
	p := &awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Width: jsii.Number(width), Height: jsii.Number(6), Left: &left}
	if right != nil {
		p.Right = &right
	}
	return awscloudwatch.NewGraphWidget(p)
}

// executionWidgets are the first row: executions, and files copied and
// failed (by error name).
func executionWidgets(sm awsstepfunctions.StateMachine) []awscloudwatch.IWidget {
	sum5 := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: dashboardPeriod()}
	failedByError := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String(fmt.Sprintf(`SEARCH('{%s,%s,%s} MetricName="%s"', 'Sum', 300)`,
			metrics.Namespace, metrics.DimensionFunction, metrics.DimensionErrorName, metrics.FilesFailed)),
		Label:  jsii.String("failed:"),
		Period: dashboardPeriod(),
	})
	return []awscloudwatch.IWidget{
		graph("Executions started / succeeded / failed", 12, []awscloudwatch.IMetric{
			sm.MetricStarted(sum5), sm.MetricSucceeded(sum5), sm.MetricFailed(sum5),
		}, nil),
		graph("Files copied vs failed (by error name)", 12, []awscloudwatch.IMetric{
			emfMetric(emfSeries{Name: metrics.FilesCopied, Function: statemachine.FunctionAggregate, Stat: "Sum", Label: "copied"}), failedByError,
		}, nil),
	}
}

// copyWidgets are the second row: bytes per day, copy duration,
// throughput and passes, of both lanes' copies: copy-file-express runs
// copy-file's code, whose metrics carry Function = copy-file
// (copyfile.NewHandlerFromEnv).
func copyWidgets() []awscloudwatch.IWidget {
	perDay := awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String(metrics.Namespace), MetricName: jsii.String(metrics.BytesCopied),
		DimensionsMap: &map[string]*string{metrics.DimensionFunction: jsii.String(statemachine.FunctionCopyFile)},
		Statistic:     jsii.String("Sum"), Period: awscdk.Duration_Days(jsii.Number(1)), Label: jsii.String("bytes copied per day"),
	})
	copyMetric := func(name, stat, label string) awscloudwatch.IMetric {
		return emfMetric(emfSeries{Name: name, Function: statemachine.FunctionCopyFile, Stat: stat, Label: label})
	}
	return []awscloudwatch.IWidget{
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{Title: jsii.String("Bytes copied per day"), Width: jsii.Number(8), Height: jsii.Number(6),
			Left: &[]awscloudwatch.IMetric{perDay}, View: awscloudwatch.GraphWidgetView_BAR}),
		graph("Copy duration (seconds, all passes)", 8, []awscloudwatch.IMetric{
			copyMetric(metrics.CopySeconds, "p50", "p50"),
			copyMetric(metrics.CopySeconds, "p90", "p90"),
			copyMetric(metrics.CopySeconds, "p99", "p99"),
		}, nil),
		graph("Throughput (MB/s) and passes per copy", 8, []awscloudwatch.IMetric{
			copyMetric(metrics.CopyThroughput, "Average", "MB/s average"),
			copyMetric(metrics.CopyThroughput, "p10", "MB/s p10"),
		}, []awscloudwatch.IMetric{
			copyMetric(metrics.CopyPasses, "Average", "passes per copy"),
		}),
	}
}

// healthWidgets are the third row: the database calls, each function's
// errors and throttles, and the dead-letter queue's depth.
func healthWidgets(props *DashboardProps) []awscloudwatch.IWidget {
	dbLatency := func(op, stat string) awscloudwatch.IMetric {
		return emfMetric(emfSeries{Name: metrics.DatabaseCallMilliseconds, Function: statemachine.FunctionRequestStatus, Stat: stat, Label: op + " " + stat,
			Dims: map[string]*string{metrics.DimensionOperation: jsii.String(op)}})
	}
	dbUnavailable := func(op string) awscloudwatch.IMetric {
		return emfMetric(emfSeries{Name: metrics.DatabaseUnavailable, Function: statemachine.FunctionRequestStatus, Stat: "Sum", Label: "unavailable (" + op + ")",
			Dims: map[string]*string{metrics.DimensionOperation: jsii.String(op)}})
	}
	var errorsAndThrottles []awscloudwatch.IMetric
	for _, name := range functionNames {
		fn, ok := props.Functions[name]
		if !ok {
			continue
		}
		errorsAndThrottles = append(errorsAndThrottles,
			fn.MetricErrors(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: dashboardPeriod(), Label: jsii.String(name + " errors")}),
			fn.MetricThrottles(&awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: dashboardPeriod(), Label: jsii.String(name + " throttles")}))
	}
	return []awscloudwatch.IWidget{
		graph("Database calls: latency (ms) and unavailability", 8, []awscloudwatch.IMetric{
			dbLatency("find_open_job", "p50"), dbLatency("find_open_job", "p99"),
			dbLatency("record_outcome", "p50"), dbLatency("record_outcome", "p99"),
		}, []awscloudwatch.IMetric{dbUnavailable("find_open_job"), dbUnavailable("record_outcome")}),
		graph("Errors and throttles per function", 8, errorsAndThrottles, nil),
		graph("Dead-letter queues and the intake's oldest event (s)", 8, []awscloudwatch.IMetric{
			props.DeadLetterQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
				Statistic: jsii.String("Maximum"), Period: dashboardPeriod(), Label: jsii.String("events not sent to the intake (replay with cmd/replay-dlq)")}),
			props.Intake.DeadLetterQueue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
				Statistic: jsii.String("Maximum"), Period: dashboardPeriod(), Label: jsii.String("events the Pipe could not start (replay with cmd/replay-dlq)")}),
		}, []awscloudwatch.IMetric{
			props.Intake.Queue.MetricApproximateAgeOfOldestMessage(&awscloudwatch.MetricOptions{
				Statistic: jsii.String("Maximum"), Period: dashboardPeriod(), Label: jsii.String("intake's oldest event (s)")}),
		}),
	}
}

// reconcileWidgets are the sweep's dashboard row, one point per sweep:
// every metric the sweep emits (shared/reconcile's Metric* names).
func reconcileWidgets(period awscdk.Duration) []awscloudwatch.IWidget {
	metric := func(name, label string) awscloudwatch.IMetric { return reconcileMetric(name, label, period) }
	return []awscloudwatch.IWidget{
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Reconcile: stuck files per sweep"), Width: jsii.Number(12), Height: jsii.Number(6),
			Left: &[]awscloudwatch.IMetric{
				metric(reconcile.MetricStuck, "stuck (inprogress past the grace period)"),
				metric(reconcile.MetricStuckAgain, "stuck again (alarm)"),
				metric(reconcile.MetricRestoreRunning, "restore still running"),
				metric(reconcile.MetricNotHere, "not in this stack's restore buckets"),
			},
		}),
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Reconcile: what the sweeps did"), Width: jsii.Number(12), Height: jsii.Number(6),
			Left: &[]awscloudwatch.IMetric{
				metric(reconcile.MetricFilesStarted, "files sent to the workflow"),
				metric(reconcile.MetricExpired, "restore expired"),
				metric(reconcile.MetricMissing, "object missing"),
				metric(reconcile.MetricReRestored, "restore requested again"),
			},
			Right: &[]awscloudwatch.IMetric{
				metric(reconcile.MetricStarted, "executions started"),
				metric(reconcile.MetricCutShort, "sweeps cut short at their deadline"),
				metric(reconcile.MetricHeldOff, "sweeps held off (intake backlog)"),
			},
		}),
	}
}
