package gatewayapi

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/rollout"
)

func TestMatches(t *testing.T) {
	got, err := Matches([]v1beta1.HTTPMatchRequest{
		{
			Headers: map[string]v1beta1.StringMatch{
				"x-user":  {Exact: "tester"},
				"cookie":  {Regex: "^(.*?;)?(canary=always)(;.*)?$"},
				"x-agent": {Suffix: "bot.v1"},
			},
			QueryParams: map[string]v1beta1.StringMatch{"v": {Prefix: "2."}},
			Method:      &v1beta1.StringMatch{Exact: "post"},
		},
		{URI: &v1beta1.StringMatch{Prefix: "/api"}},
		{URI: &v1beta1.StringMatch{Exact: "/login"}},
		{URI: &v1beta1.StringMatch{Suffix: ".json"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("got %d matches, want 4", len(got))
	}
	h := got[0].Headers
	want := []struct {
		name, value string
		typ         gatewayv1.HeaderMatchType
	}{
		{"cookie", "^(.*?;)?(canary=always)(;.*)?$", gatewayv1.HeaderMatchRegularExpression},
		{"x-agent", `.*bot\.v1$`, gatewayv1.HeaderMatchRegularExpression},
		{"x-user", "tester", gatewayv1.HeaderMatchExact},
	}
	if len(h) != len(want) {
		t.Fatalf("headers = %+v", h)
	}
	for i, w := range want {
		if string(h[i].Name) != w.name || h[i].Value != w.value || *h[i].Type != w.typ {
			t.Errorf("header %d = {%s %s %s}, want %+v", i, h[i].Name, *h[i].Type, h[i].Value, w)
		}
	}
	if q := got[0].QueryParams; len(q) != 1 || q[0].Value != `^2\..*` || *q[0].Type != gatewayv1.QueryParamMatchRegularExpression {
		t.Errorf("query params = %+v", q)
	}
	if m := got[0].Method; m == nil || *m != gatewayv1.HTTPMethodPost {
		t.Errorf("method = %v, want POST", m)
	}
	paths := []struct {
		typ   gatewayv1.PathMatchType
		value string
	}{
		{gatewayv1.PathMatchPathPrefix, "/"},
		{gatewayv1.PathMatchPathPrefix, "/api"},
		{gatewayv1.PathMatchExact, "/login"},
		{gatewayv1.PathMatchRegularExpression, `.*\.json$`},
	}
	for i, p := range paths {
		if *got[i].Path.Type != p.typ || *got[i].Path.Value != p.value {
			t.Errorf("match %d path = {%s %s}, want %+v", i, *got[i].Path.Type, *got[i].Path.Value, p)
		}
	}
}

func TestMatchesErrors(t *testing.T) {
	tests := []struct {
		name  string
		match v1beta1.HTTPMatchRequest
		want  []string
	}{
		{"two kinds in one string match", v1beta1.HTTPMatchRequest{Headers: map[string]v1beta1.StringMatch{"x": {Exact: "a", Prefix: "b"}}},
			[]string{"match[0].headers[x]", "exactly one"}},
		{"empty string match", v1beta1.HTTPMatchRequest{QueryParams: map[string]v1beta1.StringMatch{"q": {}}},
			[]string{"match[0].queryParams[q]"}},
		{"bad regex", v1beta1.HTTPMatchRequest{Headers: map[string]v1beta1.StringMatch{"x": {Regex: "("}}},
			[]string{"match[0].headers[x].regex"}},
		{"relative path", v1beta1.HTTPMatchRequest{URI: &v1beta1.StringMatch{Prefix: "api"}},
			[]string{"match[0].uri.prefix", "must start with /"}},
		{"method by prefix", v1beta1.HTTPMatchRequest{Method: &v1beta1.StringMatch{Prefix: "P"}},
			[]string{"match[0].method"}},
		{"unsupported fields", v1beta1.HTTPMatchRequest{Authority: &v1beta1.StringMatch{Exact: "a"}, SourceLabels: map[string]string{"a": "b"}},
			[]string{"match[0].authority", "match[0].sourceLabels"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Matches([]v1beta1.HTTPMatchRequest{tt.match})
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestSpecGatewayRefs(t *testing.T) {
	c := &v1beta1.Canary{Spec: v1beta1.CanarySpec{
		TargetRef: v1beta1.LocalObjectReference{Name: "podinfo"},
		Service: v1beta1.CanaryService{
			Name: "web", Port: 80, Timeout: "15s", Hosts: []string{"app.example.com"},
			GatewayRefs: []v1beta1.ParentReference{{Name: "public", Namespace: ptr.To("ingress")}},
		},
	}}
	spec, err := Spec(c, rollout.Routes{PrimaryWeight: 70, CanaryWeight: 30})
	if err != nil {
		t.Fatal(err)
	}
	pr := spec.ParentRefs
	if len(pr) != 1 || *pr[0].Kind != "Gateway" || *pr[0].Group != gatewayv1.GroupName || *pr[0].Namespace != "ingress" || pr[0].Name != "public" {
		t.Errorf("parentRefs = %+v, want the Gateway ingress/public", pr)
	}
	if len(spec.Hostnames) != 1 || spec.Hostnames[0] != "app.example.com" {
		t.Errorf("hostnames = %v", spec.Hostnames)
	}
	r := spec.Rules[0]
	if r.BackendRefs[0].Name != "web-primary" || *r.BackendRefs[0].Weight != 70 || r.BackendRefs[1].Name != "web-canary" ||
		*r.BackendRefs[1].Weight != 30 || *r.BackendRefs[1].Port != 80 {
		t.Errorf("backends = %+v", r.BackendRefs)
	}
	if r.Timeouts == nil || *r.Timeouts.Request != "15s" {
		t.Errorf("timeouts = %+v, want request 15s", r.Timeouts)
	}

	if _, err := Spec(c, rollout.Routes{PrimaryWeight: 110, CanaryWeight: -10}); err == nil {
		t.Error("negative weight accepted")
	}
}

// backendTimeout, service.mirror and the cookie attributes of session
// affinity reach the HTTPRoute as Flagger's Gateway API router writes them.
func TestSpecFlaggerServiceFields(t *testing.T) {
	c := &v1beta1.Canary{Spec: v1beta1.CanarySpec{
		TargetRef: v1beta1.LocalObjectReference{Name: "podinfo"},
		Service: v1beta1.CanaryService{
			Port: 9898, BackendTimeout: "5s",
			Mirror: []v1beta1.ServiceMirror{{BackendRef: v1beta1.MirrorBackendRef{Name: "shadow", Port: ptr.To[int32](8080)}}},
		},
		Analysis: &v1beta1.CanaryAnalysis{SessionAffinity: &v1beta1.SessionAffinity{
			CookieName: "flagger-cookie", MaxAge: 60, Domain: "example.com", Path: "/app",
			HTTPOnly: true, Secure: true, SameSite: "Strict", Partitioned: true,
		}},
	}}
	spec, err := Spec(c, rollout.Routes{PrimaryWeight: 90, CanaryWeight: 10, SessionAffinity: c.Spec.Analysis.SessionAffinity, Cookie: "flagger-cookie=abc"})
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Rules) != 2 {
		t.Fatalf("%d rules, want the sticky rule and the weighted one", len(spec.Rules))
	}
	for i, r := range spec.Rules {
		if r.Timeouts == nil || r.Timeouts.Request != nil || r.Timeouts.BackendRequest == nil || *r.Timeouts.BackendRequest != "5s" {
			t.Errorf("rule %d: timeouts = %+v, want backendRequest 5s only", i, r.Timeouts)
		}
		var mirrored []string
		for _, f := range r.Filters {
			if f.Type == gatewayv1.HTTPRouteFilterRequestMirror {
				mirrored = append(mirrored, fmt.Sprintf("%s:%d", f.RequestMirror.BackendRef.Name, *f.RequestMirror.BackendRef.Port))
			}
		}
		if len(mirrored) != 1 || mirrored[0] != "shadow:8080" {
			t.Errorf("rule %d: mirrors = %v, want shadow:8080", i, mirrored)
		}
	}
	f := spec.Rules[1].BackendRefs[1].Filters
	want := "flagger-cookie=abc; Max-Age=60; Path=/app; Domain=example.com; HttpOnly; Secure; SameSite=Strict; Partitioned"
	if len(f) != 1 || f[0].ResponseHeaderModifier == nil || f[0].ResponseHeaderModifier.Add[0].Value != want {
		t.Errorf("canary filters = %+v, want Set-Cookie %q", f, want)
	}
}
