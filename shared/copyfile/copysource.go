package copyfile

import (
	"net/url"
	"strings"
)

// CopySource returns the CopySource value for an object: "bucket/" followed
// by the key with every byte percent-encoded except A-Za-z0-9 - . _ ~ and /.
//
// The Go SDK sends CopySource verbatim and S3 decodes it once, so the key
// must be encoded here, exactly once. url.PathEscape is not enough (it keeps
// + = & and others, which S3 would misread) and url.QueryEscape turns a space
// into +.
func CopySource(bucket, key string) string {
	var b strings.Builder
	b.Grow(len(bucket) + 1 + len(key)*3)
	b.WriteString(bucket)
	b.WriteByte('/')
	percentEncode(&b, key, true)
	return b.String()
}

// CopySourceVersion is CopySource naming one version of the object. A
// versionID that is not empty is appended as "?versionId=" and the id,
// query-escaped. CopyObject and UploadPartCopy document that form
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html,
// x-amz-copy-source).
func CopySourceVersion(bucket, key, versionID string) string {
	if versionID == "" {
		return CopySource(bucket, key)
	}
	return CopySource(bucket, key) + "?versionId=" + url.QueryEscape(versionID)
}

// encodeTagging encodes tags for the x-amz-tagging header as URL query
// parameters, every byte but the unreserved ones escaped (a space is %20).
func encodeTagging(tags [][2]string) string {
	var b strings.Builder
	for i, kv := range tags {
		if i > 0 {
			b.WriteByte('&')
		}
		percentEncode(&b, kv[0], false)
		b.WriteByte('=')
		percentEncode(&b, kv[1], false)
	}
	return b.String()
}

// percentEncode writes s with every byte escaped as %XX except the RFC 3986
// unreserved characters A-Za-z0-9 - . _ ~ (and / when keepSlash).
func percentEncode(b *strings.Builder, s string, keepSlash bool) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || keepSlash && c == '/' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xF])
	}
}
