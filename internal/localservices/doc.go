// Package localservices gives the local runner its protocol peers and
// settings: an S3-compatible server and a Postgres, either named by the
// environment or started here (versitygw, PGlite), the four Lambdas built
// with their own constructors, and the workflow settings read from cdk.json.
package localservices
