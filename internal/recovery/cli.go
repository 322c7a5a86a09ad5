package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localrun"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

// CLI is cmd/recovery's command line.
type CLI struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

const usage = `usage:
  recovery status [--request-group ID] [--granule ID] [--since DURATION] [--json]
  recovery rerun  [--request-group ID] [--granule ID] [--since DURATION] [--failed] [--stuck]
                  [--grace DURATION] [--dry-run] [--state-machine-arn ARN | --local] [--json]
  recovery create-indexes [--check]
`

type usageError struct{ error }

// Main runs the command line and returns the exit status.
func (c *CLI) Main(ctx context.Context, args []string) int {
	if len(args) > 0 && args[0] == CreateIndexesCommand {
		return c.createIndexes(ctx, args[1:])
	}
	if len(args) == 0 || (args[0] != "status" && args[0] != "rerun") {
		fmt.Fprint(c.Stderr, usage)
		if len(args) > 0 && args[0] != "-h" && args[0] != "--help" && args[0] != "help" {
			fmt.Fprintf(c.Stderr, "recovery: unknown command %q (want status or rerun)\n", args[0])
		}
		return 2
	}
	var err error
	if args[0] == "status" {
		err = c.status(ctx, args[1:])
	} else {
		err = c.rerun(ctx, args[1:])
	}
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintf(c.Stderr, "recovery %s: %v\n", args[0], err)
		return 2
	case err != nil:
		fmt.Fprintf(c.Stderr, "recovery %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

func (c *CLI) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func selectorFlags(fs *flag.FlagSet, sel *Selector) {
	fs.StringVar(&sel.RequestGroupID, "request-group", "", "only rows of this request_group_id (a UUID)")
	fs.StringVar(&sel.GranuleID, "granule", "", "only rows of this granule_id")
	fs.DurationVar(&sel.Since, "since", 0, "only rows requested (request_time) within this duration, e.g. 24h")
}

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	return nil
}

// services are the database, S3 and Step Functions clients.
type services struct {
	db    reconcile.DB
	s3    reconcile.ObjectStore
	sfn   reconcile.ExecutionStarter
	close func()
}

func (c *CLI) connect(ctx context.Context) (*services, error) {
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	if awsCfg.Region == "" {
		awsCfg.Region = c.Getenv("AWS_DEFAULT_REGION")
	}
	logger := slog.New(slog.NewTextHandler(c.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	db, closeDB, err := reconcile.NewDBFromEnv(ctx, awsCfg, c.Getenv, logger)
	if err != nil {
		return nil, usageError{err}
	}
	opt, err := copyfile.S3ClientOptions(c.Getenv)
	if err != nil {
		closeDB()
		return nil, usageError{err}
	}
	return &services{db: db, s3: s3.NewFromConfig(awsCfg, opt), sfn: sfn.NewFromConfig(awsCfg), close: closeDB}, nil
}

func (c *CLI) restoreBuckets(flagValue string) []string {
	v := flagValue
	if v == "" {
		v = c.Getenv(reconcile.EnvRestoreBuckets)
	}
	var out []string
	for _, b := range strings.Split(v, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

func (c *CLI) status(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	var (
		sel     Selector
		asJSON  bool
		buckets string
		opts    StatusOptions
	)
	selectorFlags(fs, &sel)
	fs.BoolVar(&asJSON, "json", false, `print {"counts": {...}, "failed": [...], "waiting_longest": [...], "expiring_within_24h": [...]}`)
	fs.IntVar(&opts.Waiting, "waiting", DefaultWaitingRows, "how many of the longest-waiting files to list")
	fs.IntVar(&opts.CheckRestores, "check-restores", 100, "ask S3 about the restores of this many waiting files, oldest first (0: none)")
	fs.StringVar(&buckets, "restore-buckets", "", "restore buckets for rows without restore_bucket_dest (default $SOURCE_BUCKETS)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := sel.Check(); err != nil {
		return usageError{err}
	}
	if sel.Since > 0 {
		sel.SinceText = sel.Since.String()
	}
	opts.RestoreBuckets = c.restoreBuckets(buckets)
	svc, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer svc.close()
	st, err := ReadStatus(ctx, svc.db, svc.s3, sel, opts, c.now())
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(c.Stdout, st)
	}
	PrintStatus(c.Stdout, st)
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// PrintStatus writes the report for people.
func PrintStatus(w io.Writer, st *Status) {
	var scope []string
	if st.Selector.RequestGroupID != "" {
		scope = append(scope, "request group "+st.Selector.RequestGroupID)
	}
	if st.Selector.GranuleID != "" {
		scope = append(scope, "granule "+st.Selector.GranuleID)
	}
	if st.Selector.SinceText != "" {
		scope = append(scope, "requested within "+st.Selector.SinceText)
	}
	if len(scope) == 0 {
		scope = append(scope, "all rows")
	}
	fmt.Fprintf(w, "request_status (%s):\n", strings.Join(scope, ", "))
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	for _, s := range []string{"inprogress", "complete", "error", "null"} {
		if n, ok := st.Counts[s]; ok {
			fmt.Fprintf(tw, "  %s\t%d\n", s, n)
		}
	}
	tw.Flush()
	fmt.Fprintf(w, "\nfailed files by error (%d groups):\n", len(st.Failed))
	for _, g := range st.Failed {
		fmt.Fprintf(w, "  %d x %s\n", g.Count, g.Error)
		for _, f := range g.Files {
			fmt.Fprintf(w, "      %s  (request %s, granule %s, %s)\n", f.Key, f.RequestID, f.GranuleID, f.LastUpdate.UTC().Format(time.RFC3339))
		}
		if int64(len(g.Files)) < g.Count {
			fmt.Fprintf(w, "      ... and %d more\n", g.Count-int64(len(g.Files)))
		}
	}
	fmt.Fprintf(w, "\nwaiting longest (inprogress, least recently updated first):\n")
	for _, f := range st.Waiting {
		fmt.Fprintf(w, "  %s  waiting %s  (request %s, granule %s)\n", f.Key, f.Waiting, f.RequestID, f.GranuleID)
	}
	fmt.Fprintf(w, "\nrestores expiring within 24 h (%d waiting files checked):\n", st.RestoresChecked)
	for _, e := range st.Expiring {
		when := "expired (archived, not restored)"
		if !e.Expiry.IsZero() {
			when = "expires " + e.Expiry.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "  s3://%s/%s  %s  (request %s)\n", e.Bucket, e.Key, when, e.RequestID)
	}
	for _, p := range st.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
}

func (c *CLI) rerun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rerun", flag.ContinueOnError)
	var (
		opts    RerunOptions
		asJSON  bool
		local   bool
		buckets string
	)
	selectorFlags(fs, &opts.Selector)
	fs.BoolVar(&opts.Failed, "failed", false, "re-run rows in error (the default when neither --failed nor --stuck is given)")
	fs.BoolVar(&opts.Stuck, "stuck", false, "re-run rows inprogress not updated within --grace")
	fs.DurationVar(&opts.Grace, "grace", time.Hour, "with --stuck: how long without update counts as stuck")
	fs.IntVar(&opts.Limit, "limit", DefaultRerunLimit, "select at most this many rows (oldest update first)")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "say what would be started; start nothing")
	fs.StringVar(&opts.StateMachineARN, "state-machine-arn", "", "the copy workflow's ARN (stack output StateMachineArn; default $STATE_MACHINE_ARN)")
	fs.BoolVar(&local, "local", false, "run the executions on the local runner's engine (go run ./cmd/local's services) and wait for them")
	fs.StringVar(&buckets, "restore-buckets", "", "restore buckets for rows without restore_bucket_dest (default $SOURCE_BUCKETS)")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	if err := parse(fs, args); err != nil {
		return err
	}
	if !opts.Failed && !opts.Stuck {
		opts.Failed = true
	}
	if opts.StateMachineARN == "" {
		opts.StateMachineARN = c.Getenv(reconcile.EnvStateMachineARN)
	}
	if local {
		opts.StateMachineARN = localrun.LocalStateMachineARN
	}
	if err := opts.Selector.Check(); err != nil {
		return usageError{err}
	}
	if !opts.DryRun && reconcile.ValidStateMachineARN(opts.StateMachineARN) != nil {
		return usageError{fmt.Errorf("--state-machine-arn %q is not a state machine ARN (the stack output StateMachineArn); or use --local or --dry-run", opts.StateMachineARN)}
	}
	opts.RestoreBuckets = c.restoreBuckets(buckets)

	var (
		svc     *services
		starter *localrun.LocalExecutions
	)
	if local {
		root, err := localrun.FindRepoRoot(".")
		if err != nil {
			return usageError{fmt.Errorf("--local: %w: run from inside the repository", err)}
		}
		runner, err := localrun.NewRunner(ctx, localrun.Config{RepoRoot: root, Getenv: c.Getenv})
		if err != nil {
			return err
		}
		defer runner.Close()
		starter = &localrun.LocalExecutions{Runner: runner, Context: ctx}
		svc = &services{db: runner.Services.DB, s3: runner.Services.S3, sfn: starter, close: func() {}}
	} else {
		var err error
		if svc, err = c.connect(ctx); err != nil {
			return err
		}
		defer svc.close()
	}
	rep, err := Rerun(ctx, svc.db, svc.s3, svc.sfn, opts, c.now())
	if err != nil {
		return err
	}
	var outcomes []*localrun.LocalExecution
	if starter != nil {
		outcomes = starter.Wait()
	}
	if asJSON {
		if err := writeJSON(c.Stdout, struct {
			*RerunReport
			Outcomes []*localrun.LocalExecution `json:"outcomes,omitempty"`
		}{rep, outcomes}); err != nil {
			return err
		}
	} else {
		printRerun(c.Stdout, rep, outcomes)
	}
	failed := len(rep.Problems)
	for _, o := range outcomes {
		if o.Status != "SUCCEEDED" {
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d problems (see above)", failed)
	}
	return nil
}

func printRerun(w io.Writer, rep *RerunReport, outcomes []*localrun.LocalExecution) {
	verb := "started"
	if rep.DryRun {
		verb = "would start (dry run)"
	}
	fmt.Fprintf(w, "%d rows selected, %d restored and re-run, %d left:\n", rep.Selected, rep.Waiting, len(rep.Left))
	for _, l := range rep.Left {
		fmt.Fprintf(w, "  left %s (request %s): %s\n", l.Key, l.RequestID, l.Why)
	}
	status := map[string]string{}
	for _, o := range outcomes {
		status[o.Name] = o.Status
	}
	for _, x := range rep.Executions {
		what := verb
		switch {
		case x.Error != "":
			what = "NOT STARTED: " + x.Error
		case x.AlreadyStarted:
			what = "already started by a rerun this minute"
		case status[x.Name] != "":
			what = "ran: " + status[x.Name]
		}
		fmt.Fprintf(w, "execution %s: %s\n", x.Name, what)
		for _, f := range x.Files {
			fmt.Fprintf(w, "    s3://%s/%s (request %s)\n", f.Bucket, f.Key, f.RequestID)
		}
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
}
