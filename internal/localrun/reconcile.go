package localrun

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

// LocalStateMachineARN is the ARN the local runner's executions belong to.
const LocalStateMachineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:copy-files-to-archive-local"

// LocalExecutions starts executions on the runner's local engine, each in
// the background, with Step Functions' rules for names: a name used again
// while its execution runs, with the same input, answers with that
// execution; otherwise it is refused with ExecutionAlreadyExists. Wait
// waits for them all.
type LocalExecutions struct {
	Runner *execution.Runner
	// Gate, when set, holds every execution until it is closed (tests
	// sweep again while the first sweep's executions have not run).
	Gate <-chan struct{}
	// Context, when set, bounds the executions (Ctrl-C stops them);
	// otherwise they outlive the StartExecution call's context, as Step
	// Functions' do.
	Context context.Context

	mu      sync.Mutex
	wg      sync.WaitGroup
	started map[string]*LocalExecution
	order   []string
}

// LocalExecution is one execution LocalExecutions started.
type LocalExecution struct {
	Name   string            `json:"name"`
	Status string            `json:"status"`
	Error  string            `json:"error,omitempty"`
	Result *execution.Result `json:"-"`
	done   chan struct{}

	input     string
	startDate time.Time
}

var _ reconcile.ExecutionStarter = (*LocalExecutions)(nil)

// StartExecution starts the execution in the background.
func (l *LocalExecutions) StartExecution(ctx context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	name := aws.ToString(in.Name)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started == nil {
		l.started = map[string]*LocalExecution{}
	}
	arn := strings.Replace(aws.ToString(in.StateMachineArn), ":stateMachine:", ":execution:", 1) + ":" + name
	if x, ok := l.started[name]; ok {
		// Step Functions' rule: the same name and input while the
		// execution is open answers with that execution; otherwise the
		// name is taken.
		if x.Status == "RUNNING" && x.input == aws.ToString(in.Input) {
			return &sfn.StartExecutionOutput{ExecutionArn: aws.String(arn), StartDate: aws.Time(x.startDate)}, nil
		}
		return nil, &sfntypes.ExecutionAlreadyExists{Message: aws.String("Execution Already Exists: '" + name + "'")}
	}
	x := &LocalExecution{Name: name, Status: "RUNNING", done: make(chan struct{}), input: aws.ToString(in.Input), startDate: time.Now()}
	l.started[name] = x
	l.order = append(l.order, name)
	input := []byte(aws.ToString(in.Input))
	ctx = context.WithoutCancel(ctx) // outlives the sweep, as an execution does
	if l.Context != nil {
		ctx = l.Context
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer close(x.done)
		if l.Gate != nil {
			<-l.Gate
		}
		res, err := l.Runner.Run(ctx, input)
		l.mu.Lock()
		defer l.mu.Unlock()
		switch {
		case err != nil:
			x.Status, x.Error = "FAILED", err.Error()
		default:
			x.Status, x.Result = res.Status, res
			if !res.Succeeded() {
				x.Error = res.ErrorName()
			}
		}
	}()
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String(arn), StartDate: aws.Time(x.startDate)}, nil
}

// Wait waits for every execution started and returns them in start order.
func (l *LocalExecutions) Wait() []*LocalExecution {
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*LocalExecution, 0, len(l.order))
	for _, n := range l.order {
		out = append(out, l.started[n])
	}
	return out
}

// Reconciler returns a sweep on the runner's services that starts its
// executions on starter: restore buckets from SOURCE_BUCKETS, else those the
// runner creates (cdk.json's and the demo's).
func Reconciler(r *execution.Runner, starter reconcile.ExecutionStarter, grace time.Duration) (*reconcile.Reconciler, error) {
	cfg := reconcile.DefaultConfig()
	cfg.StateMachineARN, cfg.Grace = LocalStateMachineARN, grace
	if v := r.Services.Getenv(reconcile.EnvRestoreBuckets); strings.TrimSpace(v) != "" {
		cfg.RestoreBuckets = copyfile.ParseList(v)
	} else {
		ctx, err := cdkContext(r.Config().RepoRoot)
		if err != nil {
			return nil, err
		}
		for _, b := range ctx.RestoreBuckets {
			cfg.RestoreBuckets = append(cfg.RestoreBuckets, b)
		}
		cfg.RestoreBuckets = append(cfg.RestoreBuckets, demoRestoreBucket)
	}
	return &reconcile.Reconciler{Config: cfg, DB: r.Services.DB, S3: r.Services.S3, SFN: starter}, nil
}

// reconcileContext is what the local sweep reads from cdk.json.
type reconcileContext struct {
	RestoreBuckets []string `json:"restoreBuckets"`
	GraceMinutes   *int     `json:"reconcileGraceMinutes"`
}

func cdkContext(root string) (reconcileContext, error) {
	raw, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		return reconcileContext{}, &localservices.ConfigError{Err: fmt.Errorf("read cdk.json: %w", err)}
	}
	var doc struct {
		Context reconcileContext `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return reconcileContext{}, &localservices.ConfigError{Err: fmt.Errorf("cdk.json: %w", err)}
	}
	return doc.Context, nil
}

// SweepResult is `reconcile --json`'s document: the sweep's report and how
// each execution it started ended.
type SweepResult struct {
	*reconcile.Report
	Outcomes []*LocalExecution `json:"outcomes"`
}

func init() {
	registerCommand(command{
		name:  "reconcile",
		usage: "[--grace DURATION] [flags]   one reconcile sweep: start copies of stuck restored files",
		setup: func(fs *flag.FlagSet) func(context.Context, *CLI, *commonFlags) (int, error) {
			grace := fs.Duration("grace", -1, "rows not updated for this long count as stuck (default: cdk.json's reconcileGraceMinutes, as deployed)")
			engine := engineFlag(fs)
			return func(ctx context.Context, c *CLI, common *commonFlags) (int, error) {
				if err := execution.CheckEngine(*engine); err != nil {
					return 0, err
				}
				return c.reconcileMain(ctx, common, *engine, *grace)
			}
		},
	})
}

// reconcileMain is `go run ./cmd/local reconcile`: one sweep against the
// local services, its executions on the local engine, waited for.
func (c *CLI) reconcileMain(ctx context.Context, f *commonFlags, engine string, grace time.Duration) (int, error) {
	res, err := c.reconcile(ctx, f, engine, grace)
	if err != nil {
		return 0, err
	}
	if f.json {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(res); err != nil {
			return 0, err
		}
	} else {
		printSweep(c.Stdout, res)
	}
	for _, x := range res.Outcomes {
		if x.Status != "SUCCEEDED" {
			return ExitFailed, nil
		}
	}
	if len(res.Problems) > 0 {
		return ExitFailed, nil
	}
	return ExitSucceeded, nil
}

func (c *CLI) reconcile(ctx context.Context, f *commonFlags, engine string, grace time.Duration) (*SweepResult, error) {
	root, err := c.repoRoot(f.repo)
	if err != nil {
		return nil, err
	}
	if grace < 0 {
		cc, err := cdkContext(root)
		if err != nil {
			return nil, err
		}
		grace = reconcile.DefaultGraceMinutes * time.Minute
		if cc.GraceMinutes != nil {
			grace = time.Duration(*cc.GraceMinutes) * time.Minute
		}
	}
	if err := c.ensureNodeModules(ctx, root); err != nil {
		return nil, err
	}
	logPath, logw, closeLog, err := c.openLog(root, f)
	if err != nil {
		return nil, err
	}
	defer closeLog()
	if c.Getenv(localservices.EnvS3Endpoint) == "" {
		if _, err := s3server.Binary(ctx, c.Stderr); err != nil {
			return nil, err
		}
	}
	buckets, err := cdkBuckets(root)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(c.Stderr, "local: starting services...")
	runner, err := execution.NewRunner(ctx, execution.Config{
		Engine: engine, RepoRoot: root, Getenv: c.Getenv, S3Dir: f.dataDir, DBDir: f.dbDir,
		Buckets:   append(buckets, demoRestoreBucket, demoArchiveBucket),
		ServerLog: logw, LambdaLog: logw,
	})
	if err != nil {
		return nil, err
	}
	defer runner.Close()
	c.describeServices(runner, logPath)
	return SweepOnce(ctx, runner, grace, c.Stderr)
}

// SweepOnce runs one sweep on runner, starting its executions on the local
// engine, and waits for them.
func SweepOnce(ctx context.Context, runner *execution.Runner, grace time.Duration, progress io.Writer) (*SweepResult, error) {
	starter := &LocalExecutions{Runner: runner, Context: ctx}
	rec, err := Reconciler(runner, starter, grace)
	if err != nil {
		return nil, err
	}
	logw := runner.Config().LambdaLog
	if logw == nil {
		logw = io.Discard
	}
	rec.Logger = lambdafn.NewLogger(logw, slog.LevelInfo).With("function", reconcile.FunctionName)
	rec.Metrics = metrics.New(rec.Logger, reconcile.FunctionName)
	rep, err := rec.Sweep(ctx)
	var sweepErr *reconcile.SweepError
	if err != nil && !errors.As(err, &sweepErr) {
		return nil, err
	}
	if progress != nil && rep.Started > 0 {
		fmt.Fprintf(progress, "local: sweep started %d executions; waiting for them...\n", rep.Started)
	}
	return &SweepResult{Report: rep, Outcomes: starter.Wait()}, nil
}

func printSweep(w io.Writer, res *SweepResult) {
	r := res.Report
	fmt.Fprintf(w, "sweep window %s: %d stuck (%d stuck again), %d waiting, %d restores running, %d expired, %d missing, %d not in this stack's restore buckets, %d re-restored, %d skipped\n",
		r.Window, r.Stuck, r.StuckAgain, r.Waiting, r.Running, r.Expired, r.Missing, r.NotHere, r.ReRestored, r.Skipped)
	if r.CutShort {
		fmt.Fprintf(w, "cut short before its deadline: %d rows listed but not asked about; the next sweep goes on\n", r.NotReached)
	}
	printNamed(w, "missing", r.Files.Missing)
	printNamed(w, "expired", r.Files.Expired)
	printNamed(w, "not in this stack's restore buckets (left alone)", r.Files.NotHere)
	printNamed(w, "started", r.Files.Started)
	if r.Files.LeftOut > 0 {
		fmt.Fprintf(w, "(%d more files not named: the report names at most %d a list)\n", r.Files.LeftOut, reconcile.MaxNamedFiles)
	}
	fmt.Fprintf(w, "executions: %d started, %d already started\n", r.Started, r.AlreadyStarted)
	outcome := map[string]*LocalExecution{}
	for _, x := range res.Outcomes {
		outcome[x.Name] = x
	}
	for _, x := range r.Executions {
		status := "already started"
		switch {
		case x.Error != "":
			status = "NOT STARTED: " + x.Error
		case outcome[x.Name] != nil:
			status = outcome[x.Name].Status
			if e := outcome[x.Name].Error; e != "" {
				status += " (" + e + ")"
			}
		}
		fmt.Fprintf(w, "  %s: %s\n", x.Name, status)
		for _, f := range x.Files {
			fmt.Fprintf(w, "    s3://%s/%s (request %s)\n", f.Bucket, f.Key, f.RequestID)
		}
	}
	for _, p := range r.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
}

// printNamed prints the files of one of the report's lists under what.
func printNamed(w io.Writer, what string, files []reconcile.FileRef) {
	if len(files) == 0 {
		return
	}
	fmt.Fprintf(w, "%s:\n", what)
	for _, f := range files {
		where := "s3://" + f.Bucket + "/" + f.Key
		if f.Bucket == "" {
			where = f.Key
		}
		fmt.Fprintf(w, "  %s (request %s)\n", where, f.RequestID)
	}
}
