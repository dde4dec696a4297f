package proxy

import (
	"context"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/serinhq/serin/api/v1beta1"
	dataplane "github.com/serinhq/serin/internal/proxy"
	"github.com/serinhq/serin/internal/rollout"
)

type recordTable struct {
	got map[string]rollout.Routes
}

func (r *recordTable) SetSplit(ns, name string, routes rollout.Routes) error {
	r.got[ns+"/"+name] = routes
	return nil
}

func canary() *v1beta1.Canary {
	return &v1beta1.Canary{ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: "test"},
		Spec: v1beta1.CanarySpec{Service: v1beta1.CanaryService{Port: 9898, Timeout: "5s"}}}
}

func TestRouterSetRoutes(t *testing.T) {
	tbl := &recordTable{got: map[string]rollout.Routes{}}
	r := New(tbl)
	if err := r.SetRoutes(context.Background(), canary(), rollout.Routes{PrimaryWeight: 70, CanaryWeight: 30}); err != nil {
		t.Fatal(err)
	}
	if tbl.got["test/podinfo"].CanaryWeight != 30 {
		t.Errorf("table got %+v", tbl.got)
	}
	if err := r.SetRoutes(context.Background(), canary(), rollout.Routes{PrimaryWeight: 70, CanaryWeight: 20}); err == nil {
		t.Error("weights adding up to 90: want an error")
	}
}

func TestRoute(t *testing.T) {
	primary := dataplane.Backend{Name: "podinfo-primary", Deployment: "podinfo-primary", Endpoints: []string{"127.0.0.1:1"}}
	cn := dataplane.Backend{Name: "podinfo-canary", Deployment: "podinfo", Endpoints: []string{"127.0.0.1:2"}}
	fallback := dataplane.Backend{Name: "unavailable", Endpoints: []string{"127.0.0.1:3"}}

	rt := Route("r", "127.0.0.1:9898", canary(), rollout.Routes{PrimaryWeight: 80, CanaryWeight: 20}, primary, cn, fallback)
	if len(rt.Backends) != 2 || rt.Backends[0].Weight != 80 || rt.Backends[1].Weight != 20 || rt.Timeout == 0 {
		t.Fatalf("split route = %+v", rt)
	}

	ab := rollout.Routes{PrimaryWeight: 100, Match: []v1beta1.HTTPMatchRequest{
		{Headers: map[string]v1beta1.StringMatch{"X-Canary": {Exact: "insider"}}},
		{Headers: map[string]v1beta1.StringMatch{"Cookie": {Suffix: "canary=always"}}},
		{URI: &v1beta1.StringMatch{Prefix: "/api"}},
	}, SessionAffinity: &v1beta1.SessionAffinity{CookieName: "flagger-cookie"}, Mirror: true}
	rt = Route("r", "127.0.0.1:9898", canary(), ab, primary, cn, fallback)
	if len(rt.Match) != 2 || rt.Match[0].Backend != "podinfo-canary" || rt.Match[0].Headers["x-canary"].Exact != "insider" ||
		rt.Match[1].Headers["cookie"].Regex != `canary=always$` {
		t.Errorf("matches = %+v", rt.Match)
	}
	if rt.Mirror == nil || rt.Mirror.Percent != 100 || rt.Sticky == nil || rt.Sticky.Cookie != "flagger-cookie" {
		t.Errorf("mirror %+v sticky %+v", rt.Mirror, rt.Sticky)
	}

	noCanary := cn
	noCanary.Endpoints = nil
	rt = Route("r", "127.0.0.1:9898", canary(), rollout.Routes{PrimaryWeight: 50, CanaryWeight: 50, Mirror: true}, primary, noCanary, fallback)
	if len(rt.Backends) != 1 || rt.Backends[0].Name != "podinfo-primary" || rt.Mirror != nil {
		t.Errorf("canary without endpoints: %+v", rt)
	}

	noPrimary := primary
	noPrimary.Endpoints = nil
	rt = Route("r", "127.0.0.1:9898", canary(), rollout.Routes{PrimaryWeight: 100}, noPrimary, cn, fallback)
	if len(rt.Backends) != 1 || rt.Backends[0].Name != "unavailable" {
		t.Errorf("nothing to send to: %+v", rt.Backends)
	}
	cfg := dataplane.Config{Routes: []dataplane.Route{rt}}
	cfg.Default()
	if err := cfg.Validate(); err != nil {
		t.Errorf("the proxy rejects the route: %v", err)
	}
}
