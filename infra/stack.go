package main

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// functionNames lists the workflow functions the stack deploys, by name
// (statemachine.Function.Name; Folder is what each is built from).
var functionNames = statemachine.FunctionNames()

// functionBuilders build the functions that need more than GoFunctionProps
// from statemachine.Functions (settings, permissions, network), by name.
var functionBuilders = map[string]func(stack awscdk.Stack, cfg Config, props *GoFunctionProps) *GoFunction{
	statemachine.FunctionRequestStatus: newRequestStatusFunction,
	statemachine.FunctionCopyFile:      newCopyFileFunction,
	statemachine.FunctionParseEvent:    newParseEventFunction,
}

// sharedFunctions are the functions deployed from another's code with its
// settings, role and log group (statemachine.Function.Source), by name:
// the one whose they share.
var sharedFunctions = map[string]string{
	statemachine.FunctionCopyFileExpress: statemachine.FunctionCopyFile,
}

// ArchiveCopyStackProps is the stack's configuration and the code of its
// functions.
type ArchiveCopyStackProps struct {
	awscdk.StackProps
	Config Config
	// FunctionCode returns the code asset of a function, by name (main
	// builds them with lambdaBuilder; tests pass a stand-in).
	FunctionCode func(name string) awslambda.Code
}

// ArchiveCopyStack is the whole system: the workflow's five Lambdas and the
// reconcile sweep's, the state machine, the EventBridge trigger, the intake
// queue and Pipe, and the alarms.
type ArchiveCopyStack struct {
	awscdk.Stack
	Functions map[string]*GoFunction
	Workflow  *CopyWorkflow
	// Intake is the queue and Pipe that start one execution per batch of
	// restore events.
	Intake    *Intake
	Trigger   *RestoreTrigger
	Alarms    *WorkflowAlarms
	Dashboard awscloudwatch.Dashboard
	// Reconciler is the scheduled sweep (nil when reconcilePeriodMinutes is 0).
	Reconciler *Reconciler
}

// NewArchiveCopyStack builds the stack and applies cdk-nag's AwsSolutions
// checks to it.
func NewArchiveCopyStack(scope constructs.Construct, id string, props *ArchiveCopyStackProps) (*ArchiveCopyStack, error) {
	cfg := props.Config
	// The task timeouts must exceed the functions' (checked here too, as
	// Config may have been changed after ConfigFromContext).
	if err := cfg.Workflow.ValidatePolicy(); err != nil {
		return nil, fmt.Errorf("workflow settings: %w", err)
	}

	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	if err := checkStackRegion(stack, cfg); err != nil {
		return nil, err
	}
	s := &ArchiveCopyStack{Stack: stack, Functions: map[string]*GoFunction{}}
	logRetention := retention(cfg.LogRetentionDays)

	workflowFunctions := s.addWorkflowFunctions(cfg, props.FunctionCode, logRetention)

	wf, err := NewCopyWorkflow(stack, "CopyWorkflow", &CopyWorkflowProps{
		Functions:    workflowFunctions,
		Settings:     cfg.Workflow,
		LogRetention: logRetention,
	})
	if err != nil {
		return nil, err
	}
	s.Workflow = wf

	s.addIntake(cfg)

	fns := map[string]awslambda.IFunction{}
	for name, fn := range s.Functions {
		fns[name] = fn.Function
	}
	s.Dashboard = NewDashboard(stack, "Dashboard", &DashboardProps{
		StateMachine: wf.StateMachine, DeadLetterQueue: s.Trigger.DeadLetterQueue, Intake: s.Intake, Functions: fns,
	})

	if cfg.Reconcile.Enabled() {
		s.Reconciler = NewReconciler(stack, "Reconcile", &ReconcilerProps{
			Config: cfg, StateMachine: wf.StateMachine, Code: props.FunctionCode(statemachine.FunctionReconcile),
			LogRetention: logRetention, Topic: s.Alarms.Topic, Dashboard: s.Dashboard,
			IntakeQueue: s.Intake.Queue, IntakeGrace: time.Duration(IntakeStalledSecs(cfg.Intake)) * time.Second,
		})
	}

	s.addOutputs()

	if cfg.EnableRestoreBucketEventBridge {
		suppressBucketNotificationsHandler(stack)
	}
	awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return s, nil
}

// addIntake creates the intake (queue, Pipe), the restore rule that feeds
// it, and the alarms on the workflow and the intake.
func (s *ArchiveCopyStack) addIntake(cfg Config) {
	s.Intake = NewIntake(s.Stack, "Intake", &IntakeProps{
		StateMachine: s.Workflow.StateMachine,
		Settings:     cfg.Intake,
		StartAfter:   []constructs.IConstruct{s.Workflow.MapPolicy},
	})
	s.Trigger = NewRestoreTrigger(s.Stack, "RestoreTrigger", &RestoreTriggerProps{
		Intake:                    s.Intake.Queue,
		RestoreBuckets:            cfg.RestoreBuckets,
		EnableBucketNotifications: cfg.EnableRestoreBucketEventBridge,
	})
	s.Alarms = NewWorkflowAlarms(s.Stack, "Alarms", &WorkflowAlarmsProps{
		StateMachine:    s.Workflow.StateMachine,
		DeadLetterQueue: s.Trigger.DeadLetterQueue,
		Intake:          s.Intake,
		IntakeStalled:   awscdk.Duration_Seconds(jsii.Number(float64(IntakeStalledSecs(cfg.Intake)))),
		AlarmEmail:      cfg.AlarmEmail,
	})
}

// addWorkflowFunctions creates the functions of statemachine.Functions,
// each with its builder from functionBuilders when it has one, and returns
// them by name for the state machine.
func (s *ArchiveCopyStack) addWorkflowFunctions(cfg Config, code func(name string) awslambda.Code, logRetention awslogs.RetentionDays) map[string]awslambda.IFunction {
	workflowFunctions := map[string]awslambda.IFunction{}
	for _, f := range statemachine.Functions {
		fnProps := &GoFunctionProps{
			ConstructID:  f.ConstructID,
			Description:  f.Description,
			Code:         code(f.Folder()),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(f.TimeoutSecs)),
			MemoryMB:     float64(f.MemoryMB),
			LogRetention: logRetention,
		}
		var fn *GoFunction
		if shared, ok := sharedFunctions[f.Name]; ok {
			fn = newSharedFunction(s.Stack, cfg, fnProps, s.Functions[shared])
		} else if build, ok := functionBuilders[f.Name]; ok {
			fn = build(s.Stack, cfg, fnProps)
		} else {
			fn = NewGoFunction(s.Stack, f.ConstructID, fnProps)
		}
		s.Functions[f.Name] = fn
		workflowFunctions[f.Name] = fn.Function
	}
	return workflowFunctions
}

// addOutputs exports what operators and other accounts need: the state
// machine, the intake and the dead-letter queues, the alarm topic and the
// copy role.
func (s *ArchiveCopyStack) addOutputs() {
	awscdk.NewCfnOutput(s.Stack, jsii.String("StateMachineArn"), &awscdk.CfnOutputProps{
		Value:       s.Workflow.StateMachine.StateMachineArn(),
		Description: jsii.String("Start an execution with an S3 event ({\"Records\": [...]}) to copy files by hand"),
	})
	awscdk.NewCfnOutput(s.Stack, jsii.String("DeadLetterQueueUrl"), &awscdk.CfnOutputProps{
		Value:       s.Trigger.DeadLetterQueue.QueueUrl(),
		Description: jsii.String("Restore events the rule could not send to the intake queue"),
	})
	awscdk.NewCfnOutput(s.Stack, jsii.String("IntakeQueueUrl"), &awscdk.CfnOutputProps{
		Value:       s.Intake.Queue.QueueUrl(),
		Description: jsii.String("Send a restore event here to have it copied with the next batch"),
	})
	awscdk.NewCfnOutput(s.Stack, jsii.String("IntakeDeadLetterQueueUrl"), &awscdk.CfnOutputProps{
		Value:       s.Intake.DeadLetterQueue.QueueUrl(),
		Description: jsii.String("Restore events the Pipe could not start an execution for"),
	})
	awscdk.NewCfnOutput(s.Stack, jsii.String("AlarmTopicArn"), &awscdk.CfnOutputProps{
		Value: s.Alarms.Topic.TopicArn(),
	})
	awscdk.NewCfnOutput(s.Stack, jsii.String("CopyRoleArn"), &awscdk.CfnOutputProps{
		Value:       s.Functions[statemachine.FunctionCopyFile].Role.RoleArn(),
		Description: jsii.String("The role the copies run as: an archive bucket in another account names it in its bucket policy (docs/cross-account.md)"),
	})
}

// checkStackRegion refuses a stack pinned to a region other than the
// restore buckets' (restoreBucketRegions): S3 sends a bucket's EventBridge
// events only in the bucket's own region
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html),
// so the rule of a stack elsewhere would never start the workflow. An
// environment-agnostic stack (no region) is pinned by main (StackEnv).
func checkStackRegion(stack awscdk.Stack, cfg Config) error {
	want := cfg.RestoreBucketRegion()
	got := stack.Region()
	if want == "" || got == nil || *awscdk.Token_IsUnresolved(got) || *got == want {
		return nil
	}
	return fmt.Errorf("%s puts the restore buckets in %s, but the stack is deployed in %s: S3 sends a bucket's EventBridge events only in the bucket's own region, so this stack would never see their restores; deploy it in %s", ctxRestoreBucketRegions, want, *got, want)
}

// StackEnv is the stack's environment: the restore buckets' region when
// restoreBucketRegions names it (the CLI then deploys there, in the
// current account), else none (environment-agnostic: the CLI deploys to the
// profile's region, which must be the restore buckets').
func StackEnv(cfg Config) *awscdk.Environment {
	if region := cfg.RestoreBucketRegion(); region != "" {
		return &awscdk.Environment{Region: jsii.String(region)}
	}
	return nil
}

// newRequestStatusFunction is the workflow's only function that reaches the
// database and reads its two SSM parameters (the reconcile function, outside
// the workflow, is the other: reconcile.go).
func newRequestStatusFunction(stack awscdk.Stack, cfg Config, props *GoFunctionProps) *GoFunction {
	// verify-full (the default) checks the server against AWS's RDS
	// certificate authorities, which the function embeds, unless
	// DATABASE_SSLROOTCERT names a CA file shipped with it (main copies
	// the file into the function's package). A Lambda container serves
	// one invocation at a time: DATABASE_MAX_CONNS=1 is all it uses.
	// Across executions the connections are bounded by the reserved
	// concurrency when requestStatusConcurrency sets one (off by default),
	// else by the database role's CONNECTION LIMIT (docs/concurrency.md).
	props.Environment = databaseEnvironment(cfg.Database)
	props.ReservedConcurrency = cfg.RequestStatusConcurrency
	databaseNetwork(stack, stack, cfg, props)
	fn := NewGoFunction(stack, props.ConstructID, props)
	grantDatabaseParameters(stack, fn, cfg.Database)
	return fn
}

// newParseEventFunction rejects an event of more files than one execution
// of this deployment's workflow can carry within Step Functions' 25,000
// history events (statemachine.MaxFilesPerExecution of its settings;
// checkReconcileBatch refuses settings that allow none).
func newParseEventFunction(stack awscdk.Stack, cfg Config, props *GoFunctionProps) *GoFunction {
	files, _, _ := statemachine.MaxFilesPerExecution(cfg.Workflow)
	props.Environment = map[string]string{parseevent.EnvMaxFiles: strconv.Itoa(files)}
	return NewGoFunction(stack, props.ConstructID, props)
}

// newCopyFileFunction is the only function that touches S3: it reads the
// restore buckets, writes the archive buckets and reads back (and, when the
// check fails, deletes) its own copies there; nothing else.
func newCopyFileFunction(stack awscdk.Stack, cfg Config, props *GoFunctionProps) *GoFunction {
	env := copyfile.DefaultConfig()
	env.SourceBuckets = cfg.RestoreBuckets
	env.ArchiveBuckets = cfg.ArchiveBuckets
	env.MultipartThreshold = int64(cfg.MultipartThresholdMB) * copyfile.MiB
	env.Chunksize = int64(cfg.MultipartChunksizeMB) * copyfile.MiB
	env.MinPart = int64(cfg.MultipartMinPartMB) * copyfile.MiB
	env.Concurrency = cfg.MultipartConcurrency
	env.KMSKeyID = cfg.ArchiveKMSKeyARN
	env.StorageClass = s3types.StorageClass(cfg.ArchiveStorageClass)
	props.Environment = env.Env()
	props.ReservedConcurrency = cfg.CopyFileConcurrency
	fn := NewGoFunction(stack, props.ConstructID, props)
	grantCopyObjects(fn, cfg)
	grantCopyKeys(fn, cfg)
	suppressCopyObjectWildcards(fn, cfg)
	return fn
}

// newSharedFunction deploys shared's code again with props' memory and
// timeout: the same environment (hence the same buckets, KMS key and copy
// settings), its role (the archive buckets' policies name one principal,
// the CopyRoleArn output: docs/cross-account.md) and its log group (the
// copies' lines and their metrics, whose Function dimension the code sets,
// in one place). shared must come before it in statemachine.Functions.
func newSharedFunction(stack awscdk.Stack, cfg Config, props *GoFunctionProps, shared *GoFunction) *GoFunction {
	props.Shared = shared
	props.Environment = map[string]string{}
	for k, v := range shared.Environment {
		props.Environment[k] = v
	}
	return NewGoFunction(stack, props.ConstructID, props)
}

// grantCopyObjects lets the copy read the restore buckets' objects and
// write, check and delete its copies in the archive buckets.
func grantCopyObjects(fn *GoFunction, cfg Config) {
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadRestoredObjects"),
		Actions:   jsii.Strings("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
		Resources: objectARNs(cfg.RestoreBuckets),
	}))
	// Without s3:ListBucket, HeadObject of a missing object answers 403
	// AccessDenied instead of 404 NoSuchKey: the recorded err_msg would
	// blame permissions for a file that is simply gone.
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TellMissingRestoredObjects"),
		Actions:   jsii.Strings("s3:ListBucket"),
		Resources: bucketARNs(cfg.RestoreBuckets),
	}))
	// HeadBucket, which copyfile sends to learn an archive bucket's region
	// (its x-amz-bucket-region), needs s3:ListBucket on the bucket
	// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html);
	// without it every cold start leaves an AccessDenied in CloudTrail.
	// It also makes a HeadObject of a missing archive object answer 404.
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("FindArchiveBucketRegions"),
		Actions:   jsii.Strings("s3:ListBucket"),
		Resources: bucketARNs(cfg.ArchiveBuckets),
	}))
	// s3:PutObjectAcl: the copies carry x-amz-acl:
	// bucket-owner-full-control (copyfile.Config.ObjectACL), and S3 asks
	// for it on a write that sets an ACL.
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteArchiveObjects"),
		Actions:   jsii.Strings("s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectTagging", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"),
		Resources: objectARNs(cfg.ArchiveBuckets),
	}))
	// copyfile checks each copy with HeadObject on the archive object
	// and deletes a copy that fails the check.
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("VerifyArchiveObjects"),
		Actions:   jsii.Strings("s3:GetObject", "s3:DeleteObject"),
		Resources: objectARNs(cfg.ArchiveBuckets),
	}))
}

// grantCopyKeys lets the copy use the KMS keys the settings name: the
// archive buckets' default keys, the archive key, the restored objects'
// keys.
func grantCopyKeys(fn *GoFunction, cfg Config) {
	if len(cfg.ArchiveBucketKMSKeyARNs) > 0 {
		// No SSE header is sent, so S3 encrypts each copy with the archive
		// bucket's default key, on the copy role's behalf: CopyObject and
		// CreateMultipartUpload need kms:GenerateDataKey, UploadPartCopy,
		// CompleteMultipartUpload and the integrity check's HeadObject
		// kms:Decrypt
		// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html#aws-managed-customer-managed-keys,
		// https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions).
		fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("UseArchiveBucketDefaultKeys"),
			Actions:   jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
			Resources: jsii.Strings(cfg.ArchiveBucketKMSKeyARNs...),
		}))
	}
	if cfg.ArchiveKMSKeyARN != "" {
		// A copy into an SSE-KMS bucket encrypts with the key (and a
		// multipart upload reads it back to complete).
		fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("UseArchiveKey"),
			Actions:   jsii.Strings("kms:GenerateDataKey", "kms:Decrypt"),
			Resources: jsii.Strings(cfg.ArchiveKMSKeyARN),
		}))
	}

	if len(cfg.SourceKMSKeyARNs) > 0 {
		// Copying an object encrypted under a customer managed key
		// decrypts it with that key (context sourceKmsKeyArns).
		fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("DecryptRestoredObjects"),
			Actions:   jsii.Strings("kms:Decrypt"),
			Resources: jsii.Strings(cfg.SourceKMSKeyARNs...),
		}))
	}
}

// suppressCopyObjectWildcards tells cdk-nag why the copy's object ARNs end
// in /*.
func suppressCopyObjectWildcards(fn *GoFunction, cfg Config) {
	var appliesTo []any
	for _, b := range append(append([]string{}, cfg.RestoreBuckets...), cfg.ArchiveBuckets...) {
		appliesTo = append(appliesTo, "Resource::arn:<AWS::Partition>:s3:::"+b+"/*")
	}
	cdknag.NagSuppressions_AddResourceSuppressions(fn.Role, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("Any object of a restore bucket may be restored and any object of an archive bucket written: object ARNs are bucket/*, limited to the configured buckets."),
		AppliesTo: &appliesTo,
	}}, jsii.Bool(true))
}

// suppressBucketNotificationsHandler documents the findings on the Lambda
// CDK adds to turn on EventBridge notifications of existing buckets.
func suppressBucketNotificationsHandler(stack awscdk.Stack) {
	// The singleton's construct id, fixed by CDK (aws-s3 notifications-resource).
	path := "/" + *stack.Node().Path() + "/BucketNotificationsHandler050a0587b7544547bf325f094a3db834"
	cdknag.NagSuppressions_AddResourceSuppressionsByPath(stack, jsii.String(path), &[]*cdknag.NagPackSuppression{
		{
			Id:        jsii.String("AwsSolutions-IAM4"),
			Reason:    jsii.String("CDK's BucketNotificationsHandler (turns on EventBridge for the existing restore buckets) uses AWSLambdaBasicExecutionRole; CDK owns that function."),
			AppliesTo: &[]any{"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"},
		},
		{
			Id:        jsii.String("AwsSolutions-IAM5"),
			Reason:    jsii.String("CDK's BucketNotificationsHandler calls s3:PutBucketNotification on the buckets it is given; CDK writes its policy with Resource \"*\"."),
			AppliesTo: &[]any{"Resource::*"},
		},
	}, jsii.Bool(true))
}

// objectARNs is the ARN of every object in the named buckets, one each.
func objectARNs(buckets []string) *[]*string {
	var arns []*string
	for _, b := range buckets {
		arns = append(arns, awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:s3:::"+b+"/*"), nil))
	}
	return &arns
}

// bucketARNs is the ARN of each named bucket (for bucket-level actions
// such as s3:ListBucket).
func bucketARNs(buckets []string) *[]*string {
	var arns []*string
	for _, b := range buckets {
		arns = append(arns, awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:s3:::"+b), nil))
	}
	return &arns
}
