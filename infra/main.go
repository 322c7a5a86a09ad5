// Command infra is the CDK app of copy-files-to-archive: it reads the
// settings from CDK context (cdk.json, -c key=value), builds the Go
// Lambdas for provided.al2023/arm64 with the local Go toolchain, and
// synthesizes one stack: the Lambdas, the Step Functions workflow rendered
// from statemachine/definition.asl.json, the EventBridge trigger on restore
// completion and the alarms, checked by cdk-nag's AwsSolutions pack.
//
// Run it through the CDK CLI from the repository root: npx cdk synth.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// stackID is the stack's id and CloudFormation name.
const stackID = "CopyFilesToArchive"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "infra:", err)
		os.Exit(1)
	}
}

func run() error {
	defer jsii.Close()
	app := awscdk.NewApp(nil)

	cfg, err := ConfigFromContext(func(key string) any { return app.Node().TryGetContext(jsii.String(key)) })
	if err != nil {
		return err
	}

	// The CLI runs the app from the directory of cdk.json: the module root.
	builder := lambdaBuilder{ModuleDir: ".", OutDir: filepath.Join("bin", "lambda")}
	code := map[string]awslambda.Code{}
	for _, name := range append(statemachine.Folders(), statemachine.OtherFunctions...) {
		dir, err := builder.Build(name, "./functions/"+name)
		if err != nil {
			return err
		}
		if name == statemachine.FunctionRequestStatus || name == statemachine.FunctionReconcile {
			// The database's CA file travels in the function's package
			// (stack.go points DATABASE_SSLROOTCERT at it); none is left
			// from an earlier synth when the key is unset.
			caFile := filepath.Join(dir, RootCertFileName)
			if cfg.Database.SSLRootCert == "" {
				_ = os.Remove(caFile)
			} else if err := copyFile(cfg.Database.SSLRootCert, caFile); err != nil {
				return fmt.Errorf("databaseSslRootCert: %w", err)
			}
		}
		code[name] = awslambda.Code_FromAsset(jsii.String(dir), nil)
	}

	// No account: synth needs none. The region only when
	// restoreBucketRegions names the restore buckets' (StackEnv).
	if _, err := NewArchiveCopyStack(app, stackID, &ArchiveCopyStackProps{
		StackProps: awscdk.StackProps{
			Description: jsii.String("copy-files-to-archive: copies files restored from Glacier to their archive bucket and records their status"),
			Env:         StackEnv(cfg),
		},
		Config:       cfg,
		FunctionCode: func(name string) awslambda.Code { return code[name] },
	}); err != nil {
		return err
	}
	app.Synth(nil)
	return nil
}

// copyFile copies src to dst (mode 0644).
func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
