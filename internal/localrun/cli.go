package localrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
)

// Exit statuses of the runner.
const (
	ExitSucceeded = 0
	ExitFailed    = 1
	ExitUsage     = 2
	// ExitInterrupted is returned after Ctrl-C or SIGTERM, once everything
	// started has been stopped (128 + SIGINT, as shells report it).
	ExitInterrupted = 130
)

const usageText = `usage:
  go run ./cmd/local run --event FILE [flags]   run the workflow on one event ("-" reads stdin)
  go run ./cmd/local demo [flags]               seed a demonstration and run the sample event
  go run ./cmd/local reconcile [--json] [--grace DURATION]
                                                one reconcile sweep: start copies of stuck restored files

Runs statemachine/definition.asl.json (with cdk.json's settings) on the
aws-local-stepfunctions engine (--engine node, the default) or on moto's
embedded LocalStack interpreter (--engine moto, needs Python 3 with moto
5.2.1); the Lambda tasks are served by the functions' own Go handlers. Without AWS_ENDPOINT_URL_S3 an S3 server (versitygw) is
started, without DATABASE_URL a Postgres (PGlite); demo always uses these.

flags:
`

// CLI is the local runner's command line.
type CLI struct {
	Stdout, Stderr io.Writer
	Stdin          io.Reader
	// Getenv is the environment (os.Getenv when nil).
	Getenv func(string) string
	// Dir is where to look for the repository root (the working
	// directory when empty).
	Dir string
}

type cliFlags struct {
	event, engine, repo, dataDir, dbDir, logFile string
	json, verbose                                bool
}

// Main runs the command line and returns the exit status: 0 when the
// execution succeeded, 1 when it failed, 2 for usage or configuration errors.
func (c *CLI) Main(ctx context.Context, args []string) int {
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		c.usage(nil)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitSucceeded
	}
	cmd := args[0]
	if cmd == "reconcile" {
		return c.reconcileMain(ctx, args[1:]) // its own flags: reconcile.go
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var f cliFlags
	if cmd == "run" {
		fs.StringVar(&f.event, "event", "", `event file (S3 notification or EventBridge event; "-" reads stdin)`)
	}
	fs.BoolVar(&f.json, "json", false, `print one JSON document {"status","output","error","cause","events"} instead of the history`)
	fs.StringVar(&f.engine, "engine", EngineNode, "Step Functions engine: node (aws-local-stepfunctions) or moto (LocalStack's interpreter in moto, Python)")
	fs.StringVar(&f.repo, "repo", "", "repository root (default: found from the working directory)")
	fs.StringVar(&f.dataDir, "data-dir", "", "embedded S3 server's data directory (default <repo>/.local/s3)")
	fs.StringVar(&f.dbDir, "db-dir", "", "embedded PGlite's data directory (default <repo>/.local/pglite)")
	fs.StringVar(&f.logFile, "log-file", "", "file for the Lambdas' JSON logs and the servers' output (default <repo>/.local/logs/<command>.log)")
	fs.BoolVar(&f.verbose, "verbose", false, "also copy the Lambdas' logs and the servers' output to stderr")
	if cmd != "run" && cmd != "demo" {
		return c.fail(&ConfigError{fmt.Errorf("unknown command %q (want run, demo or reconcile)", cmd)})
	}
	if err := fs.Parse(args[1:]); err != nil {
		c.usage(fs)
		return c.fail(&ConfigError{err})
	}
	if fs.NArg() > 0 {
		return c.fail(&ConfigError{fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))})
	}
	if cmd == "run" && f.event == "" {
		return c.fail(&ConfigError{errors.New("run needs --event FILE")})
	}
	if f.engine != EngineNode && f.engine != EngineMoto {
		return c.fail(&ConfigError{fmt.Errorf("--engine %q: want %s or %s", f.engine, EngineNode, EngineMoto)})
	}
	res, err := c.execute(ctx, cmd, f)
	if err != nil {
		return c.fail(err)
	}
	if res.Succeeded() {
		return ExitSucceeded
	}
	return ExitFailed
}

func (c *CLI) usage(fs *flag.FlagSet) {
	fmt.Fprint(c.Stderr, usageText)
	if fs == nil {
		fs = flag.NewFlagSet("", flag.ContinueOnError)
		fs.String("event", "", `event file for run ("-" reads stdin)`)
		fs.Bool("json", false, `print one JSON document {"status","output","error","cause","events"}`)
		fs.String("engine", EngineNode, "Step Functions engine: node or moto")
		fs.String("repo", "", "repository root (default: found from the working directory)")
		fs.String("data-dir", "", "embedded S3 server's data directory (default <repo>/.local/s3)")
		fs.String("db-dir", "", "embedded PGlite's data directory (default <repo>/.local/pglite)")
		fs.String("log-file", "", "file for the Lambdas' logs and the servers' output (default <repo>/.local/logs/<command>.log)")
		fs.Bool("verbose", false, "also copy those logs to stderr")
	}
	fs.SetOutput(c.Stderr)
	fs.PrintDefaults()
	fmt.Fprint(c.Stderr, envHelp)
}

const envHelp = `
environment:
  AWS_ENDPOINT_URL_S3     use this S3 endpoint (credentials and region from the usual AWS_* variables)
  DATABASE_URL            use this Postgres (the request_status schema is applied if missing)
  COPY_RETRIES, COPY_RETRY_SLEEP_SECS, MAP_MAX_CONCURRENCY
                          override cdk.json's workflow policy
  every variable the Lambdas read in AWS (SOURCE_BUCKETS, ARCHIVE_BUCKETS, MULTIPART_*,
  STORAGE_CLASS, DATABASE_MAX_CONNS, ...) is read from this environment too
`

// fail prints an error and returns its exit status.
func (c *CLI) fail(err error) int {
	var ce *ConfigError
	if errors.As(err, &ce) {
		fmt.Fprintf(c.Stderr, "local: %v\n", err)
		return ExitUsage
	}
	if errors.Is(err, context.Canceled) {
		fmt.Fprintln(c.Stderr, "local: interrupted; everything started was stopped")
		return ExitInterrupted
	}
	fmt.Fprintf(c.Stderr, "local: %v\n", err)
	return ExitFailed
}

func (c *CLI) execute(ctx context.Context, cmd string, f cliFlags) (*Result, error) {
	root, err := c.repoRoot(f.repo)
	if err != nil {
		return nil, err
	}
	if err := c.ensureNodeModules(ctx, root); err != nil {
		return nil, err
	}
	var event []byte
	if cmd == "run" {
		event, err = c.readEvent(f.event)
	} else {
		event, err = demoEvent()
	}
	if err != nil {
		return nil, err
	}

	logPath := f.logFile
	if logPath == "" {
		logPath = filepath.Join(root, ".local", "logs", cmd+".log")
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, &ConfigError{fmt.Errorf("log file: %w", err)}
	}
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("log file: %w", err)}
	}
	defer logFile.Close()
	var logw io.Writer = logFile
	if f.verbose {
		logw = io.MultiWriter(logFile, c.Stderr)
	}

	getenv := c.Getenv
	if cmd == "demo" {
		getenv = demoEnv(c.Getenv, c.Stderr)
	}
	if _, err := LoadSettings(root, getenv); err != nil {
		return nil, err // before any server starts or builds
	}
	if getenv(EnvS3Endpoint) == "" {
		// Build versitygw now (first time only) so the user sees why it
		// takes minutes.
		if _, err := s3server.Binary(ctx, c.Stderr); err != nil {
			return nil, err
		}
	}
	var out io.Writer = c.Stdout
	if f.json {
		out = nil
	}
	buckets, err := cdkBuckets(root)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(c.Stderr, "local: starting services...")
	runner, err := NewRunner(ctx, Config{
		Engine:    f.engine,
		RepoRoot:  root,
		Getenv:    getenv,
		S3Dir:     f.dataDir,
		DBDir:     f.dbDir,
		Buckets:   append(buckets, demoRestoreBucket, demoArchiveBucket),
		Out:       out,
		ServerLog: logw,
		LambdaLog: logw,
	})
	if err != nil {
		return nil, err
	}
	defer runner.Close()
	c.describeServices(runner, logPath)

	var demo *demoSeed
	if cmd == "demo" {
		if demo, err = seedDemo(ctx, runner.Services); err != nil {
			return nil, err
		}
		fmt.Fprintf(c.Stderr, "local: demo seeded: %d restored objects in s3://%s, %d open jobs in request_status\n",
			len(demo.keys), demoRestoreBucket, len(demo.keys))
	}

	res, err := runner.Run(ctx, event)
	if err != nil {
		return nil, err
	}
	if f.json {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(res); err != nil {
			return nil, err
		}
	} else {
		printResult(c.Stdout, res)
	}
	if demo != nil && !f.json {
		if err := demo.show(ctx, c.Stdout, runner.Services); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (c *CLI) repoRoot(flagValue string) (string, error) {
	if flagValue != "" {
		root, err := filepath.Abs(flagValue)
		if err != nil {
			return "", &ConfigError{err}
		}
		if !isFile(filepath.Join(root, "cdk.json")) {
			return "", &ConfigError{fmt.Errorf("--repo %s: no cdk.json there", flagValue)}
		}
		return root, nil
	}
	dir := c.Dir
	if dir == "" {
		dir = "."
	}
	root, err := FindRepoRoot(dir)
	if err != nil {
		return "", &ConfigError{fmt.Errorf("%w: run from inside the repository or pass --repo", err)}
	}
	return root, nil
}

// ensureNodeModules runs `npm ci` when the engine's packages are missing.
func (c *CLI) ensureNodeModules(ctx context.Context, root string) error {
	if CheckNodeModules(root) == nil {
		return nil
	}
	fmt.Fprintf(c.Stderr, "local: node_modules is missing: running `npm ci` in %s (once)...\n", root)
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = root
	cmd.Stdout = c.Stderr
	cmd.Stderr = c.Stderr
	if err := cmd.Run(); err != nil {
		return &ConfigError{fmt.Errorf("npm ci failed (%v): install Node >= 20 and npm, then run `npm ci` in %s", err, root)}
	}
	return CheckNodeModules(root)
}

func (c *CLI) readEvent(name string) ([]byte, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(c.Stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("read the event: %w", err)}
	}
	if !json.Valid(b) {
		return nil, &ConfigError{fmt.Errorf("the event in %s is not valid JSON", name)}
	}
	return b, nil
}

func (c *CLI) describeServices(r *Runner, logPath string) {
	s := r.Services
	if s.EmbeddedS3 {
		fmt.Fprintf(c.Stderr, "local: S3: embedded versitygw at %s\n", s.S3Endpoint)
		for _, n := range s.Notes {
			fmt.Fprintf(c.Stderr, "local: %s\n", n)
		}
	} else {
		fmt.Fprintf(c.Stderr, "local: S3: %s (from %s)\n", s.S3Endpoint, EnvS3Endpoint)
	}
	if s.EmbeddedDB {
		fmt.Fprintln(c.Stderr, "local: Postgres: embedded PGlite")
	} else {
		fmt.Fprintf(c.Stderr, "local: Postgres: from %s\n", EnvDatabaseURL)
	}
	engine := "aws-local-stepfunctions (Node)"
	if r.cfg.Engine == EngineMoto {
		engine = "moto " + MotoVersion + " (LocalStack's ASL interpreter, Python)"
	}
	fmt.Fprintf(c.Stderr, "local: workflow on %s: Map concurrency %d, %d copy attempts, Lambda logs in %s\n",
		engine, r.Settings.MapMaxConcurrency, r.Settings.CopyRetries, logPath)
}

// cdkBuckets returns cdk.json's restoreBuckets and archiveBuckets, which the
// embedded S3 server creates.
func cdkBuckets(root string) ([]string, error) {
	raw, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("read cdk.json: %w", err)}
	}
	var doc struct {
		Context struct {
			Restore []string `json:"restoreBuckets"`
			Archive []string `json:"archiveBuckets"`
		} `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, &ConfigError{fmt.Errorf("cdk.json: %w", err)}
	}
	return append(doc.Context.Restore, doc.Context.Archive...), nil
}

// printResult prints the final result after the history.
func printResult(w io.Writer, r *Result) {
	fmt.Fprintln(w)
	if r.Succeeded() {
		fmt.Fprintf(w, "SUCCEEDED in %s\n", r.Duration.Round(time.Millisecond))
		var b bytes.Buffer
		if json.Indent(&b, r.Output, "", "  ") == nil {
			fmt.Fprintf(w, "output:\n%s\n", b.String())
		}
		return
	}
	fmt.Fprintf(w, "FAILED in %s\nerror: %s\n", r.Duration.Round(time.Millisecond), r.ErrorName())
	if results, input, err := aggregate.ParseMessage(r.CauseText()); err == nil {
		b, _ := json.MarshalIndent(results, "", "  ")
		fmt.Fprintf(w, "cause: File copy failed.\n%s\n", b)
		if input != nil {
			fmt.Fprintf(w, "re-run input (the failed files; save it and run `go run ./cmd/local run --event FILE` once the cause is fixed):\n%s\n", input)
		}
		return
	}
	if text, doc, ok := jsonTail(r.CauseText()); ok {
		fmt.Fprintf(w, "cause: %s\n%s\n", text, doc)
		return
	}
	fmt.Fprintf(w, "cause: %s\n", r.CauseText())
}
