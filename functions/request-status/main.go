// Command request-status is the Lambda that finds a restored file's open job
// in request_status and records the outcome of its copy. It only wires:
// configuration, the SSM client, the pgx pool (once per container) and the
// handler from shared/requeststatus.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/jackc/pgx/v5/pgxpool"

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

// newHandler builds the handler and its pool. pgxpool.NewWithConfig does not
// connect, so a database that is down now does not fail the cold start: the
// first query reports it as DatabaseUnavailableError.
func newHandler(ctx context.Context, logger *slog.Logger) (*requeststatus.StatusHandler, error) {
	cfg, err := requeststatus.ConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	var params requeststatus.ParameterReader
	if cfg.UsesSSM() {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("load AWS configuration: %w", err)
		}
		params = ssm.NewFromConfig(awsCfg)
	}
	poolCfg, err := cfg.PoolConfig(ctx, params)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return nil, fmt.Errorf("create database pool (%s): %w", requeststatus.Describe(poolCfg), err)
	}
	logger.Info("request-status: database pool configured; it connects at the first query", "database", requeststatus.Describe(poolCfg))
	return &requeststatus.StatusHandler{Store: requeststatus.NewStore(pool), Logger: logger}, nil
}
