package localrun

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/loadsim"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
)

func init() {
	registerCommand(command{
		name:  "load",
		usage: "--events FILE [flags]   send every event of FILE (NDJSON) to the intake (queue and Pipe: one execution per batch), Lambda's concurrency enforced",
		setup: func(fs *flag.FlagSet) func(context.Context, *CLI, *commonFlags) (int, error) {
			events := fs.String("events", "", `events file: one S3 notification or EventBridge event per line ("-" reads stdin)`)
			engine := engineFlag(fs)
			rate := fs.Float64("rate", 0, "events sent to the intake queue per second (0: all at once)")
			account := fs.Int("account-concurrency", 0, "the account's Lambda concurrency across the four functions; beyond it an invocation is refused 429 TooManyRequestsException (0: no limit)")
			reserved := fs.String("reserved", "", "reserved concurrency per function, e.g. copy-file=8,request-status=4")
			coldStart := fs.Duration("cold-start", 0, "time a new execution environment takes before its first invocation")
			dbMax := fs.Int("db-max-connections", 0, "CONNECTION LIMIT of the Postgres role the Lambdas connect as (needs DATABASE_URL; 0: no limit)")
			scale := fs.Float64("time-scale", 1, "run the engine's timers (Retry pauses, Wait states) this many times faster; task timeouts and --copy-delay are scaled with them")
			copyDelay := fs.Duration("copy-delay", 0, "hold every CopyObject and UploadPartCopy this long before S3 sees it (scaled time): long copies")
			s3Model := fs.Bool("s3-model", false, "run against the calibrated S3 model (S3's 100 ms per request, in real time) instead of versitygw: Lambda durations and GB-seconds as AWS would bill them; the model holds every file of the events, the jobs come from the database")
			return func(ctx context.Context, c *CLI, common *commonFlags) (int, error) {
				if *events == "" {
					return 0, &localservices.ConfigError{Err: errors.New("load needs --events FILE")}
				}
				if err := execution.CheckEngine(*engine); err != nil {
					return 0, err
				}
				res, err := ParseReserved(*reserved)
				if err != nil {
					return 0, err
				}
				if *scale < 1 {
					return 0, &localservices.ConfigError{Err: fmt.Errorf("--time-scale %v: want at least 1", *scale)}
				}
				return c.load(ctx, common, loadsim.LoadConfig{
					Engine: *engine, Rate: *rate, AccountConcurrency: *account, Reserved: res, ColdStart: *coldStart,
					DBMaxConnections: *dbMax, TimeScale: *scale, CopyDelay: *copyDelay, S3Model: *s3Model,
				}, *events)
			}
		},
	})
}

// ParseReserved reads --reserved: name=N pairs separated by commas.
func ParseReserved(s string) (map[string]int, error) {
	out := map[string]int{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, pair := range strings.Split(s, ",") {
		name, v, ok := strings.Cut(strings.TrimSpace(pair), "=")
		n, err := strconv.Atoi(v)
		if !ok || err != nil {
			return nil, &localservices.ConfigError{Err: fmt.Errorf("--reserved %q: want function=N pairs separated by commas, e.g. copy-file=8,request-status=4", pair)}
		}
		out[name] = n
	}
	return out, nil
}

func (c *CLI) load(ctx context.Context, f *commonFlags, cfg loadsim.LoadConfig, eventsFile string) (int, error) {
	root, err := c.repoRoot(f.repo)
	if err != nil {
		return 0, err
	}
	var in io.Reader = c.Stdin
	if eventsFile != "-" {
		file, err := os.Open(eventsFile)
		if err != nil {
			return 0, &localservices.ConfigError{Err: fmt.Errorf("read the events: %w", err)}
		}
		defer file.Close()
		in = file
	}
	lines, err := loadsim.ReadEventLines(in, eventsFile)
	if err != nil {
		return 0, err
	}
	events := make([][]byte, len(lines))
	for i, l := range lines {
		events[i] = l.Event
	}
	if err := c.ensureNodeModules(ctx, root); err != nil {
		return 0, err
	}
	logPath, logw, closeLog, err := c.openLog(root, f)
	if err != nil {
		return 0, err
	}
	defer closeLog()
	buckets, err := cdkBuckets(root)
	if err != nil {
		return 0, err
	}
	cfg.RepoRoot, cfg.Getenv = root, c.Getenv
	cfg.S3Dir, cfg.DBDir = f.dataDir, f.dbDir
	cfg.Buckets = append(buckets, demoRestoreBucket, demoArchiveBucket)
	cfg.ServerLog, cfg.LambdaLog = logw, logw
	if !f.json {
		cfg.Progress = c.Stderr
	}
	fmt.Fprintln(c.Stderr, "local: starting services...")
	l, err := loadsim.NewLoad(ctx, cfg)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	fmt.Fprintf(c.Stderr, "local: load: %d events, Lambda logs in %s\n", len(events), logPath)
	rep, err := l.Run(ctx, events)
	if err != nil {
		return 0, err
	}
	rep.NumberLines(lines)
	if f.json {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return 0, err
		}
	} else {
		printLoadReport(c.Stdout, rep)
	}
	// Every execution reached an end, as the workflow decided: the run
	// itself succeeded.
	return ExitSucceeded, nil
}

func printLoadReport(w io.Writer, r *loadsim.LoadReport) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "executions\t%d started, %d succeeded, %d failed\n", r.Executions.Started, r.Executions.Succeeded, r.Executions.Failed)
	for _, name := range sortedKeys(r.Failures) {
		fmt.Fprintf(tw, "  failed with %s\t%d\n", name, r.Failures[name])
	}
	loadsim.PrintFailed(tw, r.Failed)
	fmt.Fprintf(tw, "files (request_status)\t%d: %d complete, %d error, %d unrecorded (inprogress), %d without a job\n",
		r.Files.Total, r.Files.Complete, r.Files.Error, r.Files.Unrecorded, r.Files.NoJob)
	fmt.Fprintf(tw, "time\t%s, %.2f files/s\n", runTime(r), r.FilesPerSecond)
	fmt.Fprintf(tw, "throttles (429)\t%d\n", r.Throttles)
	var envs []string
	for _, name := range sortedKeys(r.Environments) {
		envs = append(envs, fmt.Sprintf("%s %d", name, r.Environments[name]))
	}
	fmt.Fprintf(tw, "environments\t%d (%s), peak %d invocations at once\n", r.PeakEnvironments, strings.Join(envs, ", "), r.PeakInFlight)
	if r.DBSessionsMeasured {
		fmt.Fprintf(tw, "peak database sessions\t%d (%s)\n", r.PeakDBConnections, r.DBSessions)
	} else {
		fmt.Fprintf(tw, "database sessions\t%s\n", r.DBSessions)
	}
	in := r.Intake
	fmt.Fprintf(tw, "intake (%s)\tbatches of up to %d events within %d s: %d batches, largest %d events (%d bytes)\n",
		in.Source, in.BatchSize, in.WindowSecs, in.Batches, in.LargestBatch, in.LargestBatchBytes)
	p := r.PerFile
	fmt.Fprintf(tw, "per file\t%.3f Standard transitions, %.3f StartExecution, %.3f Express requests, %.5f Express GB-s, %.2f SQS + %.2f Pipes requests\n",
		p.StandardTransitions, p.StartExecutions, p.ExpressRequests, p.ExpressGBSeconds, p.SQSRequests, p.PipeRequests)
	fmt.Fprintf(tw, "\t%.1f Lambda requests, %.4f GB-s, %.1f S3 PUT-class + %.1f GET-class requests, %.0f log bytes\n",
		p.LambdaRequests, p.LambdaGBSeconds, p.S3PutClass, p.S3GetClass, p.LogBytes)
	fmt.Fprintf(tw, "\t(transitions of %s)\n", r.StepFunctionsCounted)
	for _, name := range sortedKeys(r.Functions) {
		fu := r.Functions[name]
		fmt.Fprintf(tw, "  %s\t%d requests, %d billed ms at %d MB: %.4f GB-s\n", name, fu.Requests, fu.BilledMs, fu.MemoryMB, fu.GBSeconds)
	}
	if r.S3Operations != nil {
		var ops []string
		for _, name := range sortedKeys(r.S3Operations) {
			ops = append(ops, fmt.Sprintf("%s %d", name, r.S3Operations[name]))
		}
		fmt.Fprintf(tw, "S3 (the model)\t%s\n", strings.Join(ops, ", "))
	}
	fmt.Fprintf(tw, "cost per million files\t$%.2f", r.CostPerMillionFilesUSD)
	var items []string
	for _, name := range sortedKeys(r.CostItems) {
		items = append(items, fmt.Sprintf("%s $%.2f", name, r.CostItems[name]))
	}
	fmt.Fprintf(tw, " (%s; us-east-1 prices, --json lists them with their pages)\n", strings.Join(items, ", "))
	tw.Flush()
}

// runTime prints the run's duration in seconds with two decimals, and the
// scaled duration it stands for when time was scaled.
func runTime(r *loadsim.LoadReport) string {
	if r.TimeScale <= 1 {
		return fmt.Sprintf("%.2f s", r.Seconds)
	}
	return fmt.Sprintf("%.2f s (x%g scaled: %.1f s)", r.Seconds, r.TimeScale, r.Seconds*r.TimeScale)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
