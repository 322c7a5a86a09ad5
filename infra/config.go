package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/mail"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/copy-files-to-archive/copy-files-to-archive/infra/cdkcontext"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// The CDK context keys (cdk.json "context") the app reads besides the
// workflow policy keys of package statemachine.
const (
	ctxRestoreBuckets                 = "restoreBuckets"
	ctxArchiveBuckets                 = "archiveBuckets"
	ctxArchiveKMSKeyARN               = "archiveKmsKeyArn"
	ctxSourceKMSKeyARNs               = "sourceKmsKeyArns"
	ctxArchiveBucketKMSKeyARNs        = "archiveBucketKmsKeyArns"
	ctxRestoreBucketRegions           = "restoreBucketRegions"
	ctxArchiveStorageClass            = "archiveStorageClass"
	ctxEnableRestoreBucketEventBridge = "enableRestoreBucketEventBridge"
	ctxMultipartThresholdMB           = "multipartThresholdMb"
	ctxMultipartChunksizeMB           = "multipartChunksizeMb"
	ctxMultipartConcurrency           = "multipartConcurrency"
	ctxMultipartMinPartMB             = "multipartMinPartMb"
	ctxDatabasePort                   = "databasePort"
	ctxDatabaseName                   = "databaseName"
	ctxDatabaseUser                   = "databaseUser"
	ctxDatabaseHostParameter          = "databaseHostParameter"
	ctxDatabasePasswordParameter      = "databasePasswordParameter"
	ctxDatabaseSSLMode                = "databaseSslMode"
	ctxDatabaseSSLRootCert            = "databaseSslRootCert"
	ctxRequestStatusConcurrency       = "requestStatusConcurrency"
	ctxCopyFileConcurrency            = "copyFileConcurrency"
	ctxVPCID                          = "vpcId"
	ctxSubnetIDs                      = "subnetIds"
	ctxSecurityGroupID                = "securityGroupId"
	ctxAlarmEmail                     = "alarmEmail"
	ctxLogRetentionDays               = "logRetentionDays"
)

// contextKeys lists every key Config reads, so main can collect them from the
// CDK app's context.
func contextKeys() []string {
	keys := []string{
		ctxRestoreBuckets, ctxArchiveBuckets, ctxArchiveKMSKeyARN, ctxSourceKMSKeyARNs, ctxArchiveBucketKMSKeyARNs, ctxRestoreBucketRegions,
		ctxArchiveStorageClass, ctxEnableRestoreBucketEventBridge,
		ctxMultipartThresholdMB, ctxMultipartChunksizeMB, ctxMultipartConcurrency, ctxMultipartMinPartMB,
		ctxDatabasePort, ctxDatabaseName, ctxDatabaseUser, ctxDatabaseHostParameter,
		ctxDatabasePasswordParameter, ctxDatabaseSSLMode, ctxDatabaseSSLRootCert, ctxRequestStatusConcurrency, ctxCopyFileConcurrency,
		ctxVPCID, ctxSubnetIDs, ctxSecurityGroupID, ctxAlarmEmail, ctxLogRetentionDays,
	}
	keys = append(keys, reconcileContextKeys...)
	keys = append(keys, cdkcontext.IntakeKeys()...)
	return append(keys, cdkcontext.WorkflowKeys()...)
}

// Config is everything the stack is built from: the CDK context, read and
// checked once.
type Config struct {
	// RestoreBuckets receive the restored objects: the rule listens to them
	// and the copy Lambda may read only them.
	RestoreBuckets []string
	// ArchiveBuckets are the only buckets the copy Lambda may write.
	ArchiveBuckets []string
	// ArchiveKMSKeyARN, when set, is the KMS key the archive copies are
	// encrypted with (SSE-KMS); the copy Lambda may use it.
	ArchiveKMSKeyARN string
	// SourceKMSKeyARNs are the KMS keys restored objects may be encrypted
	// with (SSE-KMS under a customer managed key): the copy Lambda may
	// decrypt with them, which S3 needs to copy such an object. Objects
	// under SSE-S3 or the AWS managed aws/s3 key need nothing here.
	SourceKMSKeyARNs []string
	// ArchiveBucketKMSKeyARNs are the customer managed KMS keys the archive
	// buckets' default encryption (SSE-KMS) uses, when ArchiveKMSKeyARN is
	// empty and the copies take the bucket's default: S3 encrypts each copy
	// with that key on the copy role's behalf, so the role needs
	// kms:GenerateDataKey (CopyObject, CreateMultipartUpload) and
	// kms:Decrypt (UploadPartCopy, CompleteMultipartUpload, the HeadObject
	// of the integrity check) on it. No SSE header is sent.
	ArchiveBucketKMSKeyARNs []string
	// RestoreBucketRegions names the region of restore buckets, by bucket
	// (all in one region: S3 sends a bucket's EventBridge events only in
	// the bucket's own region, so the stack must be there). When set, the
	// app deploys the stack in that region and refuses a stack pinned to
	// another.
	RestoreBucketRegions map[string]string
	// ArchiveStorageClass, when set, is the storage class of the archive
	// copies; empty keeps the archive bucket's default.
	ArchiveStorageClass string
	// EnableRestoreBucketEventBridge turns on EventBridge notifications on
	// the (existing) restore buckets.
	EnableRestoreBucketEventBridge bool

	// Workflow is the state machine policy (function ARNs left empty).
	Workflow statemachine.Settings
	// Intake is how the Pipe batches the intake queue into executions
	// (pipeBatchSize, pipeBatchWindowSecs).
	Intake cdkcontext.IntakeSettings

	MultipartThresholdMB int
	MultipartChunksizeMB int
	MultipartConcurrency int
	MultipartMinPartMB   int

	Database DatabaseConfig

	// RequestStatusConcurrency is the request-status Lambda's reserved
	// concurrency, 0 (the default) for none. With one database connection
	// per container (DATABASE_MAX_CONNS=1) it bounds the workflow's
	// connections across executions, which the Map's MaxConcurrency bounds
	// only within one. Off by default: Lambda refuses a reservation that
	// leaves fewer than 100 unreserved executions, so any value fails the
	// deploy on an account whose concurrency quota is below 100 + value
	// (new accounts often have 10).
	RequestStatusConcurrency int
	// CopyFileConcurrency is the copy-file Lambda's reserved concurrency,
	// 0 (the default) for none: at most that many copies run at once, so
	// long copies cannot take the whole account's concurrency from the other
	// three functions (whose throttled calls the workflow retries only for
	// a while). Same quota rule as RequestStatusConcurrency.
	CopyFileConcurrency int

	// VPC placement of the database Lambda; all or none.
	VPCID           string
	SubnetIDs       []string
	SecurityGroupID string

	// Reconcile is the reconcile sweep's schedule and policy (reconcile.go).
	Reconcile ReconcileConfig

	// AlarmEmail, when set, is subscribed to the alarm topic.
	AlarmEmail       string
	LogRetentionDays int
}

// DatabaseConfig is what the request-status Lambda needs to reach Postgres.
type DatabaseConfig struct {
	Port              int
	Name              string
	User              string
	HostParameter     string // SSM String parameter with the host
	PasswordParameter string // SSM SecureString parameter with the password
	SSLMode           string
	// SSLRootCert, when set, is a PEM file (path relative to the
	// repository root) of the certificate authorities that sign the
	// database's certificate, for a database outside RDS: the app ships it
	// with the function (RootCertFileName) instead of trusting AWS's RDS
	// authorities.
	SSLRootCert string
}

// RootCertFileName is the name the databaseSslRootCert file gets in the
// request-status function's package; Lambda unpacks the package in
// /var/task (LAMBDA_TASK_ROOT).
const RootCertFileName = "database-ca.pem"

// maxReservedConcurrency bounds requestStatusConcurrency and
// copyFileConcurrency: Lambda's default account concurrency quota is 1000.
const maxReservedConcurrency = 1000

// The storage classes an archive copy may be written in.
var storageClasses = []string{"STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE", "REDUCED_REDUNDANCY"}

// The retention periods CloudWatch Logs accepts.
var logRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

var (
	bucketName   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	paramName    = regexp.MustCompile(`^/?[A-Za-z0-9_.\-/]+$`)
	kmsKeyARN    = regexp.MustCompile(`^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$`)
	vpcIDPattern = regexp.MustCompile(`^vpc-([0-9a-f]{8}|[0-9a-f]{17})$`)
	subnetID     = regexp.MustCompile(`^subnet-([0-9a-f]{8}|[0-9a-f]{17})$`)
	sgID         = regexp.MustCompile(`^sg-([0-9a-f]{8}|[0-9a-f]{17})$`)
	dbIdentifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$-]{0,62}$`)
)

// ConfigFromContext reads and checks the configuration from CDK context
// values (lookup returns nil for a key that is not set). Every missing or
// invalid setting is reported, each naming its context key and value.
func ConfigFromContext(lookup func(key string) any) (Config, error) {
	ctx := map[string]any{}
	for _, k := range contextKeys() {
		if v := lookup(k); v != nil {
			ctx[k] = v
		}
	}
	r := &contextReader{ctx: ctx}
	c := Config{
		RestoreBuckets:                 r.list(ctxRestoreBuckets, true),
		ArchiveBuckets:                 r.list(ctxArchiveBuckets, true),
		ArchiveKMSKeyARN:               r.str(ctxArchiveKMSKeyARN, false),
		SourceKMSKeyARNs:               r.list(ctxSourceKMSKeyARNs, false),
		ArchiveBucketKMSKeyARNs:        r.list(ctxArchiveBucketKMSKeyARNs, false),
		RestoreBucketRegions:           r.mapping(ctxRestoreBucketRegions),
		ArchiveStorageClass:            r.str(ctxArchiveStorageClass, false),
		EnableRestoreBucketEventBridge: r.boolean(ctxEnableRestoreBucketEventBridge),
		MultipartThresholdMB:           r.integer(ctxMultipartThresholdMB, copyfile.MinMultipartThresholdMB, math.MaxInt32),
		MultipartChunksizeMB:           r.integer(ctxMultipartChunksizeMB, copyfile.MinMultipartChunksizeMB, copyfile.MaxMultipartChunksizeMB),
		MultipartConcurrency:           r.integer(ctxMultipartConcurrency, copyfile.MinMultipartConcurrency, copyfile.MaxMultipartConcurrency),
		MultipartMinPartMB:             r.integer(ctxMultipartMinPartMB, copyfile.MinMultipartMinPartMB, copyfile.MaxMultipartMinPartMB),
		Database: DatabaseConfig{
			Port:              r.integer(ctxDatabasePort, 1, 65535),
			Name:              r.str(ctxDatabaseName, true),
			User:              r.str(ctxDatabaseUser, true),
			HostParameter:     r.str(ctxDatabaseHostParameter, true),
			PasswordParameter: r.str(ctxDatabasePasswordParameter, true),
			SSLMode:           r.str(ctxDatabaseSSLMode, true),
			SSLRootCert:       r.str(ctxDatabaseSSLRootCert, false),
		},
		RequestStatusConcurrency: r.integer(ctxRequestStatusConcurrency, 0, maxReservedConcurrency),
		CopyFileConcurrency:      r.integer(ctxCopyFileConcurrency, 0, maxReservedConcurrency),
		VPCID:                    r.str(ctxVPCID, false),
		SubnetIDs:                r.list(ctxSubnetIDs, false),
		SecurityGroupID:          r.str(ctxSecurityGroupID, false),
		AlarmEmail:               r.str(ctxAlarmEmail, false),
		LogRetentionDays:         r.integer(ctxLogRetentionDays, 1, 3653),
		Reconcile:                readReconcileConfig(r),
	}
	wf, err := cdkcontext.WorkflowSettings(ctx)
	if err != nil {
		r.errs = append(r.errs, err)
	}
	c.Workflow = wf
	intake, err := cdkcontext.Intake(ctx)
	if err != nil {
		r.errs = append(r.errs, err)
	}
	c.Intake = intake
	r.errs = append(r.errs, c.check()...)
	if err := errors.Join(r.errs...); err != nil {
		return Config{}, fmt.Errorf("invalid CDK context (cdk.json or -c key=value):\n%w", err)
	}
	return c, nil
}

// check validates the values' formats and how settings fit together.
func (c Config) check() []error {
	var errs []error
	errs = append(errs, c.checkBucketsAndKeys()...)
	errs = append(errs, c.checkRestoreBucketRegions()...)
	errs = append(errs, c.checkReconcileGrace()...)
	errs = append(errs, c.checkReconcileBatch()...)
	errs = append(errs, c.checkDatabase()...)
	errs = append(errs, c.checkNetwork()...)
	if c.AlarmEmail != "" {
		if _, err := mail.ParseAddress(c.AlarmEmail); err != nil {
			errs = append(errs, fmt.Errorf("%s = %q: not an email address", ctxAlarmEmail, c.AlarmEmail))
		}
	}
	if c.LogRetentionDays != 0 && !slices.Contains(logRetentionDays, c.LogRetentionDays) {
		errs = append(errs, fmt.Errorf("%s = %d: CloudWatch Logs accepts %v", ctxLogRetentionDays, c.LogRetentionDays, logRetentionDays))
	}
	return errs
}

// checkBucketsAndKeys checks the bucket names, the KMS key ARNs, the
// storage class and the multipart threshold.
func (c Config) checkBucketsAndKeys() []error {
	var errs []error
	for key, buckets := range map[string][]string{ctxRestoreBuckets: c.RestoreBuckets, ctxArchiveBuckets: c.ArchiveBuckets} {
		for _, b := range buckets {
			if !bucketName.MatchString(b) {
				errs = append(errs, fmt.Errorf("%s: %q is not an S3 bucket name", key, b))
			}
		}
	}
	for _, b := range c.RestoreBuckets {
		if slices.Contains(c.ArchiveBuckets, b) {
			errs = append(errs, fmt.Errorf("%s and %s both name %q: a restore bucket must not be an archive bucket", ctxRestoreBuckets, ctxArchiveBuckets, b))
		}
	}
	if c.ArchiveKMSKeyARN != "" && !kmsKeyARN.MatchString(c.ArchiveKMSKeyARN) {
		errs = append(errs, fmt.Errorf("%s = %q: want a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)", ctxArchiveKMSKeyARN, c.ArchiveKMSKeyARN))
	}
	for _, k := range c.SourceKMSKeyARNs {
		if !kmsKeyARN.MatchString(k) {
			errs = append(errs, fmt.Errorf("%s: %q is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)", ctxSourceKMSKeyARNs, k))
		}
	}
	for _, k := range c.ArchiveBucketKMSKeyARNs {
		if !kmsKeyARN.MatchString(k) {
			errs = append(errs, fmt.Errorf("%s: %q is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)", ctxArchiveBucketKMSKeyARNs, k))
		}
	}
	if c.ArchiveKMSKeyARN != "" && len(c.ArchiveBucketKMSKeyARNs) > 0 {
		errs = append(errs, fmt.Errorf("%s and %s are both set: with %s every copy is encrypted with that key (the SSE header overrides the buckets' default), so the buckets' default keys are never used; set one", ctxArchiveKMSKeyARN, ctxArchiveBucketKMSKeyARNs, ctxArchiveKMSKeyARN))
	}
	if c.ArchiveStorageClass != "" && !slices.Contains(storageClasses, c.ArchiveStorageClass) {
		errs = append(errs, fmt.Errorf("%s = %q: want one of %s", ctxArchiveStorageClass, c.ArchiveStorageClass, strings.Join(storageClasses, ", ")))
	}
	if c.MultipartThresholdMB > copyfile.MaxMultipartThresholdMB {
		errs = append(errs, fmt.Errorf("%s = %d: CopyObject copies at most %d MB, so the threshold cannot be higher", ctxMultipartThresholdMB, c.MultipartThresholdMB, copyfile.MaxMultipartThresholdMB))
	}
	return errs
}

// checkDatabase checks the database's names, SSM parameters and TLS
// settings.
func (c Config) checkDatabase() []error {
	var errs []error
	if region := c.RestoreBucketRegion(); region != "" && regionName.MatchString(region) && c.Database.SSLRootCert == "" &&
		(c.Database.SSLMode == "verify-full" || c.Database.SSLMode == "verify-ca") && !requeststatus.RDSBundleCovers(region) {
		errs = append(errs, fmt.Errorf("%s = %q checks the database against the RDS certificate authorities the function embeds, which have none for %s (the region of %s, where the stack goes): "+
			"set %s to AWS's RDS bundle for that region, e.g. the global bundle https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem (docs/database-tls.md)",
			ctxDatabaseSSLMode, c.Database.SSLMode, region, ctxRestoreBucketRegions, ctxDatabaseSSLRootCert))
	}
	for key, v := range map[string]string{ctxDatabaseName: c.Database.Name, ctxDatabaseUser: c.Database.User} {
		if v != "" && !dbIdentifier.MatchString(v) {
			errs = append(errs, fmt.Errorf("%s = %q: not a Postgres identifier", key, v))
		}
	}
	for key, v := range map[string]string{ctxDatabaseHostParameter: c.Database.HostParameter, ctxDatabasePasswordParameter: c.Database.PasswordParameter} {
		if v != "" && !paramName.MatchString(v) {
			errs = append(errs, fmt.Errorf("%s = %q: not an SSM parameter name", key, v))
		}
	}
	if c.Database.SSLMode != "" {
		if err := requeststatus.ValidSSLMode(c.Database.SSLMode); err != nil {
			errs = append(errs, fmt.Errorf("%s = %q: %w", ctxDatabaseSSLMode, c.Database.SSLMode, err))
		}
	}
	if f := c.Database.SSLRootCert; f != "" {
		if b, err := os.ReadFile(f); err != nil {
			errs = append(errs, fmt.Errorf("%s = %q: %v", ctxDatabaseSSLRootCert, f, err))
		} else if !bytes.Contains(b, []byte("-----BEGIN CERTIFICATE-----")) {
			errs = append(errs, fmt.Errorf("%s = %q: the file holds no PEM certificate", ctxDatabaseSSLRootCert, f))
		}
		if c.Database.SSLMode != "verify-full" && c.Database.SSLMode != "verify-ca" && c.Database.SSLMode != "require" {
			errs = append(errs, fmt.Errorf("%s is set but %s = %q does not use it: want verify-full, verify-ca or require", ctxDatabaseSSLRootCert, ctxDatabaseSSLMode, c.Database.SSLMode))
		}
	}
	return errs
}

// checkNetwork checks vpcId, subnetIds and securityGroupId, which go
// together.
func (c Config) checkNetwork() []error {
	var errs []error
	if c.VPCID == "" && len(c.SubnetIDs) == 0 && c.SecurityGroupID == "" {
		return nil
	}
	if !vpcIDPattern.MatchString(c.VPCID) {
		errs = append(errs, fmt.Errorf("%s = %q: want vpc-... (vpcId, subnetIds and securityGroupId go together)", ctxVPCID, c.VPCID))
	}
	if len(c.SubnetIDs) == 0 {
		errs = append(errs, fmt.Errorf("%s is empty: name the subnets of %s (vpcId, subnetIds and securityGroupId go together)", ctxSubnetIDs, c.VPCID))
	}
	for _, s := range c.SubnetIDs {
		if !subnetID.MatchString(s) {
			errs = append(errs, fmt.Errorf("%s: %q is not a subnet id (subnet-...)", ctxSubnetIDs, s))
		}
	}
	if !sgID.MatchString(c.SecurityGroupID) {
		errs = append(errs, fmt.Errorf("%s = %q: want sg-... (vpcId, subnetIds and securityGroupId go together)", ctxSecurityGroupID, c.SecurityGroupID))
	}
	return errs
}

// regionName is an AWS region name (us-east-1, eu-central-2, us-gov-west-1,
// cn-north-1, ap-southeast-7).
var regionName = regexp.MustCompile(`^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}$`)

// checkRestoreBucketRegions checks restoreBucketRegions: names of restore
// buckets, region names, one region for all. S3 delivers a bucket's
// EventBridge events in the bucket's own region only
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html),
// and the stack's rule listens in the stack's region, so a restore bucket
// elsewhere would never start the workflow.
func (c Config) checkRestoreBucketRegions() []error {
	var errs []error
	byRegion := map[string][]string{}
	for b, region := range c.RestoreBucketRegions {
		if !slices.Contains(c.RestoreBuckets, b) {
			errs = append(errs, fmt.Errorf("%s names %q, which is not in %s", ctxRestoreBucketRegions, b, ctxRestoreBuckets))
		}
		if !regionName.MatchString(region) {
			errs = append(errs, fmt.Errorf("%s: %q for bucket %q is not an AWS region name (e.g. us-east-1)", ctxRestoreBucketRegions, region, b))
			continue
		}
		byRegion[region] = append(byRegion[region], b)
	}
	if len(byRegion) > 1 {
		var parts []string
		for _, region := range slices.Sorted(maps.Keys(byRegion)) {
			buckets := byRegion[region]
			slices.Sort(buckets)
			parts = append(parts, fmt.Sprintf("%s in %s", strings.Join(buckets, ", "), region))
		}
		errs = append(errs, fmt.Errorf("%s puts the restore buckets in %d regions (%s): S3 sends a bucket's EventBridge events only in the bucket's own region, so one stack sees the restores of one region; deploy one stack per region, each with that region's restore buckets", ctxRestoreBucketRegions, len(byRegion), strings.Join(parts, "; ")))
	}
	return errs
}

// RestoreBucketRegion is the one region restoreBucketRegions names, or ""
// when it names none.
func (c Config) RestoreBucketRegion() string {
	for _, region := range c.RestoreBucketRegions {
		return region
	}
	return ""
}

// InVPC reports whether the database Lambda runs in a VPC.
func (c Config) InVPC() bool { return c.VPCID != "" }

// contextReader reads typed values from context, collecting every error.
// Values from cdk.json arrive as JSON types; values from `-c key=value` as
// strings.
type contextReader struct {
	ctx  map[string]any
	errs []error
}

func (r *contextReader) missing(key string) {
	r.errs = append(r.errs, fmt.Errorf("%s is missing (cdk.json defines it; set it with -c %s=...)", key, key))
}

func (r *contextReader) str(key string, required bool) string {
	raw, ok := r.ctx[key]
	if !ok {
		if required {
			r.missing(key)
		}
		return ""
	}
	s, ok := raw.(string)
	if !ok {
		r.errs = append(r.errs, fmt.Errorf("%s = %v (%T): want a string", key, raw, raw))
		return ""
	}
	s = strings.TrimSpace(s)
	if required && s == "" {
		r.errs = append(r.errs, fmt.Errorf("%s is empty", key))
	}
	return s
}

// list reads a JSON array of strings, or a string holding a JSON array or a
// comma-separated list (`-c restoreBuckets=a,b`).
func (r *contextReader) list(key string, required bool) []string {
	raw, ok := r.ctx[key]
	if !ok {
		if required {
			r.missing(key)
		}
		return nil
	}
	var items []string
	switch v := raw.(type) {
	case []any:
		for _, item := range v {
			s, ok := item.(string)
			if !ok {
				r.errs = append(r.errs, fmt.Errorf("%s: %v (%T) is not a string", key, item, item))
				return nil
			}
			items = append(items, s)
		}
	case []string:
		items = v
	case string:
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "[") {
			if err := json.Unmarshal([]byte(v), &items); err != nil {
				r.errs = append(r.errs, fmt.Errorf("%s = %q: not a JSON list of strings: %v", key, v, err))
				return nil
			}
		} else if v != "" {
			items = strings.Split(v, ",")
		}
	default:
		r.errs = append(r.errs, fmt.Errorf("%s = %v (%T): want a list of strings", key, raw, raw))
		return nil
	}
	var out []string
	for _, s := range items {
		if s = strings.TrimSpace(s); s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if required && len(out) == 0 {
		r.errs = append(r.errs, fmt.Errorf("%s is empty: set it in cdk.json or with -c %s=name1,name2", key, key))
	}
	return out
}

// mapping reads a JSON object of strings, or a string holding a JSON object
// or comma-separated key=value pairs (`-c restoreBucketRegions=a=eu-west-1`).
// A missing key is an empty map.
func (r *contextReader) mapping(key string) map[string]string {
	raw, ok := r.ctx[key]
	if !ok {
		return map[string]string{}
	}
	out := map[string]string{}
	switch v := raw.(type) {
	case map[string]any:
		for k, item := range v {
			s, ok := item.(string)
			if !ok {
				r.errs = append(r.errs, fmt.Errorf("%s: %q = %v (%T) is not a string", key, k, item, item))
				return nil
			}
			out[strings.TrimSpace(k)] = strings.TrimSpace(s)
		}
	case string:
		v = strings.TrimSpace(v)
		if strings.HasPrefix(v, "{") {
			if err := json.Unmarshal([]byte(v), &out); err != nil {
				r.errs = append(r.errs, fmt.Errorf("%s = %q: not a JSON object of strings: %v", key, v, err))
				return nil
			}
			break
		}
		for _, pair := range strings.Split(v, ",") {
			if pair = strings.TrimSpace(pair); pair == "" {
				continue
			}
			k, val, ok := strings.Cut(pair, "=")
			if !ok {
				r.errs = append(r.errs, fmt.Errorf("%s: %q is not name=value", key, pair))
				return nil
			}
			out[strings.TrimSpace(k)] = strings.TrimSpace(val)
		}
	default:
		r.errs = append(r.errs, fmt.Errorf("%s = %v (%T): want an object of bucket names to regions", key, raw, raw))
		return nil
	}
	return out
}

func (r *contextReader) integer(key string, lo, hi int) int {
	raw, ok := r.ctx[key]
	if !ok {
		r.missing(key)
		return 0
	}
	f, err := cdkcontext.Number(r.ctx, key)
	if err != nil {
		r.errs = append(r.errs, err)
		return 0
	}
	n := int(f)
	if float64(n) != f || n < lo || n > hi {
		r.errs = append(r.errs, fmt.Errorf("%s = %v: want a whole number from %d to %d", key, raw, lo, hi))
		return 0
	}
	return n
}

func (r *contextReader) boolean(key string) bool {
	raw, ok := r.ctx[key]
	if !ok {
		r.missing(key)
		return false
	}
	switch v := raw.(type) {
	case bool:
		return v
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			r.errs = append(r.errs, fmt.Errorf("%s = %q: want true or false", key, v))
		}
		return b
	default:
		r.errs = append(r.errs, fmt.Errorf("%s = %v (%T): want true or false", key, raw, raw))
		return false
	}
}
