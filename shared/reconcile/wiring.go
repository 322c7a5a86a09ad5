package reconcile

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// FunctionName is the reconcile Lambda's name (functions/reconcile).
const FunctionName = "reconcile"

// Handler is the reconcile Lambda: one sweep per scheduled invocation.
type Handler struct {
	Reconciler *Reconciler
	close      func()
	invoker    lambdafn.Invoker // Invoke's aws-lambda-go handler, built once
}

// NewHandlerFromEnv builds the reconcile Lambda's handler from getenv's
// environment: ConfigFromEnv, the database as request-status reaches it
// (requeststatus.ConfigFromEnv: DATABASE_URL, or the host and password from
// SSM read at the first sweep), an S3 client as copy-file's
// (copyfile.S3ClientOptions), a Step Functions client and, when the intake
// queue is set, a CloudWatch client to read its oldest message's age.
// Nothing here talks to the network.
func NewHandlerFromEnv(ctx context.Context, awsCfg aws.Config, getenv func(string) string, logger *slog.Logger) (*Handler, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	s3opt, err := copyfile.S3ClientOptions(getenv)
	if err != nil {
		return nil, err
	}
	db, closeDB, err := NewDBFromEnv(ctx, awsCfg, getenv, logger)
	if err != nil {
		return nil, err
	}
	h := &Handler{close: closeDB}
	h.Reconciler = &Reconciler{
		Config:  cfg,
		DB:      db,
		S3:      s3.NewFromConfig(awsCfg, s3opt),
		SFN:     sfn.NewFromConfig(awsCfg),
		Logger:  logger,
		Metrics: metrics.New(logger, FunctionName),
	}
	if cfg.IntakeQueueURL != "" {
		h.Reconciler.IntakeAge = CloudWatchIntakeAge{CloudWatch: cloudwatch.NewFromConfig(awsCfg), QueueName: QueueNameOf(cfg.IntakeQueueURL)}
	}
	h.invoker.Build(h.Handle)
	return h, nil
}

// NewDBFromEnv reaches the database as request-status does
// (requeststatus.ConfigFromEnv): with DATABASE_URL a pool now (it connects
// at the first query), otherwise the host and password read from SSM at the
// first query (requeststatus.LazyPool). close releases the pool.
func NewDBFromEnv(ctx context.Context, awsCfg aws.Config, getenv func(string) string, logger *slog.Logger) (_ DB, close func(), _ error) {
	dbCfg, err := requeststatus.ConfigFromEnv(getenv)
	if err != nil {
		return nil, nil, err
	}
	if dbCfg.UsesSSM() {
		if awsCfg.Region == "" {
			return nil, nil, errors.New("AWS_REGION is not set: it is needed to read the database settings from SSM (or set DATABASE_URL)")
		}
		lazy := requeststatus.NewLazyPool(dbCfg, ssm.NewFromConfig(awsCfg), logger)
		return PoolDB{Lazy: lazy}, lazy.Close, nil
	}
	pool, err := requeststatus.NewPoolFromEnv(ctx, getenv)
	if err != nil {
		return nil, nil, err
	}
	return pool, pool.Close, nil
}

// Handle runs one sweep; the scheduled event's content is not used.
func (h *Handler) Handle(ctx context.Context, _ any) (*Report, error) {
	rep, err := h.Reconciler.Sweep(ctx)
	var sweepErr *SweepError
	if errors.As(err, &sweepErr) {
		return rep, sweepErr // unwrapped: errorType SweepError
	}
	return rep, err
}

// Invoke serves one invocation's JSON payload with Handle (lambda.Handler),
// through the aws-lambda-go handler built once (lambdafn.Invoker).
func (h *Handler) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return h.invoker.Invoke(ctx, h.Handle, payload)
}

// Close releases the database pool.
func (h *Handler) Close() {
	if h.close != nil {
		h.close()
	}
}

var _ lambda.Handler = (*Handler)(nil)
