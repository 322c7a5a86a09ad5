package requeststatus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// LazyPool is a DB whose pgx pool is built at its first use, not at cold
// start: reading the host and password from SSM then happens inside an
// invocation, so an SSM failure is an error of that invocation that the state
// machine can route (*DatabaseUnavailableError is retried) instead of a
// failed Lambda init.
//
// The pool is built once per LazyPool (once per Lambda container), and
// rebuilt only when the database refuses the password read from SSM (see
// Exec). Concurrent first calls wait for one another: only one reads SSM at
// a time, and the others use its pool. A failure is not remembered: the next
// call tries again.
type LazyPool struct {
	config Config
	params ParameterReader
	logger *slog.Logger
	// configure, when set, adjusts the pool configuration before the pool
	// is created (tests use it to set search_path).
	configure func(*pgxpool.Config)

	// lock is held while the pool is being built: a one-slot semaphore,
	// so that a waiting caller can give up when its context ends.
	lock chan struct{}
	pool atomic.Pointer[pgxpool.Pool]
}

var _ DB = (*LazyPool)(nil)

// NewLazyPool returns a LazyPool for config. params reads SSM Parameter
// Store; it may be nil when config.DatabaseURL is set. logger (nil means
// slog.Default()) gets one line when the pool has been configured.
func NewLazyPool(config Config, params ParameterReader, logger *slog.Logger) *LazyPool {
	return &LazyPool{config: config, params: params, logger: logger, lock: make(chan struct{}, 1)}
}

// Pool returns the pool, building it first if no call has built it yet:
// Config.PoolConfig (which reads SSM) and pgxpool.NewWithConfig (which does
// not connect). Errors: *DatabaseUnavailableError when retrying may help
// (SSM throttled, a 5xx, a network failure, a deadline), *DatabaseError
// otherwise (a parameter that does not exist or cannot be read, an invalid
// configuration); either names what failed and never holds the password.
func (p *LazyPool) Pool(ctx context.Context) (*pgxpool.Pool, error) {
	if pool := p.pool.Load(); pool != nil {
		return pool, nil
	}
	select {
	case p.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, &DatabaseUnavailableError{Op: "wait for the database settings another invocation is reading", Err: context.Cause(ctx)}
	}
	defer func() { <-p.lock }()
	if pool := p.pool.Load(); pool != nil {
		return pool, nil // built while this call waited
	}

	poolCfg, err := p.config.PoolConfig(ctx, p.params)
	if err != nil {
		var (
			unavailable *DatabaseUnavailableError
			dbErr       *DatabaseError
		)
		if errors.As(err, &unavailable) || errors.As(err, &dbErr) {
			return nil, err
		}
		return nil, &DatabaseError{Op: "configure the database connection", Err: err}
	}
	if p.configure != nil {
		p.configure(poolCfg)
	}
	// The pool outlives this invocation: it must not inherit its
	// cancellation.
	pool, err := pgxpool.NewWithConfig(context.WithoutCancel(ctx), poolCfg)
	if err != nil {
		return nil, &DatabaseError{Op: fmt.Sprintf("create database pool (%s)", Describe(poolCfg)), Err: err}
	}
	p.pool.Store(pool)
	p.log().InfoContext(ctx, "request-status: database pool configured; it connects at the first query",
		"database", Describe(poolCfg), "settings_from_ssm", p.config.UsesSSM())
	return pool, nil
}

// Exec runs sql on the pool, building it first if needed.
//
// When the settings come from SSM and the database refuses the password
// (SQLSTATE 28P01 invalid_password, e.g. drdb-user-pass was rotated after
// this container read it), the pool is closed and dropped, and the error is
// *DatabaseUnavailableError: the state machine retries it, and the next call
// reads SSM again and builds a new pool. Connections opened before the
// rotation keep working (Postgres does not end them), so this happens when
// the pool next opens a connection. With DATABASE_URL a refused password
// is returned as it is (Store reports it as *DatabaseError: a wrong static
// password will not fix itself).
func (p *LazyPool) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	pool, err := p.Pool(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := pool.Exec(ctx, sql, args...)
	return tag, p.checkPassword(ctx, pool, err)
}

// QueryRow runs sql on the pool, building it first if needed; if that fails,
// the row's Scan returns the error (as pgxpool does when it cannot acquire a
// connection). A refused password is handled as in Exec, at Scan.
func (p *LazyPool) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	pool, err := p.Pool(ctx)
	if err != nil {
		return errRow{err}
	}
	return checkedRow{row: pool.QueryRow(ctx, sql, args...), ctx: ctx, lazy: p, pool: pool}
}

// invalidPassword is SQLSTATE 28P01 invalid_password: Postgres' answer to a
// wrong password (also on RDS).
const invalidPassword = "28P01"

// checkPassword returns err, except when the pool was built from SSM and err
// is the server refusing the password: then it drops pool (if it is still
// the current one; another call may have dropped it already) and returns
// *DatabaseUnavailableError. See Exec.
//
// Closing the pool waits for connections other calls hold on it; a Lambda
// container serves one invocation at a time, so there are none there.
func (p *LazyPool) checkPassword(ctx context.Context, pool *pgxpool.Pool, err error) error {
	var pgErr *pgconn.PgError
	if err == nil || !p.config.UsesSSM() || !errors.As(err, &pgErr) || pgErr.Code != invalidPassword {
		return err
	}
	if p.pool.CompareAndSwap(pool, nil) {
		pool.Close()
		p.log().WarnContext(ctx, "request-status: the database refused the password from SSM; "+
			"the pool is dropped and the next call reads the parameter again",
			"password_parameter", p.config.PasswordParameter, "database", Describe(pool.Config()))
	}
	return &DatabaseUnavailableError{
		Op: fmt.Sprintf("the database refused the password read from SSM parameter %q (named by %s) "+
			"for user %q; was it rotated? The next attempt reads the parameter again",
			p.config.PasswordParameter, EnvPasswordParameter, p.config.User),
		Err: err,
	}
}

// Close closes the pool if it has been built. Call it after the last use.
func (p *LazyPool) Close() {
	if pool := p.pool.Load(); pool != nil {
		pool.Close()
	}
}

func (p *LazyPool) log() *slog.Logger {
	if p.logger != nil {
		return p.logger
	}
	return slog.Default()
}

// checkedRow is a row of a LazyPool's pool whose Scan error goes through
// checkPassword.
type checkedRow struct {
	row  pgx.Row
	ctx  context.Context
	lazy *LazyPool
	pool *pgxpool.Pool
}

func (r checkedRow) Scan(dest ...any) error {
	return r.lazy.checkPassword(r.ctx, r.pool, r.row.Scan(dest...))
}

// errRow is a pgx.Row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
