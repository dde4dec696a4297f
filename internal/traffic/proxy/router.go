package proxy

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/engine"
	dataplane "github.com/serinhq/serin/internal/proxy"
	"github.com/serinhq/serin/internal/rollout"
)

// Table holds the traffic split of each Canary and applies it to the
// proxy.
type Table interface {
	SetSplit(namespace, canary string, r rollout.Routes) error
}

// Router is the engine's Router over serin's proxy.
type Router struct {
	table Table
}

var _ engine.Router = (*Router)(nil)

// New returns a Router that sets splits in t.
func New(t Table) *Router { return &Router{table: t} }

// SetRoutes sets the split of c's apex route.
func (r *Router) SetRoutes(_ context.Context, c *v1beta1.Canary, routes rollout.Routes) error {
	if routes.PrimaryWeight < 0 || routes.CanaryWeight < 0 || routes.PrimaryWeight+routes.CanaryWeight != 100 {
		return fmt.Errorf("set routes of %s/%s: weights must be positive and add up to 100, got %d and %d",
			c.Namespace, c.Name, routes.PrimaryWeight, routes.CanaryWeight)
	}
	if err := r.table.SetSplit(c.Namespace, c.Name, routes); err != nil {
		return fmt.Errorf("set routes of %s/%s: %w", c.Namespace, c.Name, err)
	}
	return nil
}

// Route returns the proxy route of c's apex Service listening on listen,
// split between primary and canary as routes says. A backend without
// endpoints is left out (its share goes to the other), and so are the
// matches and mirror that name it; when neither backend is left, or both
// have weight 0, the route sends everything to fallback.
func Route(name, listen string, c *v1beta1.Canary, routes rollout.Routes, primary, canary, fallback dataplane.Backend) dataplane.Route {
	primary.Weight, canary.Weight = routes.PrimaryWeight, routes.CanaryWeight
	rt := dataplane.Route{Name: name, Listen: listen}
	if d, err := time.ParseDuration(c.Spec.Service.Timeout); err == nil && d > 0 {
		rt.Timeout = dataplane.Duration(d)
	}
	total := 0
	for _, b := range []dataplane.Backend{primary, canary} {
		if len(b.Endpoints) > 0 {
			rt.Backends = append(rt.Backends, b)
			total += b.Weight
		}
	}
	if total == 0 {
		fallback.Weight = 1
		rt.Backends = []dataplane.Backend{fallback}
		return rt
	}
	if len(canary.Endpoints) == 0 {
		return rt
	}
	for _, m := range routes.Match {
		if rule, ok := matchRule(m, canary.Name); ok {
			rt.Match = append(rt.Match, rule)
		}
	}
	if routes.Mirror {
		pct := routes.MirrorWeight
		if pct == 0 {
			pct = 100
		}
		rt.Mirror = &dataplane.Mirror{Backend: canary.Name, Percent: pct}
	}
	if sa := routes.SessionAffinity; sa != nil && sa.CookieName != "" {
		rt.Sticky = &dataplane.Sticky{Cookie: sa.CookieName, MaxAge: int(sa.EffectiveMaxAge() / time.Second)}
		if sa.HasCookieAttributes() {
			rt.Sticky.Attributes = sa.CookieAttributes()
		}
	}
	return rt
}

// matchRule converts the header conditions of an HTTPMatchRequest; the
// proxy matches headers and cookies only, so a request match without
// header conditions is dropped.
func matchRule(m v1beta1.HTTPMatchRequest, backend string) (dataplane.MatchRule, bool) {
	rule := dataplane.MatchRule{Backend: backend, Headers: map[string]dataplane.StringMatch{}}
	for h, sm := range m.Headers {
		rule.Headers[strings.ToLower(h)] = stringMatch(sm)
	}
	return rule, len(rule.Headers) > 0
}

func stringMatch(sm v1beta1.StringMatch) dataplane.StringMatch {
	switch {
	case sm.Exact != "":
		return dataplane.StringMatch{Exact: sm.Exact}
	case sm.Prefix != "":
		return dataplane.StringMatch{Prefix: sm.Prefix}
	case sm.Suffix != "":
		return dataplane.StringMatch{Regex: regexp.QuoteMeta(sm.Suffix) + "$"}
	default:
		return dataplane.StringMatch{Regex: sm.Regex}
	}
}
