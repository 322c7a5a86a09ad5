package loadsim

// Price is one billed item's price, US East (N. Virginia), as AWS's
// pricing page named in Source gives it.
type Price struct {
	Item   string  `json:"item"`
	USD    float64 `json:"usd"`
	Per    string  `json:"per"`
	Source string  `json:"source"`
}

// The prices the load runner's cost figure uses (us-east-1, no free tier,
// read on AWS's pricing pages). The Lambdas are arm64 (infra/function.go).
var (
	priceTransition = Price{"Step Functions Standard state transition (retries included)", 0.025 / 1000, "transition",
		"https://aws.amazon.com/step-functions/pricing/"}
	priceLambdaRequest = Price{"Lambda request", 0.20 / 1e6, "request",
		"https://aws.amazon.com/lambda/pricing/"}
	priceLambdaGBs = Price{"Lambda duration, Arm", 0.0000133334, "GB-second",
		"https://aws.amazon.com/lambda/pricing/"}
	priceS3Put = Price{"S3 Standard PUT, COPY, POST, LIST request", 0.005 / 1000, "request",
		"https://aws.amazon.com/s3/pricing/"}
	priceS3Get = Price{"S3 Standard GET, HEAD and other request", 0.0004 / 1000, "request",
		"https://aws.amazon.com/s3/pricing/"}
	priceLogIngest = Price{"CloudWatch Logs ingestion (standard)", 0.50 / (1 << 30), "byte",
		"https://aws.amazon.com/cloudwatch/pricing/"}
)

// Prices lists the prices the cost figure uses.
func Prices() []Price {
	return []Price{priceTransition, priceLambdaRequest, priceLambdaGBs, priceS3Put, priceS3Get, priceLogIngest}
}

// Usage is what a load run used, in billed units.
type Usage struct {
	Files                  int
	Transitions            int
	LambdaRequests         int
	LambdaGBSeconds        float64
	S3PutClass, S3GetClass int
	// LogBytesBySource is what CloudWatch Logs ingests, by function and
	// for the state machine (LogSourceStateMachine).
	LogBytesBySource map[string]int64
}

// fill sets the report's per-file figures and cost per million files.
func (u Usage) fill(rep *LoadReport) {
	rep.Prices = Prices()
	if u.Files == 0 {
		return
	}
	perFile := func(v float64) float64 { return v / float64(u.Files) }
	rep.StateTransitionsPerFile = perFile(float64(u.Transitions))
	rep.LambdaRequestsPerFile = perFile(float64(u.LambdaRequests))
	rep.LambdaGBSecondsPerFile = perFile(u.LambdaGBSeconds)
	rep.S3PutClassPerFile = perFile(float64(u.S3PutClass))
	rep.S3GetClassPerFile = perFile(float64(u.S3GetClass))
	rep.LogBytesPerFileBySource = map[string]float64{}
	for source, n := range u.LogBytesBySource {
		rep.LogBytesPerFileBySource[source] = perFile(float64(n))
		rep.LogBytesPerFile += perFile(float64(n))
	}
	const million = 1e6
	rep.CostItems = map[string]float64{
		"state_transitions": rep.StateTransitionsPerFile * priceTransition.USD * million,
		"lambda_requests":   rep.LambdaRequestsPerFile * priceLambdaRequest.USD * million,
		"lambda_duration":   rep.LambdaGBSecondsPerFile * priceLambdaGBs.USD * million,
		"s3_requests":       (rep.S3PutClassPerFile*priceS3Put.USD + rep.S3GetClassPerFile*priceS3Get.USD) * million,
		"log_ingestion":     rep.LogBytesPerFile * priceLogIngest.USD * million,
	}
	for _, v := range rep.CostItems {
		rep.CostPerMillionFilesUSD += v
	}
}
