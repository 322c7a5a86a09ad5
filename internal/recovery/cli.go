package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

// CLI is cmd/recovery's command line.
type CLI struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Ticker starts status --watch's ticker (time.NewTicker when nil);
	// stop releases it.
	Ticker func(d time.Duration) (ticks <-chan time.Time, stop func())
	// Terminal says whether Stdout is a terminal (by default: a character
	// device).
	Terminal func(io.Writer) bool
	// Program names the command in messages and usage ("recovery" when
	// empty).
	Program string
	// Backend, when set, gives the services rerun works on instead of
	// AWS's: the local runner passes its own (go run ./cmd/local rerun).
	Backend func(ctx context.Context) (*Backend, error)
}

// Backend is what rerun works on: the rows, the restored objects, and the
// starter of the executions. cmd/recovery connects to AWS's; a command that
// brings its own (the local runner's engine) sets CLI.Backend.
type Backend struct {
	DB         reconcile.DB
	S3         reconcile.ObjectStore
	Executions reconcile.ExecutionStarter
	// StateMachineARN is the workflow the executions belong to.
	StateMachineARN string
	// Wait, when set, waits for the executions started and says how each
	// ended (a local engine's executions end before the command does).
	Wait func() []Outcome
	// Close releases the services.
	Close func()
}

// Outcome is how an execution rerun started ended, when the backend waits
// for them.
type Outcome struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// command is one subcommand: its name, the arguments it takes, what it
// does, and how it runs. A new subcommand is one line in commands.
type command struct {
	name, synopsis, summary string
	// run adds its flags to fs (which prints them on --help), parses
	// args with parse and runs.
	run func(c *CLI, ctx context.Context, fs *flag.FlagSet, args []string) error
}

var commands = []command{
	{"status", "[--request-group ID] [--granule ID] [--since DURATION] [--json | --watch [--interval DURATION]] [flags]",
		"Count the selected rows by status, group the failed files by error, list the files waiting longest and the restores about to expire; --watch follows the progress per request group.",
		(*CLI).status},
	{"rerun", "[--request-group ID] [--granule ID] [--since DURATION] [--failed] [--stuck] [--grace DURATION] [--dry-run]" + awsOnlySynopsis + " [flags]",
		"Start executions for the selected failed (or stuck) files whose restored copies S3 still has; list the others with the reason. It changes no row.",
		(*CLI).rerun},
	{CreateIndexesCommand, "[--check]",
		"Build the reconcile indexes request_status lacks (and rebuild invalid ones) with CREATE INDEX CONCURRENTLY; run it once per database as the table's owner.",
		(*CLI).createIndexes},
}

// awsOnlySynopsis is the part of rerun's synopsis a CLI with a Backend
// leaves out: it declares no --state-machine-arn (nor --region).
const awsOnlySynopsis = " [--state-machine-arn ARN]"

// awsOnlyFlags are rerun's flags for AWS's services, not declared with a
// Backend, and why.
var awsOnlyFlags = map[string]string{
	"state-machine-arn": "runs the executions on its own engine, not on a deployed state machine",
	"region":            "needs no region: its services are local",
}

func lookup(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

func usage() string {
	var b strings.Builder
	b.WriteString("usage:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  recovery %s %s\n", c.name, c.synopsis)
	}
	b.WriteString("\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "%s: %s\n", c.name, c.summary)
	}
	b.WriteString("\n'recovery COMMAND --help' lists a command's flags. Exit status: 0 done, 1 a file could not be handled or a check could not be made, 2 bad usage, 130 interrupted (status --watch).\n")
	b.WriteString("To re-run on the local runner's engine and services instead of AWS: go run ./cmd/local rerun [rerun's flags].\n")
	return b.String()
}

type usageError struct{ error }

// UsageError is a Backend's error of usage or configuration (a repository
// not found, an install missing, a setting wrong): Main prints it and
// exits 2, as for a bad flag, not 1.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// errHelp is a request for a command's help: it is printed and the exit
// status is 0.
type errHelp struct{ fs *flag.FlagSet }

func (errHelp) Error() string { return "help requested" }

// Main runs the command line and returns the exit status.
func (c *CLI) Main(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(c.Stderr, usage())
		return 2
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(c.Stdout, usage())
		return 0
	}
	cmd := lookup(args[0])
	if cmd == nil {
		fmt.Fprint(c.Stderr, usage())
		fmt.Fprintf(c.Stderr, "recovery: unknown command %q\n", args[0])
		return 2
	}
	err := cmd.run(c, ctx, c.newFlagSet(cmd), args[1:])
	var (
		ue      usageError
		help    errHelp
		backend *UsageError
	)
	switch {
	case errors.As(err, &help):
		help.fs.SetOutput(c.Stdout)
		help.fs.Usage()
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(c.Stderr, "%s %s: %v\n", c.program(), cmd.name, err)
		fmt.Fprintf(c.Stderr, "'%s %s --help' lists the flags\n", c.program(), cmd.name)
		return 2
	case errors.As(err, &backend):
		fmt.Fprintf(c.Stderr, "%s %s: %v\n", c.program(), cmd.name, err)
		return 2
	case errors.Is(err, ErrInterrupted):
		return 130
	case err != nil:
		fmt.Fprintf(c.Stderr, "%s %s: %v\n", c.program(), cmd.name, err)
		return 1
	}
	return 0
}

func (c *CLI) program() string {
	if c.Program != "" {
		return c.Program
	}
	return "recovery"
}

func (c *CLI) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// newFlagSet is a command's flags, with a usage that prints the command's
// synopsis, summary and every flag.
func (c *CLI) newFlagSet(cmd *command) *flag.FlagSet {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.Usage = func() {
		synopsis := cmd.synopsis
		if c.Backend != nil {
			synopsis = strings.Replace(synopsis, awsOnlySynopsis, "", 1)
		}
		fmt.Fprintf(fs.Output(), "usage: %s %s %s\n\n%s\n\nflags:\n", c.program(), cmd.name, synopsis, cmd.summary)
		fs.PrintDefaults()
	}
	return fs
}

func selectorFlags(fs *flag.FlagSet, sel *Selector) {
	fs.StringVar(&sel.RequestGroupID, "request-group", "", "only rows of this request_group_id (a UUID)")
	fs.StringVar(&sel.GranuleID, "granule", "", "only rows of this granule_id")
	fs.DurationVar(&sel.Since, "since", 0, "only rows requested (request_time) within this duration, e.g. 24h")
}

func regionFlag(fs *flag.FlagSet, region *string) {
	fs.StringVar(region, "region", "", "the AWS region of S3 and Step Functions, and of SSM when the database settings are read from there (default $AWS_REGION, then $AWS_DEFAULT_REGION, then the AWS profile's)")
}

func parse(fs *flag.FlagSet, args []string) error {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp{fs}
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))}
	}
	return nil
}

// set reports whether the flag was given on the command line.
func set(fs *flag.FlagSet, name string) bool {
	found := false
	fs.Visit(func(f *flag.Flag) { found = found || f.Name == name })
	return found
}

// services are the database, S3 and Step Functions clients.
type services struct {
	db    reconcile.DB
	s3    reconcile.ObjectStore
	sfn   reconcile.ExecutionStarter
	close func()
}

func (c *CLI) connect(ctx context.Context, region string) (*services, error) {
	var opts []func(*awsconfig.LoadOptions) error
	if region != "" {
		opts = append(opts, awsconfig.WithRegion(region))
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
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

func (c *CLI) status(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var (
		sel      Selector
		asJSON   bool
		buckets  string
		region   string
		opts     StatusOptions
		watch    bool
		interval time.Duration
	)
	selectorFlags(fs, &sel)
	fs.BoolVar(&asJSON, "json", false, `print {"counts": {...}, "failed": [...], "waiting_longest": [...], "expiring_within_24h": [...], "restores_checked": N, "check_failures": [...]}`)
	fs.IntVar(&opts.Waiting, "waiting", DefaultWaitingRows, "how many of the longest-waiting files to list")
	fs.IntVar(&opts.CheckRestores, "check-restores", 100, "ask S3 (HeadObject) about the restores of this many waiting files, oldest first (0: none)")
	fs.StringVar(&buckets, "restore-buckets", "", "comma-separated restore buckets to ask for rows without restore_bucket_dest (default $SOURCE_BUCKETS)")
	regionFlag(fs, &region)
	fs.BoolVar(&watch, "watch", false, "redraw the progress per request group (a bar, counts, files per minute, time left) every --interval until every selected file is complete or error; exit 0 when all are complete, 1 when some ended in error, 130 on Ctrl-C")
	fs.DurationVar(&interval, "interval", DefaultWatchInterval, "with --watch: time between readings")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := sel.Check(); err != nil {
		return usageError{err}
	}
	switch {
	case opts.Waiting < 1:
		return usageError{fmt.Errorf("--waiting %d: want at least 1", opts.Waiting)}
	case opts.CheckRestores < 0:
		return usageError{fmt.Errorf("--check-restores %d is negative (0 checks none)", opts.CheckRestores)}
	case interval <= 0:
		return usageError{fmt.Errorf("--interval %s: want a positive duration such as 5s", interval)}
	case watch && asJSON:
		return usageError{errors.New("--watch draws for people: it does not print --json")}
	case set(fs, "interval") && !watch:
		return usageError{errors.New("--interval is --watch's: give --watch too")}
	}
	if watch {
		// --watch reads the counts only: the report's flags would be
		// silently ignored.
		for _, name := range []string{"waiting", "check-restores", "restore-buckets"} {
			if set(fs, name) {
				return usageError{fmt.Errorf("--%s has no effect with --watch (it reads the counts per request group only)", name)}
			}
		}
	}
	if sel.Since > 0 {
		sel.SinceText = sel.Since.String()
	}
	opts.RestoreBuckets = c.restoreBuckets(buckets)
	svc, err := c.connect(ctx, region)
	if err != nil {
		return err
	}
	defer svc.close()
	if watch {
		// The report's warnings (the reconcile indexes missing) once,
		// on stderr: the frames are redrawn in place.
		for _, w := range indexWarnings(ctx, svc.db) {
			fmt.Fprintf(c.Stderr, "warning: %s\n", w)
		}
		return c.watch(ctx, svc.db, sel, interval)
	}
	opts.Now = c.now()
	st, err := ReadStatus(ctx, Clients{DB: svc.db, S3: svc.s3}, sel, opts)
	if err != nil {
		return err
	}
	if asJSON {
		if err := writeJSON(c.Stdout, st); err != nil {
			return err
		}
	} else {
		PrintStatus(c.Stdout, st)
	}
	// A restore that could not be checked is a question left open: say
	// so in the exit status, once per cause on stderr.
	return st.CheckError()
}

func (c *CLI) watch(ctx context.Context, db Querier, sel Selector, interval time.Duration) error {
	start := c.Ticker
	if start == nil {
		start = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	terminal := c.Terminal
	if terminal == nil {
		terminal = isTerminal
	}
	ticks, stop := start(interval)
	defer stop()
	w := &Watch{DB: db, Selector: sel, Out: c.Stdout, Terminal: terminal(c.Stdout), Tick: ticks, Now: c.now, Interval: interval}
	_, err := w.Run(ctx)
	return err
}

// isTerminal reports whether w is a character device (a terminal), as
// far as os.File.Stat can tell without a terminal library.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// PrintStatus writes the report for people.
func PrintStatus(w io.Writer, st *Status) {
	fmt.Fprintf(w, "request_status (%s):\n", scope(st.Selector))
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
	for _, f := range st.CheckFailures {
		fmt.Fprintf(w, "  could not check: %s\n", f)
	}
	for _, warning := range st.Warnings {
		fmt.Fprintf(w, "\nwarning: %s\n", warning)
	}
}

// rerunFlags are rerun's flags beyond RerunOptions.
type rerunFlags struct {
	asJSON          bool
	buckets, region string
}

// parseRerun parses rerun's flags into opts and f, and checks them.
func (c *CLI) parseRerun(fs *flag.FlagSet, args []string, opts *RerunOptions, f *rerunFlags) error {
	selectorFlags(fs, &opts.Selector)
	fs.BoolVar(&opts.Failed, "failed", false, "re-run rows in error (the default when neither --failed nor --stuck is given)")
	fs.BoolVar(&opts.Stuck, "stuck", false, "re-run rows inprogress not updated within --grace")
	fs.DurationVar(&opts.Grace, "grace", DefaultStuckGrace, "with --stuck: how long unmarked (last_update_time) counts as stuck; the reconcile sweep's default, and a warning when shorter than the workflow's longest unmarked span")
	fs.IntVar(&opts.Limit, "limit", DefaultRerunLimit, "select at most this many rows (oldest update first)")
	fs.BoolVar(&opts.DryRun, "dry-run", false, "say what would be started; start nothing")
	if c.Backend == nil {
		fs.StringVar(&opts.StateMachineARN, "state-machine-arn", "", "the copy workflow's ARN (stack output StateMachineArn; default $STATE_MACHINE_ARN)")
	}
	fs.StringVar(&f.buckets, "restore-buckets", "", "comma-separated restore buckets to ask for rows without restore_bucket_dest (default $SOURCE_BUCKETS)")
	if c.Backend == nil {
		regionFlag(fs, &f.region)
	}
	fs.BoolVar(&f.asJSON, "json", false, "print the report as JSON")
	if err := parse(fs, args); err != nil {
		return c.explainAWSOnly(err)
	}
	if err := c.checkRerun(opts); err != nil {
		return err
	}
	if opts.Stuck {
		if w := StuckGraceWarning(opts.Grace); w != "" {
			fmt.Fprintf(c.Stderr, "warning: %s\n", w)
		}
	}
	opts.RestoreBuckets = c.restoreBuckets(f.buckets)
	return nil
}

// explainAWSOnly adds why to the flag package's error for a flag of
// AWS's that a CLI with a Backend does not declare.
func (c *CLI) explainAWSOnly(err error) error {
	var ue usageError
	if c.Backend == nil || !errors.As(err, &ue) {
		return err
	}
	name, ok := strings.CutPrefix(ue.Error(), "flag provided but not defined: -")
	if why, known := awsOnlyFlags[strings.TrimPrefix(name, "-")]; ok && known {
		return usageError{fmt.Errorf("%w (%s %s)", ue.error, c.program(), why)}
	}
	return err
}

// checkRerun refuses rerun's flags that make no sense, and fills in the
// defaults.
func (c *CLI) checkRerun(opts *RerunOptions) error {
	switch {
	case opts.Grace < 0:
		return usageError{fmt.Errorf("--grace %s is negative", opts.Grace)}
	case opts.Limit < 1:
		return usageError{fmt.Errorf("--limit %d: want at least 1", opts.Limit)}
	}
	if !opts.Failed && !opts.Stuck {
		opts.Failed = true
	}
	if opts.StateMachineARN == "" && c.Backend == nil {
		opts.StateMachineARN = c.Getenv(reconcile.EnvStateMachineARN)
	}
	if err := opts.Selector.Check(); err != nil {
		return usageError{err}
	}
	if c.Backend == nil && !opts.DryRun && reconcile.ValidStateMachineARN(opts.StateMachineARN) != nil {
		return usageError{fmt.Errorf("--state-machine-arn %q is not a state machine ARN (the stack output StateMachineArn); or use --dry-run, or go run ./cmd/local rerun for the local runner", opts.StateMachineARN)}
	}
	return nil
}

func (c *CLI) rerun(ctx context.Context, fs *flag.FlagSet, args []string) error {
	var (
		opts RerunOptions
		f    rerunFlags
	)
	if err := c.parseRerun(fs, args, &opts, &f); err != nil {
		return err
	}
	svc, err := c.rerunBackend(ctx, f.region)
	if err != nil {
		return err
	}
	defer svc.Close()
	if c.Backend != nil {
		opts.StateMachineARN = svc.StateMachineARN
	}
	opts.Now = c.now()
	rep, err := Rerun(ctx, Clients{DB: svc.DB, S3: svc.S3, SFN: svc.Executions}, opts)
	if err != nil {
		return err
	}
	var outcomes []Outcome
	if svc.Wait != nil {
		outcomes = svc.Wait()
	}
	return c.reportRerun(rep, outcomes, f.asJSON)
}

// rerunBackend connects to the services rerun works on: CLI.Backend's,
// else AWS's.
func (c *CLI) rerunBackend(ctx context.Context, region string) (*Backend, error) {
	if c.Backend != nil {
		return c.Backend(ctx)
	}
	svc, err := c.connect(ctx, region)
	if err != nil {
		return nil, err
	}
	return &Backend{DB: svc.db, S3: svc.s3, Executions: svc.sfn, Close: svc.close}, nil
}

// reportRerun prints the report (and the executions' outcomes, when the
// backend waited for them) and returns an error when a file could not be
// started, ran and failed, or could not be checked.
func (c *CLI) reportRerun(rep *RerunReport, outcomes []Outcome, asJSON bool) error {
	if asJSON {
		if err := writeJSON(c.Stdout, struct {
			*RerunReport
			Outcomes []Outcome `json:"outcomes,omitempty"`
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
	checks := (&checkFailures{list: rep.CheckFailures}).err()
	switch {
	case failed > 0 && checks != nil:
		return fmt.Errorf("%d problems (see above); %w", failed, checks)
	case failed > 0:
		return fmt.Errorf("%d problems (see above)", failed)
	}
	return checks
}

func printRerun(w io.Writer, rep *RerunReport, outcomes []Outcome) {
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
	for _, f := range rep.CheckFailures {
		fmt.Fprintf(w, "could not check: %s\n", f)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
}
