// Command request-status is the Lambda that finds a restored file's open job
// in request_status and records the outcome of its copy. It only wires:
// configuration, the SSM client, the pgx pool (once per container) and the
// handler from shared/requeststatus.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

func main() {
	logger := lambdacontext.NewLogger()
	handler, err := newHandler(context.Background(), logger)
	if err != nil {
		logger.Error("request-status: cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(handler.Handle)
}

// newHandler builds the handler. Configuration errors (environment
// variables) stop the cold start. Nothing here talks to the network:
//   - with DATABASE_URL the pool is built now (pgxpool.NewWithConfig does
//     not connect; a database that is down is reported by the first query
//     as DatabaseUnavailableError);
//   - otherwise the host and password are read from SSM, and the pool
//     built, by the first invocation (requeststatus.LazyPool), so that an
//     SSM failure is that invocation's DatabaseUnavailableError or
//     DatabaseError, not a failed init; if the database later refuses that
//     password (it was rotated), the pool is dropped and the retry reads
//     SSM again.
func newHandler(ctx context.Context, logger *slog.Logger) (*requeststatus.StatusHandler, error) {
	cfg, err := requeststatus.ConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	var db requeststatus.DB
	if cfg.UsesSSM() {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		if awsCfg.Region == "" {
			return nil, errors.New("AWS_REGION is not set: it is needed to read the database settings from SSM (or set DATABASE_URL)")
		}
		db = requeststatus.NewLazyPool(cfg, ssm.NewFromConfig(awsCfg), logger)
	} else {
		poolCfg, err := cfg.PoolConfig(ctx, nil)
		if err != nil {
			return nil, err
		}
		pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
		if err != nil {
			return nil, fmt.Errorf("create database pool (%s): %w", requeststatus.Describe(poolCfg), err)
		}
		logger.Info("request-status: database pool configured; it connects at the first query", "database", requeststatus.Describe(poolCfg))
		db = pool
	}
	return &requeststatus.StatusHandler{Store: requeststatus.NewStore(db), Logger: logger, Metrics: metrics.New(logger, "request-status")}, nil
}
