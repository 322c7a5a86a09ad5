package copyfile

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// checksum is an object's full-object checksum.
type checksum struct {
	alg   types.ChecksumAlgorithm
	value string
}

// fullObjectChecksum returns the object's full-object checksum, if it has
// one. A composite checksum (of a multipart upload's parts, "value-N") is
// not comparable across part layouts and is ignored.
func fullObjectChecksum(h *s3.HeadObjectOutput) (checksum, bool) {
	if h.ChecksumType == types.ChecksumTypeComposite {
		return checksum{}, false
	}
	for _, c := range []checksum{
		{types.ChecksumAlgorithmCrc64nvme, aws.ToString(h.ChecksumCRC64NVME)},
		{types.ChecksumAlgorithmCrc32c, aws.ToString(h.ChecksumCRC32C)},
		{types.ChecksumAlgorithmCrc32, aws.ToString(h.ChecksumCRC32)},
		{types.ChecksumAlgorithmSha256, aws.ToString(h.ChecksumSHA256)},
		{types.ChecksumAlgorithmSha1, aws.ToString(h.ChecksumSHA1)},
	} {
		if c.value != "" && !strings.Contains(c.value, "-") {
			return c, true
		}
	}
	return checksum{}, false
}

// supportsFullObjectMultipart reports whether a multipart upload can carry a
// full-object checksum of alg (S3 allows it for the CRC algorithms only).
func supportsFullObjectMultipart(alg types.ChecksumAlgorithm) bool {
	switch alg {
	case types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme:
		return true
	}
	return false
}

// setPartChecksum puts a part's checksum of alg on the completed part, from
// the three checksums S3 reports for a part (UploadPartCopy's CopyPartResult
// or a ListParts entry).
func setPartChecksum(alg types.ChecksumAlgorithm, crc32, crc32c, crc64nvme *string, p *types.CompletedPart) {
	switch alg {
	case types.ChecksumAlgorithmCrc32:
		p.ChecksumCRC32 = crc32
	case types.ChecksumAlgorithmCrc32c:
		p.ChecksumCRC32C = crc32c
	case types.ChecksumAlgorithmCrc64nvme:
		p.ChecksumCRC64NVME = crc64nvme
	}
}

// setExpectedChecksum puts the source's full-object checksum on the
// CompleteMultipartUpload request, so S3 itself refuses a copy that differs.
func setExpectedChecksum(c checksum, in *s3.CompleteMultipartUploadInput) {
	in.ChecksumType = types.ChecksumTypeFullObject
	switch c.alg {
	case types.ChecksumAlgorithmCrc32:
		in.ChecksumCRC32 = aws.String(c.value)
	case types.ChecksumAlgorithmCrc32c:
		in.ChecksumCRC32C = aws.String(c.value)
	case types.ChecksumAlgorithmCrc64nvme:
		in.ChecksumCRC64NVME = aws.String(c.value)
	}
}

// completedChecksum is the checksum of alg that CompleteMultipartUpload
// answered, or "".
func completedChecksum(alg types.ChecksumAlgorithm, out *s3.CompleteMultipartUploadOutput) string {
	switch alg {
	case types.ChecksumAlgorithmCrc32:
		return aws.ToString(out.ChecksumCRC32)
	case types.ChecksumAlgorithmCrc32c:
		return aws.ToString(out.ChecksumCRC32C)
	case types.ChecksumAlgorithmCrc64nvme:
		return aws.ToString(out.ChecksumCRC64NVME)
	}
	return ""
}
