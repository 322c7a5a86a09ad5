package s3model

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
)

// AWSConfig returns an SDK configuration for the model: region us-east-1,
// any static credentials (the model checks no signature). Point the S3
// client at URL with path-style addressing.
func (s *Server) AWSConfig() aws.Config {
	return aws.Config{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("model", "model", ""),
	}
}
