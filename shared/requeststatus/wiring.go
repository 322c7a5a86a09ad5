package requeststatus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
)

// NewHandlerFromEnv builds the request-status Lambda's handler from getenv's
// environment (ConfigFromEnv). A configuration error stops the cold start.
// Nothing here talks to the network:
//   - With DATABASE_URL the pool is built now (NewPoolFromEnv). It connects
//     at the first query, which reports a database that is down as
//     DatabaseUnavailableError.
//   - Otherwise the first invocation reads the host and password from SSM
//     (a client from awsCfg) and builds the pool (LazyPool). An SSM failure
//     is then that invocation's DatabaseUnavailableError or DatabaseError,
//     not a failed init. If the database later refuses that password (it
//     was rotated), the pool is dropped and the retry reads SSM again.
//
// The handler holds the pool: Close releases it.
func NewHandlerFromEnv(ctx context.Context, awsCfg aws.Config, getenv func(string) string, logger *slog.Logger) (*StatusHandler, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	var db DB
	if cfg.UsesSSM() {
		if awsCfg.Region == "" {
			return nil, errors.New("AWS_REGION is not set: it is needed to read the database settings from SSM (or set DATABASE_URL)")
		}
		db = NewLazyPool(cfg, ssm.NewFromConfig(awsCfg), logger)
	} else {
		pool, err := newPool(ctx, cfg)
		if err != nil {
			return nil, err
		}
		logger.InfoContext(ctx, "request-status: database pool configured; it connects at the first query", "database", Describe(pool.Config()))
		db = pool
	}
	h := &StatusHandler{Store: NewStore(db), Logger: logger, Metrics: metrics.New(logger, "request-status"), db: db}
	h.invoker.Build(h.Handle)
	return h, nil
}

// NewPoolFromEnv builds the pgx pool request-status uses when DATABASE_URL
// is set, from getenv's environment (DATABASE_URL, DATABASE_MAX_CONNS, ...).
// It does not connect. Without DATABASE_URL it fails: the settings are then
// in SSM, which only NewHandlerFromEnv reads.
func NewPoolFromEnv(ctx context.Context, getenv func(string) string) (*pgxpool.Pool, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	if cfg.UsesSSM() {
		return nil, fmt.Errorf("%s is empty: a connection string is needed here", EnvDatabaseURL)
	}
	return newPool(ctx, cfg)
}

func newPool(ctx context.Context, cfg Config) (*pgxpool.Pool, error) {
	poolCfg, err := cfg.PoolConfig(ctx, nil)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("create database pool (%s): %w", Describe(poolCfg), err)
	}
	return pool, nil
}

// Close releases the database pool NewHandlerFromEnv built. A handler built
// otherwise has nothing to close.
func (h *StatusHandler) Close() {
	if c, ok := h.db.(interface{ Close() }); ok {
		c.Close()
	}
}

// Invoke serves one invocation's JSON payload with Handle (lambda.Handler),
// through the aws-lambda-go handler built once (lambdafn.Invoker).
func (h *StatusHandler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return h.invoker.Invoke(ctx, h.Handle, payload)
}

var _ lambda.Handler = (*StatusHandler)(nil)
