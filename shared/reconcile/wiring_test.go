package reconcile_test

import (
	"context"
	"net/url"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/jackc/pgx/v5"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/pgtest"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

// Without DATABASE_URL the sweep reads the host and the password from SSM
// (moto's Parameter Store through the real client) at its first query, as
// request-status does, and reaches the database with them.
func TestDatabaseFromSSM(t *testing.T) {
	srv := startMoto(t)
	u, err := url.Parse(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	awsCfg := aws.Config{Region: srv.Region, BaseEndpoint: aws.String(srv.Endpoint),
		Credentials: credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, "")}
	params := ssm.NewFromConfig(awsCfg)
	password, _ := u.User.Password()
	if password == "" {
		password = "unused with trust auth"
	}
	for name, v := range map[string]string{"/reconcile-test/host": u.Hostname(), "/reconcile-test/pass": password} {
		typ := ssmtypes.ParameterTypeString
		if name == "/reconcile-test/pass" {
			typ = ssmtypes.ParameterTypeSecureString
		}
		if _, err := params.PutParameter(context.Background(), &ssm.PutParameterInput{Name: aws.String(name), Value: aws.String(v), Type: typ}); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{
		"DATABASE_NAME": u.Path[1:], "DATABASE_USER": u.User.Username(), "DATABASE_PORT": u.Port(),
		"DATABASE_HOST_PARAMETER": "/reconcile-test/host", "DATABASE_PASSWORD_PARAMETER": "/reconcile-test/pass",
		"DATABASE_SSLMODE": "disable",
	}
	db, closeDB, err := reconcile.NewDBFromEnv(context.Background(), awsCfg, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeDB()
	if _, ok := db.(reconcile.PoolDB); !ok {
		t.Fatalf("database handle %T, want the SSM-backed PoolDB", db)
	}
	rows, err := db.Query(context.Background(), "SELECT current_user::text")
	if err != nil {
		t.Fatal(err)
	}
	user, err := pgx.CollectExactlyOneRow(rows, pgx.RowTo[string])
	if err != nil || user != u.User.Username() {
		t.Errorf("connected as %q (%v), want %q", user, err, u.User.Username())
	}
	if _, err := db.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Errorf("Exec: %v", err)
	}
}

// With the intake queue set, the handler reads the queue's oldest message
// age from CloudWatch under the queue's name; without it, not at all.
func TestHandlerReadsTheIntakeAgeWhenTheQueueIsSet(t *testing.T) {
	for url, want := range map[string]reconcile.IntakeAgeReader{
		"": nil,
		"https://sqs.us-east-1.amazonaws.com/123456789012/Stack-IntakeQueue-X": reconcile.CloudWatchIntakeAge{QueueName: "Stack-IntakeQueue-X"},
	} {
		env := map[string]string{reconcile.EnvStateMachineARN: stateMachine, reconcile.EnvIntakeQueueURL: url,
			"DATABASE_URL": "postgres://nobody@127.0.0.1:1/none?sslmode=disable"}
		h, err := reconcile.NewHandlerFromEnv(context.Background(), aws.Config{Region: "us-east-1"}, func(k string) string { return env[k] }, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := h.Reconciler.IntakeAge
		if cw, ok := got.(reconcile.CloudWatchIntakeAge); ok {
			if cw.CloudWatch == nil {
				t.Errorf("%q: no CloudWatch client", url)
			}
			cw.CloudWatch = nil
			got = cw
		}
		if got != want {
			t.Errorf("%q: IntakeAge %#v, want %#v", url, got, want)
		}
		h.Close()
	}
}
