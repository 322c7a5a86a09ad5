package main

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// databaseEnvironment is the environment of a function that reaches the
// database as request-status does: requeststatus.Config rendered by its own
// Env, so no variable name is spelled here. A Lambda environment serves one
// invocation at a time: one connection is all it uses (MaxConns 1).
func databaseEnvironment(db DatabaseConfig) map[string]string {
	cfg := requeststatus.Config{
		Port:              db.Port,
		Name:              db.Name,
		User:              db.User,
		HostParameter:     db.HostParameter,
		PasswordParameter: db.PasswordParameter,
		SSLMode:           db.SSLMode,
		MaxConns:          1,
	}
	if db.SSLRootCert != "" {
		// main copies the file into the function's package.
		cfg.SSLRootCert = "/var/task/" + RootCertFileName
	}
	return cfg.Env()
}

// databaseNetwork places a function that reaches the database in the
// database's VPC (the vpcId, subnetIds and securityGroupId context), when
// one is set. The imports create no resource.
func databaseNetwork(scope constructs.Construct, stack awscdk.Stack, cfg Config, props *GoFunctionProps) {
	if !cfg.InVPC() {
		return
	}
	props.VPC = awsec2.Vpc_FromVpcAttributes(scope, jsii.String("DatabaseVpc"), &awsec2.VpcAttributes{
		VpcId:             jsii.String(cfg.VPCID),
		AvailabilityZones: stack.AvailabilityZones(),
	})
	for i, id := range cfg.SubnetIDs {
		props.Subnets = append(props.Subnets, awsec2.Subnet_FromSubnetId(scope, jsii.String(fmt.Sprintf("DatabaseSubnet%d", i+1)), jsii.String(id)))
	}
	props.SecurityGroups = []awsec2.ISecurityGroup{
		awsec2.SecurityGroup_FromSecurityGroupId(scope, jsii.String("DatabaseSecurityGroup"), jsii.String(cfg.SecurityGroupID), nil),
	}
}

// grantDatabaseParameters lets fn read the database's two SSM parameters,
// the password decrypted through SSM only.
func grantDatabaseParameters(stack awscdk.Stack, fn *GoFunction, db DatabaseConfig) {
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
}

// parameterARN is the ARN of an SSM parameter in the stack's account and
// region; a name with a leading slash has no extra slash in its ARN.
func parameterARN(stack awscdk.Stack, name string) *string {
	return awscdk.Fn_Sub(jsii.String("arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/"+strings.TrimPrefix(name, "/")), nil)
}
