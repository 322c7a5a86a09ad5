package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// functionNames lists the functions the stack deploys, by the folder name
// under functions/.
var functionNames = statemachine.FunctionNames()

// functionBuilders build the functions that need more than GoFunctionProps
// from statemachine.Functions (settings, permissions, network), by name.
var functionBuilders = map[string]func(stack awscdk.Stack, cfg Config, props *GoFunctionProps) *GoFunction{
	statemachine.FunctionRequestStatus: newRequestStatusFunction,
	statemachine.FunctionCopyFile:      newCopyFileFunction,
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

// ArchiveCopyStack is the whole system: four Lambdas, the state machine, the
// EventBridge trigger and the alarms.
type ArchiveCopyStack struct {
	awscdk.Stack
	Functions map[string]*GoFunction
	Workflow  *CopyWorkflow
	Trigger   *RestoreTrigger
	Alarms    *WorkflowAlarms
	Dashboard awscloudwatch.Dashboard
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
	s := &ArchiveCopyStack{Stack: stack, Functions: map[string]*GoFunction{}}
	logRetention := retention(cfg.LogRetentionDays)

	workflowFunctions := map[string]awslambda.IFunction{}
	for _, f := range statemachine.Functions {
		fnProps := &GoFunctionProps{
			ConstructID:  f.ConstructID,
			Description:  f.Description,
			Code:         props.FunctionCode(f.Name),
			Timeout:      awscdk.Duration_Seconds(jsii.Number(f.TimeoutSecs)),
			MemoryMB:     float64(f.MemoryMB),
			LogRetention: logRetention,
		}
		var fn *GoFunction
		if build, ok := functionBuilders[f.Name]; ok {
			fn = build(stack, cfg, fnProps)
		} else {
			fn = NewGoFunction(stack, f.ConstructID, fnProps)
		}
		s.Functions[f.Name] = fn
		workflowFunctions[f.Name] = fn.Function
	}

	wf, err := NewCopyWorkflow(stack, "CopyWorkflow", &CopyWorkflowProps{
		Functions:    workflowFunctions,
		Settings:     cfg.Workflow,
		LogRetention: logRetention,
	})
	if err != nil {
		return nil, err
	}
	s.Workflow = wf

	s.Trigger = NewRestoreTrigger(stack, "RestoreTrigger", &RestoreTriggerProps{
		StateMachine:              wf.StateMachine,
		RestoreBuckets:            cfg.RestoreBuckets,
		EnableBucketNotifications: cfg.EnableRestoreBucketEventBridge,
	})
	s.Alarms = NewWorkflowAlarms(stack, "Alarms", &WorkflowAlarmsProps{
		StateMachine:    wf.StateMachine,
		DeadLetterQueue: s.Trigger.DeadLetterQueue,
		AlarmEmail:      cfg.AlarmEmail,
	})

	fns := map[string]awslambda.IFunction{}
	for name, fn := range s.Functions {
		fns[name] = fn.Function
	}
	s.Dashboard = NewDashboard(stack, "Dashboard", &DashboardProps{
		StateMachine: wf.StateMachine, DeadLetterQueue: s.Trigger.DeadLetterQueue, Functions: fns,
	})

	awscdk.NewCfnOutput(stack, jsii.String("StateMachineArn"), &awscdk.CfnOutputProps{
		Value:       wf.StateMachine.StateMachineArn(),
		Description: jsii.String("Start an execution with an S3 event ({\"Records\": [...]}) to copy files by hand"),
	})
	awscdk.NewCfnOutput(stack, jsii.String("DeadLetterQueueUrl"), &awscdk.CfnOutputProps{
		Value: s.Trigger.DeadLetterQueue.QueueUrl(),
	})
	awscdk.NewCfnOutput(stack, jsii.String("AlarmTopicArn"), &awscdk.CfnOutputProps{
		Value: s.Alarms.Topic.TopicArn(),
	})
	awscdk.NewCfnOutput(stack, jsii.String("CopyRoleArn"), &awscdk.CfnOutputProps{
		Value:       s.Functions[statemachine.FunctionCopyFile].Role.RoleArn(),
		Description: jsii.String("The role the copies run as: an archive bucket in another account names it in its bucket policy (docs/cross-account.md)"),
	})

	if cfg.EnableRestoreBucketEventBridge {
		suppressBucketNotificationsHandler(stack)
	}
	awscdk.Aspects_Of(stack).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	return s, nil
}

// newRequestStatusFunction is the only function that reaches the database,
// and the only one that may read its two SSM parameters.
func newRequestStatusFunction(stack awscdk.Stack, cfg Config, props *GoFunctionProps) *GoFunction {
	db := cfg.Database
	env := requeststatus.Config{
		Port:              db.Port,
		Name:              db.Name,
		User:              db.User,
		HostParameter:     db.HostParameter,
		PasswordParameter: db.PasswordParameter,
		// verify-full (the default) checks the server against AWS's RDS
		// certificate authorities, which the function embeds, unless
		// SSLRootCert names a CA file shipped with it.
		SSLMode: db.SSLMode,
		// A Lambda container serves one invocation at a time: one
		// connection is all it uses. Across executions the connections
		// are bounded by the reserved concurrency when
		// requestStatusConcurrency sets one (off by default), else by
		// the database role's CONNECTION LIMIT (docs/concurrency.md).
		MaxConns: 1,
	}
	if db.SSLRootCert != "" {
		// main copies the file into the function's package.
		env.SSLRootCert = "/var/task/" + RootCertFileName
	}
	props.Environment = env.Env()
	props.ReservedConcurrency = cfg.RequestStatusConcurrency
	if cfg.InVPC() {
		vpc := awsec2.Vpc_FromVpcAttributes(stack, jsii.String("DatabaseVpc"), &awsec2.VpcAttributes{
			VpcId:             jsii.String(cfg.VPCID),
			AvailabilityZones: stack.AvailabilityZones(),
		})
		props.VPC = vpc
		for i, id := range cfg.SubnetIDs {
			props.Subnets = append(props.Subnets, awsec2.Subnet_FromSubnetId(stack, jsii.String(fmt.Sprintf("DatabaseSubnet%d", i+1)), jsii.String(id)))
		}
		props.SecurityGroups = []awsec2.ISecurityGroup{
			awsec2.SecurityGroup_FromSecurityGroupId(stack, jsii.String("DatabaseSecurityGroup"), jsii.String(cfg.SecurityGroupID), nil),
		}
	}
	fn := NewGoFunction(stack, props.ConstructID, props)

	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:     jsii.String("ReadDatabaseParameters"),
		Actions: jsii.Strings("ssm:GetParameter"),
		Resources: &[]*string{
			parameterARN(stack, db.HostParameter),
			parameterARN(stack, db.PasswordParameter),
		},
	}))
	// The SecureString's key (aws/ssm unless the parameter names another) may
	// be used only by SSM on this function's behalf, for these parameters.
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("DecryptDatabasePasswordThroughSSM"),
		Actions:   jsii.Strings("kms:Decrypt"),
		Resources: &[]*string{awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:kms:${AWS::Region}:${AWS::AccountId}:key/*"), nil)},
		Conditions: &map[string]any{
			"StringEquals": map[string]any{
				"kms:ViaService": awscdk.Fn_Sub(jsii.String("ssm.${AWS::Region}.${AWS::URLSuffix}"), nil),
			},
			"ForAnyValue:StringEquals": map[string]any{
				"kms:EncryptionContext:PARAMETER_ARN": []*string{parameterARN(stack, db.PasswordParameter)},
			},
		},
	}))
	cdknag.NagSuppressions_AddResourceSuppressions(fn.Role, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-IAM5"),
		Reason: jsii.String("The SSM SecureString's KMS key is not known at synth (aws/ssm by default); kms:Decrypt is limited to " +
			"calls SSM makes for the password parameter (kms:ViaService and the PARAMETER_ARN encryption context)."),
		AppliesTo: &[]any{"Resource::arn:<AWS::Partition>:kms:<AWS::Region>:<AWS::AccountId>:key/*"},
	}}, jsii.Bool(true))
	return fn
}

// parameterARN is the ARN of an SSM parameter in the stack's account and
// region; a name with a leading slash has no extra slash in its ARN.
func parameterARN(stack awscdk.Stack, name string) *string {
	return awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/"+strings.TrimPrefix(name, "/")), nil)
}

// newCopyFileFunction is the only function that touches S3: it reads the
// restore buckets, writes the archive buckets and reads back (and, when the
// check fails, deletes) its own copies there; nothing else.
func newCopyFileFunction(stack awscdk.Stack, cfg Config, props *GoFunctionProps) *GoFunction {
	env := copyfile.DefaultConfig()
	env.SourceBuckets = cfg.RestoreBuckets
	env.ArchiveBuckets = cfg.ArchiveBuckets
	env.MultipartThreshold = int64(cfg.MultipartThresholdMB) * copyfile.MiB
	env.ChunkSize = int64(cfg.MultipartChunkSizeMB) * copyfile.MiB
	env.PartSizeFloor = int64(cfg.MultipartMinPartMB) * copyfile.MiB
	env.Concurrency = cfg.MultipartConcurrency
	env.KMSKeyID = cfg.ArchiveKMSKeyARN
	env.StorageClass = s3types.StorageClass(cfg.ArchiveStorageClass)
	props.Environment = env.Env()
	props.ReservedConcurrency = cfg.CopyFileConcurrency
	fn := NewGoFunction(stack, props.ConstructID, props)

	objects := func(buckets []string) *[]*string {
		var arns []*string
		for _, b := range buckets {
			arns = append(arns, awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:s3:::"+b+"/*"), nil))
		}
		return &arns
	}
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("ReadRestoredObjects"),
		Actions:   jsii.Strings("s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
		Resources: objects(cfg.RestoreBuckets),
	}))
	// Without s3:ListBucket, HeadObject of a missing object answers 403
	// AccessDenied instead of 404 NoSuchKey: the recorded err_msg would
	// blame permissions for a file that is simply gone.
	var restoreBuckets []*string
	for _, b := range cfg.RestoreBuckets {
		restoreBuckets = append(restoreBuckets, awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:s3:::"+b), nil))
	}
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("TellMissingRestoredObjects"),
		Actions:   jsii.Strings("s3:ListBucket"),
		Resources: &restoreBuckets,
	}))
	// s3:PutObjectAcl: the copies carry x-amz-acl:
	// bucket-owner-full-control (copyfile.Config.ObjectACL), and S3 asks
	// for it on a write that sets an ACL.
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("WriteArchiveObjects"),
		Actions:   jsii.Strings("s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectTagging", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"),
		Resources: objects(cfg.ArchiveBuckets),
	}))
	// copyfile checks each copy with HeadObject on the archive object
	// and deletes a copy that fails the check.
	fn.Role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:       jsii.String("VerifyArchiveObjects"),
		Actions:   jsii.Strings("s3:GetObject", "s3:DeleteObject"),
		Resources: objects(cfg.ArchiveBuckets),
	}))
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

	var appliesTo []any
	for _, b := range append(append([]string{}, cfg.RestoreBuckets...), cfg.ArchiveBuckets...) {
		appliesTo = append(appliesTo, "Resource::arn:<AWS::Partition>:s3:::"+b+"/*")
	}
	cdknag.NagSuppressions_AddResourceSuppressions(fn.Role, &[]*cdknag.NagPackSuppression{{
		Id:        jsii.String("AwsSolutions-IAM5"),
		Reason:    jsii.String("Any object of a restore bucket may be restored and any object of an archive bucket written: object ARNs are bucket/*, limited to the configured buckets."),
		AppliesTo: &appliesTo,
	}}, jsii.Bool(true))
	return fn
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
