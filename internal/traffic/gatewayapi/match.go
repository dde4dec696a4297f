package gatewayapi

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/serinhq/serin/api/v1beta1"
)

// Matches converts a Canary's request matches (Flagger's, Istio-style)
// into HTTPRoute matches, one per request match, whose conditions must all
// hold. Headers and query parameters match exactly or by regular
// expression; a prefix or suffix becomes a regular expression. The URI
// matches exactly, by prefix or by regular expression; the method
// exactly. A match that uses anything else is an error naming its field,
// since leaving a condition out would send the wrong requests to the
// canary.
func Matches(in []v1beta1.HTTPMatchRequest) ([]gatewayv1.HTTPRouteMatch, error) {
	var errs field.ErrorList
	out := make([]gatewayv1.HTTPRouteMatch, 0, len(in))
	for i := range in {
		m, err := convertMatch(&in[i], field.NewPath("match").Index(i))
		errs = append(errs, err...)
		out = append(out, m)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("gatewayapi: %w", errs.ToAggregate())
	}
	return out, nil
}

func convertMatch(m *v1beta1.HTTPMatchRequest, p *field.Path) (gatewayv1.HTTPRouteMatch, field.ErrorList) {
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"scheme", m.Scheme != nil},
		{"authority", m.Authority != nil},
		{"port", m.Port != 0},
		{"sourceLabels", len(m.SourceLabels) > 0},
		{"gateways", len(m.Gateways) > 0},
		{"ignoreUriCase", m.IgnoreURICase},
		{"withoutHeaders", len(m.WithoutHeaders) > 0},
		{"sourceNamespace", m.SourceNamespace != ""},
	} {
		if f.set {
			errs = append(errs, field.Forbidden(p.Child(f.name), "not supported by the Gateway API router"))
		}
	}

	out := gatewayv1.HTTPRouteMatch{Path: rootPath()}
	if m.URI != nil {
		path, err := pathMatch(*m.URI, p.Child("uri"))
		errs = append(errs, err...)
		out.Path = path
	}
	if m.Method != nil {
		if m.Method.Exact == "" || m.Method.Prefix != "" || m.Method.Suffix != "" || m.Method.Regex != "" {
			errs = append(errs, field.Invalid(p.Child("method"), *m.Method, "must be an exact match"))
		} else {
			out.Method = ptr.To(gatewayv1.HTTPMethod(strings.ToUpper(m.Method.Exact)))
		}
	}
	for _, name := range sortedKeys(m.Headers) {
		exact, value, err := stringMatch(m.Headers[name], p.Child("headers").Key(name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		hm := gatewayv1.HTTPHeaderMatch{Type: ptr.To(gatewayv1.HeaderMatchExact), Name: gatewayv1.HTTPHeaderName(name), Value: value}
		if !exact {
			hm.Type = ptr.To(gatewayv1.HeaderMatchRegularExpression)
		}
		out.Headers = append(out.Headers, hm)
	}
	for _, name := range sortedKeys(m.QueryParams) {
		exact, value, err := stringMatch(m.QueryParams[name], p.Child("queryParams").Key(name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		qm := gatewayv1.HTTPQueryParamMatch{Type: ptr.To(gatewayv1.QueryParamMatchExact), Name: gatewayv1.HTTPHeaderName(name), Value: value}
		if !exact {
			qm.Type = ptr.To(gatewayv1.QueryParamMatchRegularExpression)
		}
		out.QueryParams = append(out.QueryParams, qm)
	}
	return out, errs
}

// stringMatch returns the value to match and whether it is exact (else a
// regular expression).
func stringMatch(s v1beta1.StringMatch, p *field.Path) (exact bool, value string, err *field.Error) {
	n := 0
	for _, v := range []string{s.Exact, s.Prefix, s.Suffix, s.Regex} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return false, "", field.Invalid(p, s, "must set exactly one of exact, prefix, suffix and regex")
	}
	switch {
	case s.Exact != "":
		return true, s.Exact, nil
	case s.Prefix != "":
		return false, "^" + regexp.QuoteMeta(s.Prefix) + ".*", nil
	case s.Suffix != "":
		return false, ".*" + regexp.QuoteMeta(s.Suffix) + "$", nil
	default:
		if _, err := regexp.Compile(s.Regex); err != nil {
			return false, "", field.Invalid(p.Child("regex"), s.Regex, "must be a valid regular expression: "+err.Error())
		}
		return false, s.Regex, nil
	}
}

func pathMatch(s v1beta1.StringMatch, p *field.Path) (*gatewayv1.HTTPPathMatch, field.ErrorList) {
	if s.Prefix != "" && s.Exact == "" && s.Suffix == "" && s.Regex == "" {
		if !strings.HasPrefix(s.Prefix, "/") {
			return nil, field.ErrorList{field.Invalid(p.Child("prefix"), s.Prefix, "must start with /")}
		}
		return &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchPathPrefix), Value: ptr.To(s.Prefix)}, nil
	}
	exact, value, err := stringMatch(s, p)
	if err != nil {
		return nil, field.ErrorList{err}
	}
	if exact {
		if !strings.HasPrefix(value, "/") {
			return nil, field.ErrorList{field.Invalid(p.Child("exact"), value, "must start with /")}
		}
		return &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchExact), Value: ptr.To(value)}, nil
	}
	return &gatewayv1.HTTPPathMatch{Type: ptr.To(gatewayv1.PathMatchRegularExpression), Value: ptr.To(value)}, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
