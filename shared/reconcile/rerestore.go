package reconcile

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// ReRestoreRequest is the RestoreObject request for an archived file as
// HeadObject described it (res.StorageClass, res.ArchiveStatus), asking for
// days and tier where the file's class or tier accepts them:
//
//   - GLACIER (Flexible Retrieval): Days and the tier asked (Expedited,
//     Standard or Bulk).
//   - DEEP_ARCHIVE: Days; Expedited is not offered, so Standard instead.
//   - INTELLIGENT_TIERING in ARCHIVE_ACCESS: no Days (the object moves back
//     to the Frequent Access tier and has no restore expiry; a Days is
//     refused); the tier asked.
//   - INTELLIGENT_TIERING in DEEP_ARCHIVE_ACCESS: no Days, and Standard
//     instead of Expedited.
//
// Anything else (STANDARD, GLACIER_IR, an Intelligent-Tiering object not in
// an archive tier) is read without a restore: an error.
//
// Sources: "Archive retrieval options"
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects-retrieval-options.html):
// Expedited is for S3 Glacier Flexible Retrieval and the Intelligent-Tiering
// Archive Access tier only; "Restoring an archived object"
// (https://docs.aws.amazon.com/AmazonS3/latest/userguide/restoring-objects.html):
// Intelligent-Tiering archive tiers are restored into the Frequent Access
// tier, not for a number of days; S3InitiateRestoreObjectOperation
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_control_S3InitiateRestoreObjectOperation.html):
// "Objects in S3 Intelligent-Tiering archive access tiers are not subject to
// restore expiry, so specifying ExpirationInDays results in restore request
// failure"; RestoreObject
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_RestoreObject.html).
func ReRestoreRequest(res Restore, days int32, tier string) (*s3types.RestoreRequest, error) {
	expedited := tier == string(s3types.TierExpedited)
	withDays := true
	switch {
	case res.StorageClass == string(s3types.StorageClassGlacier):
	case res.StorageClass == string(s3types.StorageClassDeepArchive):
		if expedited {
			tier = string(s3types.TierStandard)
		}
	case res.ArchiveStatus == string(s3types.ArchiveStatusArchiveAccess):
		withDays = false
	case res.ArchiveStatus == string(s3types.ArchiveStatusDeepArchiveAccess):
		withDays = false
		if expedited {
			tier = string(s3types.TierStandard)
		}
	default:
		return nil, fmt.Errorf("storage class %q (archive status %q) is read without a restore: nothing to request", res.StorageClass, res.ArchiveStatus)
	}
	req := &s3types.RestoreRequest{GlacierJobParameters: &s3types.GlacierJobParameters{Tier: s3types.Tier(tier)}}
	if withDays {
		req.Days = aws.Int32(days)
	}
	return req, nil
}

// describeRestoreRequest says what req asks for, as err_msg and logs carry
// it: "3 days, tier Standard", or "tier Bulk" without Days.
func describeRestoreRequest(req *s3types.RestoreRequest) string {
	tier := string(req.GlacierJobParameters.Tier)
	if req.Days == nil {
		return "tier " + tier + ", no Days: an Intelligent-Tiering archive tier"
	}
	return fmt.Sprintf("%d days, tier %s", aws.ToInt32(req.Days), tier)
}
