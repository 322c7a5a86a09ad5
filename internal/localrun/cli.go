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
	"sort"
	"strings"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
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

const usageHead = `usage:
  go run ./cmd/local COMMAND [flags]

Runs statemachine/definition.asl.json (with cdk.json's settings) on the
aws-local-stepfunctions engine (--engine node, the default) or on moto's
embedded LocalStack interpreter (--engine moto, needs Python 3 with moto
5.2.1); the Lambda tasks are served by the functions' own Go handlers.
Without AWS_ENDPOINT_URL_S3 an S3 server (versitygw) is started, without
DATABASE_URL a Postgres (PGlite); demo always uses these.

commands:
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

// command is one subcommand of the local runner. A command in its own file
// registers itself with registerCommand from an init function; cli.go needs
// no change for it.
type command struct {
	name string
	// usage is the command's line in the usage text, after its name.
	usage string
	// setup declares the command's own flags on fs (the common ones are
	// already declared) and returns the function that runs it once the
	// flags are parsed. run returns the exit status, or an error
	// (a *ConfigError gives ExitUsage).
	setup func(fs *flag.FlagSet) (run func(ctx context.Context, c *CLI, common *commonFlags) (int, error))
	// main, when set, runs a command that parses its own command line
	// (rerun's is recovery's) instead of setup.
	main func(c *CLI, ctx context.Context, args []string) int
}

var commands = map[string]command{}

// registerCommand adds a subcommand; a name registered twice is a bug.
func registerCommand(cmd command) {
	if _, dup := commands[cmd.name]; dup {
		panic("localrun: command " + cmd.name + " registered twice")
	}
	commands[cmd.name] = cmd
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// commonFlags are the flags every command takes, declared once here.
type commonFlags struct {
	command                       string
	repo, dataDir, dbDir, logFile string
	json, verbose                 bool
}

func (f *commonFlags) declare(fs *flag.FlagSet) {
	fs.StringVar(&f.repo, "repo", "", "repository root (default: found from the working directory)")
	fs.StringVar(&f.dataDir, "data-dir", "", "embedded S3 server's data directory (default <repo>/.local/s3)")
	fs.StringVar(&f.dbDir, "db-dir", "", "embedded PGlite's data directory (default <repo>/.local/pglite)")
	fs.StringVar(&f.logFile, "log-file", "", "file for the Lambdas' JSON logs and the servers' output (default <repo>/.local/logs/<command>.log)")
	fs.BoolVar(&f.verbose, "verbose", false, "also copy the Lambdas' logs and the servers' output to stderr")
	fs.BoolVar(&f.json, "json", false, "print one JSON document instead of the readable output")
}

// engineFlag declares --engine for the commands that run the workflow; its
// value is checked once, by CheckEngine, when the flags are parsed.
func engineFlag(fs *flag.FlagSet) *string {
	return fs.String("engine", stepengine.EngineNode, "Step Functions engine: node (aws-local-stepfunctions) or moto (LocalStack's interpreter in moto, Python)")
}

// Main runs the command line and returns the exit status: 0 when the
// command succeeded, 1 when it failed, 2 for usage or configuration errors.
func (c *CLI) Main(ctx context.Context, args []string) int {
	if c.Getenv == nil {
		c.Getenv = os.Getenv
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		c.usage()
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitSucceeded
	}
	cmd, ok := commands[args[0]]
	if !ok {
		return c.fail(&localservices.ConfigError{Err: fmt.Errorf("unknown command %q (want %s)", args[0], strings.Join(commandNames(), ", "))})
	}
	if cmd.main != nil {
		return cmd.main(c, ctx, args[1:])
	}
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	common := &commonFlags{command: cmd.name}
	common.declare(fs)
	run := cmd.setup(fs)
	if err := fs.Parse(args[1:]); err != nil {
		c.usageOf(cmd)
		return c.fail(&localservices.ConfigError{Err: err})
	}
	if fs.NArg() > 0 {
		return c.fail(&localservices.ConfigError{Err: fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))})
	}
	code, err := run(ctx, c, common)
	if err != nil {
		return c.fail(err)
	}
	return code
}

// usage prints every command with its flags.
func (c *CLI) usage() {
	fmt.Fprint(c.Stderr, usageHead)
	for _, name := range commandNames() {
		fmt.Fprintf(c.Stderr, "  %s %s\n", name, commands[name].usage)
	}
	fmt.Fprint(c.Stderr, "\nflags of every command (rerun takes recovery rerun's instead: rerun --help):\n")
	c.printFlags(nil)
	for _, name := range commandNames() {
		if commands[name].setup == nil {
			continue // its own command line: COMMAND --help
		}
		fmt.Fprintf(c.Stderr, "\n%s flags:\n", name)
		c.printFlags(commands[name].setup)
	}
	fmt.Fprint(c.Stderr, envHelp)
}

// usageOf prints one command's flags.
func (c *CLI) usageOf(cmd command) {
	fmt.Fprintf(c.Stderr, "usage:\n  go run ./cmd/local %s %s\n\nflags:\n", cmd.name, cmd.usage)
	c.printFlags(nil)
	c.printFlags(cmd.setup)
	fmt.Fprint(c.Stderr, envHelp)
}

// printFlags prints the flags setup declares, or the common flags when
// setup is nil.
func (c *CLI) printFlags(setup func(*flag.FlagSet) func(context.Context, *CLI, *commonFlags) (int, error)) {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	if setup == nil {
		(&commonFlags{}).declare(fs)
	} else {
		setup(fs)
	}
	fs.SetOutput(c.Stderr)
	fs.PrintDefaults()
}

func init() {
	registerCommand(command{
		name:  "run",
		usage: `--event FILE [flags]   run the workflow on one event ("-" reads stdin)`,
		setup: func(fs *flag.FlagSet) func(context.Context, *CLI, *commonFlags) (int, error) {
			event := fs.String("event", "", `event file (S3 notification or EventBridge event; "-" reads stdin)`)
			engine := engineFlag(fs)
			return func(ctx context.Context, c *CLI, common *commonFlags) (int, error) {
				if *event == "" {
					return 0, &localservices.ConfigError{Err: errors.New("run needs --event FILE")}
				}
				return c.runOnce(ctx, common, *engine, *event)
			}
		},
	})
	registerCommand(command{
		name:  "rerun",
		usage: rerunUsage,
		main:  (*CLI).rerunMain,
	})
	registerCommand(command{
		name:  "demo",
		usage: "[flags]   seed a demonstration and run the sample event",
		setup: func(fs *flag.FlagSet) func(context.Context, *CLI, *commonFlags) (int, error) {
			engine := engineFlag(fs)
			return func(ctx context.Context, c *CLI, common *commonFlags) (int, error) {
				return c.runOnce(ctx, common, *engine, "")
			}
		},
	})
}

const envHelp = `
environment:
  AWS_ENDPOINT_URL_S3     use this S3 endpoint (credentials and region from the usual AWS_* variables)
  DATABASE_URL            use this Postgres (the request_status schema is applied if missing)
  COPY_RETRIES, COPY_RETRY_SLEEP_SECS, MAP_MAX_CONCURRENCY, CHUNK_FILES,
  CHUNK_MAP_MAX_CONCURRENCY
                          override cdk.json's workflow policy
  every variable the Lambdas read in AWS (SOURCE_BUCKETS, ARCHIVE_BUCKETS, MULTIPART_*,
  STORAGE_CLASS, DATABASE_MAX_CONNS, ...) is read from this environment too
`

// fail prints an error and returns its exit status.
func (c *CLI) fail(err error) int {
	var ce *localservices.ConfigError
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

// runOnce runs one execution: of the event in eventFile (run), or of the
// demo's event once the demo is seeded (eventFile "").
func (c *CLI) runOnce(ctx context.Context, f *commonFlags, engine, eventFile string) (int, error) {
	if err := execution.CheckEngine(engine); err != nil {
		return 0, err
	}
	res, err := c.execute(ctx, f, engine, eventFile)
	if err != nil {
		return 0, err
	}
	if res.Succeeded() {
		return ExitSucceeded, nil
	}
	return ExitFailed, nil
}

func (c *CLI) execute(ctx context.Context, f *commonFlags, engine, eventFile string) (*execution.Result, error) {
	root, err := c.repoRoot(f.repo)
	if err != nil {
		return nil, err
	}
	if err := c.ensureNodeModules(ctx, root); err != nil {
		return nil, err
	}
	var event []byte
	if eventFile != "" {
		event, err = c.readEvent(eventFile)
	} else {
		event, err = demoEvent()
	}
	if err != nil {
		return nil, err
	}
	logPath, logw, closeLog, err := c.openLog(root, f)
	if err != nil {
		return nil, err
	}
	defer closeLog()
	getenv := c.Getenv
	if f.command == "demo" {
		getenv = demoEnv(c.Getenv, c.Stderr)
	}
	runner, err := c.startRunner(ctx, f, execution.Config{Engine: engine, RepoRoot: root, Getenv: getenv, ServerLog: logw, LambdaLog: logw})
	if err != nil {
		return nil, err
	}
	defer runner.Close()
	c.describeServices(runner, logPath)

	var demo *demoSeed
	if f.command == "demo" {
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
	return res, c.printRun(ctx, f, res, demo, runner.Services)
}

// startRunner checks the settings before any server starts or builds, then
// starts the runner on cfg with the data directories, the buckets and the
// output the flags ask for.
func (c *CLI) startRunner(ctx context.Context, f *commonFlags, cfg execution.Config) (*execution.Runner, error) {
	if _, err := localservices.LoadSettings(cfg.RepoRoot, cfg.Getenv); err != nil {
		return nil, err
	}
	if cfg.Getenv(localservices.EnvS3Endpoint) == "" {
		// Build versitygw now (first time only) so the user sees why it
		// takes minutes.
		if _, err := s3server.Binary(ctx, c.Stderr); err != nil {
			return nil, err
		}
	}
	buckets, err := cdkBuckets(cfg.RepoRoot)
	if err != nil {
		return nil, err
	}
	cfg.S3Dir, cfg.DBDir = f.dataDir, f.dbDir
	cfg.Buckets = append(buckets, demoRestoreBucket, demoArchiveBucket)
	if !f.json {
		cfg.Out = c.Stdout
	}
	fmt.Fprintln(c.Stderr, "local: starting services...")
	return execution.NewRunner(ctx, cfg)
}

// printRun prints how the execution ended (one JSON document with --json)
// and, after the demo, its rows.
func (c *CLI) printRun(ctx context.Context, f *commonFlags, res *execution.Result, demo *demoSeed, s *localservices.Services) error {
	if f.json {
		enc := json.NewEncoder(c.Stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		return enc.Encode(res)
	}
	printResult(c.Stdout, res)
	if demo != nil {
		return demo.show(ctx, c.Stdout, s)
	}
	return nil
}

// openLog opens the command's log file (--log-file, else
// <repo>/.local/logs/<command>.log), copied to stderr with --verbose.
func (c *CLI) openLog(root string, f *commonFlags) (path string, w io.Writer, closeLog func(), err error) {
	path = f.logFile
	if path == "" {
		path = filepath.Join(root, ".local", "logs", f.command+".log")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return "", nil, nil, &localservices.ConfigError{Err: fmt.Errorf("log file: %w", err)}
	}
	file, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return "", nil, nil, &localservices.ConfigError{Err: fmt.Errorf("log file: %w", err)}
	}
	w = file
	if f.verbose {
		w = io.MultiWriter(file, c.Stderr)
	}
	return path, w, func() { file.Close() }, nil
}

func (c *CLI) repoRoot(flagValue string) (string, error) {
	if flagValue != "" {
		root, err := filepath.Abs(flagValue)
		if err != nil {
			return "", &localservices.ConfigError{Err: err}
		}
		if fi, err := os.Stat(filepath.Join(root, "cdk.json")); err != nil || fi.IsDir() {
			return "", &localservices.ConfigError{Err: fmt.Errorf("--repo %s: no cdk.json there", flagValue)}
		}
		return root, nil
	}
	dir := c.Dir
	if dir == "" {
		dir = "."
	}
	root, err := localservices.FindRepoRoot(dir)
	if err != nil {
		return "", &localservices.ConfigError{Err: fmt.Errorf("%w: run from inside the repository or pass --repo", err)}
	}
	return root, nil
}

// ensureNodeModules runs `npm ci` when the engine's packages are missing.
func (c *CLI) ensureNodeModules(ctx context.Context, root string) error {
	if localservices.CheckNodeModules(root) == nil {
		return nil
	}
	fmt.Fprintf(c.Stderr, "local: node_modules is missing: running `npm ci` in %s (once)...\n", root)
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = root
	cmd.Stdout = c.Stderr
	cmd.Stderr = c.Stderr
	if err := cmd.Run(); err != nil {
		return &localservices.ConfigError{Err: fmt.Errorf("npm ci failed (%v): install Node >= 20 and npm, then run `npm ci` in %s", err, root)}
	}
	return localservices.CheckNodeModules(root)
}

// readEvent reads the one JSON event of name ("-" reads stdin).
func (c *CLI) readEvent(name string) ([]byte, error) {
	b, err := c.readInput(name, "the event")
	if err != nil {
		return nil, err
	}
	if !json.Valid(b) {
		return nil, &localservices.ConfigError{Err: fmt.Errorf("the event in %s is not valid JSON", name)}
	}
	return b, nil
}

// readInput reads the file name, or stdin when name is "-"; what names
// the input in the error.
func (c *CLI) readInput(name, what string) ([]byte, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(c.Stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, &localservices.ConfigError{Err: fmt.Errorf("read %s: %w", what, err)}
	}
	return b, nil
}

func (c *CLI) describeServices(r *execution.Runner, logPath string) {
	s := r.Services
	if s.EmbeddedS3 {
		fmt.Fprintf(c.Stderr, "local: S3: embedded versitygw at %s\n", s.S3Endpoint)
		for _, n := range s.Notes {
			fmt.Fprintf(c.Stderr, "local: %s\n", n)
		}
	} else {
		fmt.Fprintf(c.Stderr, "local: S3: %s (from %s)\n", s.S3Endpoint, localservices.EnvS3Endpoint)
	}
	if s.EmbeddedDB {
		fmt.Fprintln(c.Stderr, "local: Postgres: embedded PGlite")
	} else {
		fmt.Fprintf(c.Stderr, "local: Postgres: from %s\n", localservices.EnvDatabaseURL)
	}
	engine := "aws-local-stepfunctions (Node)"
	if r.Config().Engine == stepengine.EngineMoto {
		engine = "moto " + stepengine.MotoVersion + " (LocalStack's ASL interpreter, Python)"
	}
	fmt.Fprintf(c.Stderr, "local: workflow on %s: Map concurrency %d, %d copy attempts, Lambda logs in %s\n",
		engine, r.Settings.MapMaxConcurrency, r.Settings.CopyRetries, logPath)
}

// cdkBuckets returns cdk.json's restoreBuckets and archiveBuckets, which the
// embedded S3 server creates.
func cdkBuckets(root string) ([]string, error) {
	restore, archive, err := cdkContextBuckets(root)
	return append(restore, archive...), err
}

// cdkContextBuckets returns cdk.json's restoreBuckets and archiveBuckets.
func cdkContextBuckets(root string) (restore, archive []string, err error) {
	raw, err := os.ReadFile(filepath.Join(root, "cdk.json"))
	if err != nil {
		return nil, nil, &localservices.ConfigError{Err: fmt.Errorf("read cdk.json: %w", err)}
	}
	var doc struct {
		Context struct {
			Restore []string `json:"restoreBuckets"`
			Archive []string `json:"archiveBuckets"`
		} `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil, &localservices.ConfigError{Err: fmt.Errorf("cdk.json: %w", err)}
	}
	return doc.Context.Restore, doc.Context.Archive, nil
}

// printResult prints the final result after the history.
func printResult(w io.Writer, r *execution.Result) {
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
