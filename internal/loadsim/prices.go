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
	priceTransition = Price{"Step Functions Standard state transition (retries and Distributed Map child starts included)", 0.025 / 1000, "transition",
		"https://aws.amazon.com/step-functions/pricing/"}
	priceExpressRequest = Price{"Step Functions Express request (execution started)", 1.00 / 1e6, "request",
		"https://aws.amazon.com/step-functions/pricing/"}
	priceExpressGBs = Price{"Step Functions Express duration (first 1,000 hours a month; 100 ms and 64 MB steps)", 0.00001667, "Express GB-second",
		"https://aws.amazon.com/step-functions/pricing/"}
	priceSQSRequest = Price{"SQS standard queue request (each 64 KB chunk of a payload one request)", 0.40 / 1e6, "SQS request",
		"https://aws.amazon.com/sqs/pricing/"}
	pricePipeRequest = Price{"EventBridge Pipes request (after filtering; each 64 KB chunk one request)", 0.40 / 1e6, "Pipes request",
		"https://aws.amazon.com/eventbridge/pricing/"}
	priceLambdaRequest = Price{"Lambda request", 0.20 / 1e6, "request",
		"https://aws.amazon.com/lambda/pricing/"}
	priceLambdaGBs = Price{"Lambda duration, Arm", 0.0000133334, "GB-second",
		"https://aws.amazon.com/lambda/pricing/"}
	priceS3Put = Price{"S3 Standard PUT, COPY, POST, LIST request", 0.005 / 1000, "S3 PUT-class request",
		"https://aws.amazon.com/s3/pricing/"}
	priceS3Get = Price{"S3 Standard GET, HEAD and other request", 0.0004 / 1000, "S3 GET-class request",
		"https://aws.amazon.com/s3/pricing/"}
	priceLogIngest = Price{"CloudWatch Logs ingestion (standard)", 0.50 / (1 << 30), "byte",
		"https://aws.amazon.com/cloudwatch/pricing/"}
)

// Prices lists the prices the cost figure uses.
func Prices() []Price {
	return []Price{priceTransition, priceExpressRequest, priceExpressGBs, priceSQSRequest, pricePipeRequest,
		priceLambdaRequest, priceLambdaGBs, priceS3Put, priceS3Get, priceLogIngest}
}

// BilledUnits are what a load run used, per file, in the units AWS bills
// (issue 24's list), with the StartExecution calls the intake made (not
// billed, but bounded by Step Functions' StartExecution quota).
type BilledUnits struct {
	StandardTransitions float64 `json:"standard_transitions"`
	ExpressRequests     float64 `json:"express_requests"`
	ExpressGBSeconds    float64 `json:"express_gb_seconds"`
	SQSRequests         float64 `json:"sqs_requests"`
	PipeRequests        float64 `json:"pipe_requests"`
	LambdaRequests      float64 `json:"lambda_requests"`
	LambdaGBSeconds     float64 `json:"lambda_gb_seconds"`
	S3PutClass          float64 `json:"s3_put_class"`
	S3GetClass          float64 `json:"s3_get_class"`
	LogBytes            float64 `json:"log_bytes"`
	StartExecutions     float64 `json:"start_executions"`
}

// Usage is what a load run used, in billed units, in all.
type Usage struct {
	Files           int
	StepFunctions   stepFunctionsUsage
	StartExecutions int
	Intake          IntakeCalls
	LambdaRequests  int
	LambdaGBSeconds float64
	S3PutClass      int
	S3GetClass      int
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
	p := &rep.PerFile
	p.StandardTransitions = perFile(float64(u.StepFunctions.StandardTransitions))
	p.ExpressRequests = perFile(float64(u.StepFunctions.ExpressRequests))
	p.ExpressGBSeconds = perFile(u.StepFunctions.ExpressGBSeconds)
	p.SQSRequests = perFile(float64(u.Intake.SQSRequests))
	p.PipeRequests = perFile(float64(u.Intake.PipeRequests))
	p.LambdaRequests = perFile(float64(u.LambdaRequests))
	p.LambdaGBSeconds = perFile(u.LambdaGBSeconds)
	p.S3PutClass = perFile(float64(u.S3PutClass))
	p.S3GetClass = perFile(float64(u.S3GetClass))
	p.StartExecutions = perFile(float64(u.StartExecutions))
	rep.LogBytesPerFileBySource = map[string]float64{}
	for source, n := range u.LogBytesBySource {
		rep.LogBytesPerFileBySource[source] = perFile(float64(n))
		p.LogBytes += perFile(float64(n))
	}
	rep.CostItems = p.costPerMillion()
	rep.CostPerMillionFilesUSD = 0
	for _, v := range rep.CostItems {
		rep.CostPerMillionFilesUSD += v
	}
}

// costPerMillion prices the per-file units for a million files, by item.
func (p BilledUnits) costPerMillion() map[string]float64 {
	const million = 1e6
	return map[string]float64{
		"standard_transitions": p.StandardTransitions * priceTransition.USD * million,
		"express_requests":     p.ExpressRequests * priceExpressRequest.USD * million,
		"express_duration":     p.ExpressGBSeconds * priceExpressGBs.USD * million,
		"sqs_requests":         p.SQSRequests * priceSQSRequest.USD * million,
		"pipe_requests":        p.PipeRequests * pricePipeRequest.USD * million,
		"lambda_requests":      p.LambdaRequests * priceLambdaRequest.USD * million,
		"lambda_duration":      p.LambdaGBSeconds * priceLambdaGBs.USD * million,
		"s3_requests":          (p.S3PutClass*priceS3Put.USD + p.S3GetClass*priceS3Get.USD) * million,
		"log_ingestion":        p.LogBytes * priceLogIngest.USD * million,
	}
}
