package providers

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/smithy-go"
)

// cloudWatch runs GetMetricData queries with the AWS SDK, credentials
// from the SDK's default chain (environment, IRSA web identity, ECS or
// EC2 instance roles), as Flagger does.
type cloudWatch struct {
	client  *cloudwatch.Client
	name    string
	timeout func(context.Context) (context.Context, context.CancelFunc)
}

func newCloudWatch(cfg Config) (*cloudWatch, error) {
	if cfg.Region == "" {
		return nil, errors.New("cloudwatch needs spec.provider.region")
	}
	// One attempt: a throttled or failed query is asked again at the
	// next interval, and the analysis must not stall on backoff.
	awsCfg, err := awsconfig.LoadDefaultConfig(context.Background(),
		awsconfig.WithRegion(cfg.Region),
		awsconfig.WithRetryMaxAttempts(1),
	)
	if err != nil {
		return nil, fmt.Errorf("cloudwatch: load AWS configuration: %w", err)
	}
	// The SDK's client (with AWS_CA_BUNDLE's roots when set), adding the
	// template's headers and, when asked, skipping TLS verification.
	buildable := awshttp.NewBuildableClient()
	if cfg.InsecureSkipVerify {
		buildable = buildable.WithTransportOptions(func(tr *http.Transport) {
			if tr.TLSClientConfig == nil {
				tr.TLSClientConfig = &tls.Config{}
			}
			tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // asked for by the MetricTemplate
		})
	}
	if b, ok := awsCfg.HTTPClient.(*awshttp.BuildableClient); ok && !cfg.InsecureSkipVerify {
		buildable = b
	}
	name := "cloudwatch " + cfg.Region
	client := cloudwatch.NewFromConfig(awsCfg, func(o *cloudwatch.Options) {
		o.HTTPClient = headerClient{next: buildable, headers: cfg.Headers}
		if cfg.Address != "" {
			o.BaseEndpoint = aws.String(cfg.Address)
		}
	})
	if cfg.Address != "" {
		name += " " + cfg.Address
	}
	timeout := cfg.timeout()
	return &cloudWatch{client: client, name: name, timeout: func(ctx context.Context) (context.Context, context.CancelFunc) {
		return context.WithTimeout(ctx, timeout)
	}}, nil
}

// Value runs the MetricDataQuery list q.Text (JSON, the fields of the
// GetMetricData API) over the ten intervals before q.Now, as Flagger
// does. The value is the first value (the newest) of the first result;
// no result or no value is no data.
func (c *cloudWatch) Value(ctx context.Context, q Query) (float64, bool, error) {
	var queries []types.MetricDataQuery
	if err := json.Unmarshal([]byte(q.Text), &queries); err != nil {
		return 0, false, fmt.Errorf("%s: the query must be a JSON list of MetricDataQuery: %w", c.name, err)
	}
	if len(queries) == 0 {
		return 0, false, fmt.Errorf("%s: the query is an empty list", c.name)
	}
	ctx, cancel := c.timeout(ctx)
	defer cancel()
	out, err := c.client.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime:         aws.Time(q.Now.Add(-10 * q.Interval)),
		EndTime:           aws.Time(q.Now),
		MaxDatapoints:     aws.Int32(20),
		MetricDataQueries: queries,
	})
	if err != nil {
		return 0, false, c.error(err)
	}
	if len(out.MetricDataResults) == 0 {
		return 0, false, nil
	}
	r := out.MetricDataResults[0]
	switch r.StatusCode {
	case types.StatusCodeForbidden:
		return 0, false, fmt.Errorf("%s: %w: result %s: %s", c.name, ErrCredentials, aws.ToString(r.Id), messages(r.Messages))
	case types.StatusCodeInternalError:
		return 0, false, fmt.Errorf("%s: %w: result %s: %s", c.name, ErrRefused, aws.ToString(r.Id), messages(r.Messages))
	}
	if len(r.Values) == 0 {
		return 0, false, nil
	}
	v := r.Values[0]
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false, nil
	}
	return v, true, nil
}

func messages(ms []types.MessageData) string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = aws.ToString(m.Code) + " " + aws.ToString(m.Value)
	}
	return strings.Join(out, "; ")
}

// error classifies an SDK error by its AWS error code.
func (c *cloudWatch) error(err error) error {
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		msg := code + ": " + api.ErrorMessage()
		switch {
		case slices.Contains([]string{"AccessDenied", "AccessDeniedException", "UnrecognizedClientException",
			"InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException", "SignatureDoesNotMatch",
			"IncompleteSignature", "MissingAuthenticationToken", "NotAuthorized"}, code):
			return fmt.Errorf("%s: %w: %s", c.name, ErrCredentials, msg)
		case slices.Contains([]string{"Throttling", "ThrottlingException", "LimitExceeded",
			"LimitExceededException", "RequestLimitExceeded", "TooManyRequestsException"}, code):
			return fmt.Errorf("%s: %w: %s", c.name, ErrThrottled, msg)
		}
		return fmt.Errorf("%s: %w: %s", c.name, ErrRefused, msg)
	}
	if strings.Contains(err.Error(), "failed to retrieve credentials") {
		return fmt.Errorf("%s: %w: %v", c.name, ErrCredentials, err)
	}
	return fmt.Errorf("%s: %w", c.name, err)
}

// headerClient adds the template's headers to every request, after the
// SDK has signed it.
type headerClient struct {
	next    aws.HTTPClient
	headers map[string][]string
}

func (c headerClient) Do(req *http.Request) (*http.Response, error) {
	for k, vs := range c.headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	return c.next.Do(req)
}
