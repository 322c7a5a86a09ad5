package loadsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/jackc/pgx/v5"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/faultproxy"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/invokeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3model"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// LoadConfig configures a load run: many events, sent one by one to the
// intake (the queue and the Pipe, which starts one execution per batch:
// intake.go), against Lambda-like concurrency and a Postgres role with a
// connection limit.
type LoadConfig struct {
	// RepoRoot, Engine, Getenv, S3Dir, DBDir and Buckets are as in Config.
	RepoRoot, Engine string
	Getenv           func(string) string
	S3Dir, DBDir     string
	Buckets          []string
	// Rate is how many events reach the intake queue per (real) second, as
	// EventBridge's SendMessage calls would; 0 sends them all at once.
	Rate float64
	// Pipe is how the Pipe batches; zero reads cdk.json (LoadPipeSettings).
	// Its window is in scaled time, as the engine's timers.
	Pipe PipeSettings
	// AccountConcurrency bounds the invocations in flight across every
	// function (0: no limit); Reserved gives functions, by name, their
	// reserved concurrency (invokeapi.Account, Function.ReservedConcurrency).
	AccountConcurrency int
	Reserved           map[string]int
	// ColdStart is slept before each new execution environment's first
	// invocation.
	ColdStart time.Duration
	// DBMaxConnections, when positive, is the CONNECTION LIMIT of the
	// Postgres role the Lambdas connect as (a role created for the run, not
	// a superuser, whom the limit would not bind). It needs DATABASE_URL.
	DBMaxConnections int
	// TimeScale, when above 1, runs the engine's Retry pauses (with their
	// backoff, cap and jitter) that many times faster. On the Node engine
	// every timer is scaled (Wait states and task timeouts too), so the
	// definition's task TimeoutSeconds are multiplied by it and still
	// bound the Lambdas' real time; moto's driver scales the Retry sleep
	// only. CopyDelay is in scaled time too.
	TimeScale float64
	// CopyDelay, when positive, holds every CopyObject and UploadPartCopy
	// request this long (scaled time) before S3 sees it: copies that
	// occupy their environment for a long time.
	CopyDelay time.Duration
	// S3Model runs the Lambdas against the calibrated model of S3
	// (internal/s3model, DefaultParams: 100 ms per request, the calibrated
	// per-request copy rate) instead of versitygw or AWS_ENDPOINT_URL_S3.
	// Its requests take S3's latency in real time whatever TimeScale is,
	// so the Lambdas' durations, and the GB-seconds billed from them, are
	// what AWS would bill rather than loopback's milliseconds. The model
	// is in memory: Run puts every file of the events in it (the event's
	// size, 4 KiB when it gives none, the event's ETag when it names one);
	// the open jobs come from the database as for any run.
	S3Model bool
	// Progress receives a progress line every ProgressEvery (default 1 s)
	// while the run goes; nil prints none.
	Progress      io.Writer
	ProgressEvery time.Duration
	// ServerLog receives the servers' and the engine's output, LambdaLog
	// the Lambdas' JSON logs (counted for the cost of log ingestion).
	ServerLog, LambdaLog io.Writer
}

// Load is a prepared load run: services up, definition rendered, the
// database role created.
type Load struct {
	Services   *localservices.Services
	Settings   statemachine.Settings
	Definition []byte
	// Pipe is how the stand-in Pipe batches the events.
	Pipe PipeSettings
	// Role is the Postgres role the Lambdas connect as ("" when the
	// database is PGlite).
	Role string

	cfg       LoadConfig
	lambdaEnv map[string]string
	// shape is the deployed definition's, which billing reads.
	shape workflowShape
	model *s3model.Server // with S3Model
	// s3 is each function's way to S3, by function name (see proxyS3).
	s3 map[string]*s3Proxy
	// lambdaLog counts each function's log, by function name.
	lambdaLog map[string]*functionLog
	closers   []func()
}

// NewLoad starts or connects to the services, renders the definition and,
// for a Postgres server, creates the Lambdas' role.
func NewLoad(ctx context.Context, cfg LoadConfig) (_ *Load, err error) {
	if err := cfg.check(ctx); err != nil {
		return nil, err
	}
	settings, err := localservices.LoadSettings(cfg.RepoRoot, cfg.Getenv)
	if err != nil {
		return nil, err
	}
	shape, err := deployedShape(settings)
	if err != nil {
		return nil, err
	}
	if cfg.Engine == stepengine.EngineMoto {
		// moto refuses EXPRESS children (DESIGN.md's table of the
		// engines' Map features): it runs them as Standard ones.
		settings.ChunkExecutionType = statemachine.ExecutionTypeStandard
	}
	definition, err := statemachine.Render(settings)
	if err != nil {
		return nil, &localservices.ConfigError{Err: err}
	}
	if cfg.Pipe.BatchSize == 0 {
		if cfg.Pipe, err = LoadPipeSettings(cfg.RepoRoot); err != nil {
			return nil, &localservices.ConfigError{Err: err}
		}
	} else if err := cfg.Pipe.check(); err != nil {
		return nil, &localservices.ConfigError{Err: err}
	}
	if cfg.TimeScale > 1 && cfg.Engine != stepengine.EngineMoto {
		// The Node engine's timers all run faster, its task timeouts
		// too; moto's driver scales only the Retry pauses.
		if definition, err = scaleTaskTimeouts(definition, cfg.TimeScale); err != nil {
			return nil, err
		}
	}
	l := &Load{Settings: settings, Definition: definition, Pipe: cfg.Pipe, cfg: cfg, lambdaEnv: map[string]string{}, shape: shape}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	getenv := cfg.Getenv
	if cfg.S3Model {
		if getenv, err = l.startModel(); err != nil {
			return nil, err
		}
	}
	l.Services, err = localservices.StartServices(ctx, localservices.ServicesConfig{
		RepoRoot: cfg.RepoRoot, Getenv: getenv, S3Dir: cfg.S3Dir, DBDir: cfg.DBDir,
		Buckets: cfg.Buckets, Log: cfg.ServerLog,
	})
	if err != nil {
		return nil, err
	}
	l.closers = append(l.closers, l.Services.Close)
	if err := l.proxyS3(); err != nil {
		return nil, err
	}
	if !l.Services.EmbeddedDB {
		if err := l.createRole(ctx); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// check refuses a configuration the load cannot run and fills in the
// defaults.
func (cfg *LoadConfig) check(ctx context.Context) error {
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	if err := execution.CheckEngine(cfg.Engine); err != nil {
		return err
	}
	if cfg.Engine == stepengine.EngineMoto {
		if err := stepengine.CheckMoto(ctx, ""); err != nil {
			return &localservices.ConfigError{Err: err}
		}
	}
	if err := localservices.CheckNodeModules(cfg.RepoRoot); err != nil {
		return &localservices.ConfigError{Err: err}
	}
	if cfg.Rate < 0 || cfg.AccountConcurrency < 0 || cfg.DBMaxConnections < 0 || cfg.ColdStart < 0 || cfg.CopyDelay < 0 {
		return &localservices.ConfigError{Err: errors.New("--rate, --account-concurrency, --db-max-connections, --cold-start and --copy-delay cannot be negative")}
	}
	for name, n := range cfg.Reserved {
		if !isFunction(name) {
			return &localservices.ConfigError{Err: fmt.Errorf("--reserved %s=%d: no function %s (want one of %s)", name, n, name, strings.Join(statemachine.FunctionNames(), ", "))}
		}
		if n < 1 {
			return &localservices.ConfigError{Err: fmt.Errorf("--reserved %s=%d: want at least 1", name, n)}
		}
	}
	if e := strings.TrimSpace(cfg.Getenv(localservices.EnvS3Endpoint)); cfg.S3Model && e != "" {
		return &localservices.ConfigError{Err: fmt.Errorf("--s3-model runs the Lambdas against the S3 model, but %s names another S3 endpoint (%s): unset one of them", localservices.EnvS3Endpoint, e)}
	}
	if cfg.DBMaxConnections > 0 && strings.TrimSpace(cfg.Getenv(localservices.EnvDatabaseURL)) == "" {
		return &localservices.ConfigError{Err: fmt.Errorf("--db-max-connections needs a Postgres server in %s (the embedded PGlite has one session and no roles)", localservices.EnvDatabaseURL)}
	}
	if cfg.S3Dir == "" {
		cfg.S3Dir = filepath.Join(cfg.RepoRoot, ".local", "s3")
	}
	if cfg.DBDir == "" {
		cfg.DBDir = filepath.Join(cfg.RepoRoot, ".local", "pglite")
	}
	if cfg.TimeScale < 1 {
		cfg.TimeScale = 1
	}
	return nil
}

// s3Proxy is one function's way to S3: a proxy that counts its requests
// by price class and holds its copies for CopyDelay.
type s3Proxy struct {
	proxy  *faultproxy.Proxy
	copies *faultproxy.Rule // CopyObject and UploadPartCopy (PUT class), held
	puts   *faultproxy.Rule // the rest of the PUT, COPY, POST, LIST requests
	gets   *faultproxy.Rule // GET, HEAD and the others
}

// proxyS3 sends every S3 request of the Lambdas through a proxy of the
// function's own (s3Proxy): the copies each function held are what its
// billed duration gains in scaled time (see heldMs).
func (l *Load) proxyS3() error {
	cfg := l.cfg
	l.s3 = map[string]*s3Proxy{}
	for _, f := range statemachine.Functions {
		p := &s3Proxy{
			copies: &faultproxy.Rule{Match: isCopyRequest, Delay: time.Duration(float64(cfg.CopyDelay) / cfg.TimeScale)},
			puts:   &faultproxy.Rule{Match: isPutClassRequest},
			gets:   &faultproxy.Rule{},
		}
		var err error
		if p.proxy, err = faultproxy.New(l.Services.S3Endpoint, p.copies, p.puts, p.gets); err != nil {
			return err
		}
		l.closers = append(l.closers, p.proxy.Close)
		l.s3[f.Name] = p
	}
	return nil
}

// heldMs is how much longer, in scaled time, function's invocations waited
// on the copies the runner held than they did in real time: each held copy
// took CopyDelay / TimeScale of real time for CopyDelay of scaled time.
// Lambda bills a copy held for three minutes as three minutes; the rest of
// an invocation (its own work and S3's latency) is real time, billed as it
// ran.
func (l *Load) heldMs(function string) int64 {
	p, ok := l.s3[function]
	if !ok || l.cfg.CopyDelay <= 0 {
		return 0
	}
	real := time.Duration(float64(l.cfg.CopyDelay) / l.cfg.TimeScale)
	return int64(p.copies.Hits()) * (l.cfg.CopyDelay - real).Milliseconds()
}

// deployedShape reads the definition as deployed (Express children, what
// the local rendering for moto changes) for billing.
func deployedShape(settings statemachine.Settings) (workflowShape, error) {
	settings.ChunkExecutionType = ""
	deployed, err := statemachine.Render(settings)
	if err != nil {
		return workflowShape{}, &localservices.ConfigError{Err: err}
	}
	return newWorkflowShape(deployed)
}

func isFunction(name string) bool {
	for _, f := range statemachine.Functions {
		if f.Name == name {
			return true
		}
	}
	return false
}

// isCopyRequest matches a CopyObject or UploadPartCopy request.
func isCopyRequest(r *http.Request) bool {
	return r.Method == http.MethodPut && r.Header.Get("X-Amz-Copy-Source") != ""
}

// isPutClassRequest matches what S3 prices as PUT, COPY, POST, LIST
// requests (https://aws.amazon.com/s3/pricing/): the rest (GET, HEAD, ...)
// are in the cheaper class. DELETE and AbortMultipartUpload are free; they
// are counted with the GETs, an upper bound.
func isPutClassRequest(r *http.Request) bool {
	switch r.Method {
	case http.MethodPut, http.MethodPost:
		return true
	case http.MethodGet:
		q := r.URL.Query()
		return q.Has("list-type") || q.Has("uploads") || q.Has("versions")
	}
	return false
}

// createRole creates the role the Lambdas connect as: LOGIN, not a
// superuser, CONNECTION LIMIT DBMaxConnections (-1, none, when unset), with
// what request-status needs on request_status. Postgres refuses the
// connection beyond the limit itself (53300 too_many_connections).
func (l *Load) createRole(ctx context.Context) error {
	base, err := url.Parse(l.Services.Getenv(localservices.EnvDatabaseURL))
	if err != nil || (base.Scheme != "postgres" && base.Scheme != "postgresql") {
		return &localservices.ConfigError{Err: fmt.Errorf("%s: the load runner needs a postgres:// URL to connect the Lambdas as their own role", localservices.EnvDatabaseURL)}
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	l.Role = "cfta_load_" + hex.EncodeToString(b[:])
	_, _ = rand.Read(b[:])
	password := hex.EncodeToString(b[:])
	limit := l.cfg.DBMaxConnections
	if limit == 0 {
		limit = -1
	}
	var schema string
	if err := l.Services.DB.QueryRow(ctx, "SELECT current_schema()").Scan(&schema); err != nil {
		return fmt.Errorf("database: %w", err)
	}
	role, sch := pgx.Identifier{l.Role}.Sanitize(), pgx.Identifier{schema}.Sanitize()
	for _, stmt := range []string{
		fmt.Sprintf("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE CONNECTION LIMIT %d PASSWORD '%s'", role, limit, password),
		fmt.Sprintf("GRANT USAGE ON SCHEMA %s TO %s", sch, role),
		fmt.Sprintf("GRANT SELECT, UPDATE ON %s.request_status TO %s", sch, role),
	} {
		if _, err := l.Services.DB.Exec(ctx, stmt); err != nil {
			return &localservices.ConfigError{Err: fmt.Errorf("create the Lambdas' database role (the %s user needs CREATEROLE): %w", localservices.EnvDatabaseURL, err)}
		}
	}
	l.closers = append(l.closers, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = l.Services.DB.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", l.Role)
		_, _ = l.Services.DB.Exec(ctx, "DROP OWNED BY "+role)
		_, _ = l.Services.DB.Exec(ctx, "DROP ROLE "+role)
	})
	u := *base
	u.User = url.UserPassword(l.Role, password)
	l.lambdaEnv[localservices.EnvDatabaseURL] = u.String()
	return nil
}

// DatabaseOutage takes the Lambdas' database away (down) or gives it back:
// the role's CONNECTION LIMIT goes to 0 and its sessions are terminated,
// so Postgres refuses every connection (53300) until it is restored.
func (l *Load) DatabaseOutage(ctx context.Context, down bool) error {
	if l.Role == "" {
		return errors.New("a database outage needs a Postgres server (DATABASE_URL)")
	}
	limit := l.cfg.DBMaxConnections
	if limit == 0 {
		limit = -1
	}
	if down {
		limit = 0
	}
	if _, err := l.Services.DB.Exec(ctx, fmt.Sprintf("ALTER ROLE %s CONNECTION LIMIT %d", pgx.Identifier{l.Role}.Sanitize(), limit)); err != nil {
		return err
	}
	if down {
		_, err := l.Services.DB.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", l.Role)
		return err
	}
	return nil
}

// Close stops what NewLoad started, the role dropped.
func (l *Load) Close() {
	for i := len(l.closers) - 1; i >= 0; i-- {
		l.closers[i]()
	}
	l.closers = nil
}

// functions builds the four functions, each invocation of which runs in an
// execution environment of its own made by the function's constructor
// (own pgx pool, own S3 client), as Lambda does.
func (l *Load) functions(ctx context.Context) ([]invokeapi.Function, error) {
	envOf := func(function string) func(string) string {
		return func(name string) string {
			if p, ok := l.s3[function]; ok && name == localservices.EnvS3Endpoint {
				return p.proxy.URL
			}
			if v, ok := l.lambdaEnv[name]; ok {
				return v
			}
			return l.Services.Getenv(name)
		}
	}
	var fns []invokeapi.Function
	for _, f := range statemachine.Functions {
		getenv := envOf(f.Name)
		awsCfg, err := localservices.AWSConfig(ctx, getenv)
		if err != nil {
			return nil, err
		}
		build, ok := localservices.Constructors[f.Folder()]
		if !ok {
			return nil, fmt.Errorf("local runner: no constructor for function %s (functions/%s)", f.Name, f.Folder())
		}
		// Each function logs through its own counter, as to its own log
		// group.
		log := lambdafn.NewLogger(l.lambdaLog[f.Name], lambdafn.LevelFromEnv(getenv))
		// Fail before the run when the function's configuration is wrong.
		h, err := build(ctx, awsCfg, getenv, log)
		if err != nil {
			return nil, &localservices.ConfigError{Err: fmt.Errorf("%s: %w", f.Name, err)}
		}
		if c, ok := h.(interface{ Close() }); ok {
			c.Close()
		}
		fns = append(fns, invokeapi.Function{
			Name: f.Name, Code: f.Folder(),
			NewEnvironment: func(ctx context.Context) (lambda.Handler, error) {
				return build(context.WithoutCancel(ctx), awsCfg, getenv, log)
			},
			ColdStart:           l.cfg.ColdStart,
			ReservedConcurrency: l.cfg.Reserved[f.Name],
			Timeout:             time.Duration(f.TimeoutSecs) * time.Second,
		})
	}
	// The check above is no environment of the run: its lines are not
	// counted.
	for _, fl := range l.lambdaLog {
		fl.n.Store(0)
	}
	return fns, nil
}

// countFiles reads the newest request_status row of every file of the
// events.
func (l *Load) countFiles(ctx context.Context, events [][]byte, rep *LoadReport) error {
	table := requeststatus.NewTable(l.Services.DB)
	for _, ev := range events {
		files, err := parseevent.ParseEvent(ev)
		if err != nil {
			continue
		}
		for _, f := range files {
			rep.Files.Total++
			status, found, err := table.LatestStatus(ctx, f.SourceKey)
			switch {
			case err != nil:
				return fmt.Errorf("read request_status after the run: %w", err)
			case !found:
				rep.Files.NoJob++
			case status == "complete":
				rep.Files.Complete++
			case status == "error":
				rep.Files.Error++
			default:
				rep.Files.Unrecorded++
			}
		}
	}
	return nil
}

// connectionWatch samples the role's sessions.
type connectionWatch struct {
	mu         sync.Mutex
	max, last  int
	done, gone chan struct{}
}

func (c *connectionWatch) peak() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.max
}

func (c *connectionWatch) now() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

func (c *connectionWatch) stop() {
	select {
	case <-c.done:
	default:
		close(c.done)
		<-c.gone
	}
}

func (l *Load) watchConnections() *connectionWatch {
	w := &connectionWatch{done: make(chan struct{}), gone: make(chan struct{})}
	if l.Role == "" {
		close(w.gone)
		return w
	}
	go func() {
		defer close(w.gone)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-t.C:
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				var n int
				err := l.Services.DB.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", l.Role).Scan(&n)
				cancel()
				if err == nil {
					w.mu.Lock()
					w.last = n
					w.max = max(w.max, n)
					w.mu.Unlock()
				}
			}
		}
	}()
	return w
}

// scaleTaskTimeouts multiplies every TimeoutSeconds of the definition by
// scale (see LoadConfig.TimeScale).
func scaleTaskTimeouts(definition []byte, scale float64) ([]byte, error) {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(definition))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("definition: %w", err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch t := v.(type) {
		case map[string]any:
			for k, child := range t {
				if n, ok := child.(json.Number); ok && k == "TimeoutSeconds" {
					f, _ := n.Float64()
					t[k] = int(f*scale + 0.5)
					continue
				}
				walk(child)
			}
		case []any:
			for _, child := range t {
				walk(child)
			}
		}
	}
	walk(doc)
	return json.Marshal(doc)
}

// ReadEvents reads NDJSON as ReadEventLines does, without the line numbers.
func ReadEvents(r io.Reader, name string) ([][]byte, error) {
	lines, err := ReadEventLines(r, name)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(lines))
	for i, l := range lines {
		out[i] = l.Event
	}
	return out, nil
}
