package cluster

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/dashboard"
)

// TokenAuthOptions configure a TokenAuthenticator.
type TokenAuthOptions struct {
	// TTL is how long a token's review and each access decision are
	// reused (default 10s): a revoked token or RoleBinding takes effect
	// within it.
	TTL time.Duration
	// MaxEntries bounds the cache (default 4096).
	MaxEntries int
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// TokenAuthenticator is the dashboard's Authenticator inside a cluster:
// a request carries a Kubernetes user's bearer token (`kubectl create
// token`), which the API server checks (TokenReview), and what the user
// may see and do is what the API server's authorizer lets that user do
// to Canaries (SubjectAccessReview): list canaries in a namespace to view
// it, patch a Canary to command it.
type TokenAuthenticator struct {
	cs   kubernetes.Interface
	opts TokenAuthOptions

	mu      sync.Mutex
	reviews map[[sha256.Size]byte]review
	access  map[accessKey]decision
}

type review struct {
	user    *authnv1.UserInfo // nil: the token is not valid
	why     string
	expires time.Time
}

type accessKey struct {
	token          [sha256.Size]byte
	verb, ns, name string
}

type decision struct {
	allowed bool
	expires time.Time
}

var _ dashboard.Authenticator = (*TokenAuthenticator)(nil)

// NewTokenAuthenticator returns an Authenticator that asks the API server
// cfg points at; cfg's user needs create on tokenreviews and
// subjectaccessreviews.
func NewTokenAuthenticator(cfg *rest.Config, o TokenAuthOptions) (*TokenAuthenticator, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("client of %s: %w", cfg.Host, err)
	}
	if o.TTL <= 0 {
		o.TTL = 10 * time.Second
	}
	if o.MaxEntries <= 0 {
		o.MaxEntries = 4096
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &TokenAuthenticator{cs: cs, opts: o,
		reviews: map[[sha256.Size]byte]review{}, access: map[accessKey]decision{}}, nil
}

// bearer returns the token of an Authorization: Bearer header.
func bearer(r *http.Request) (string, error) {
	if r.Header.Get("Authorization") == "" {
		return "", fmt.Errorf("%w: no Authorization header; send Authorization: Bearer <token> with a token of `kubectl create token`", dashboard.ErrUnauthenticated)
	}
	token, ok := dashboard.BearerToken(r)
	if !ok || strings.ContainsAny(token, " \t") {
		return "", fmt.Errorf("%w: the Authorization header is not of the form Bearer <token>", dashboard.ErrUnauthenticated)
	}
	return token, nil
}

// Authenticate returns the Kubernetes user whose bearer token r carries.
func (a *TokenAuthenticator) Authenticate(r *http.Request) (dashboard.Caller, error) {
	token, err := bearer(r)
	if err != nil {
		return nil, err
	}
	key := sha256.Sum256([]byte(token))
	now := a.opts.Now()
	a.mu.Lock()
	rv, ok := a.reviews[key]
	a.mu.Unlock()
	if !ok || !now.Before(rv.expires) {
		tr := &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}
		res, err := a.cs.AuthenticationV1().TokenReviews().Create(r.Context(), tr, metav1.CreateOptions{})
		if err != nil {
			return nil, fmt.Errorf("review the token with the API server: %w", err)
		}
		rv = review{expires: now.Add(a.opts.TTL), why: res.Status.Error}
		if res.Status.Authenticated {
			rv.user = res.Status.User.DeepCopy()
		}
		a.mu.Lock()
		a.prune(now, len(a.reviews))
		a.reviews[key] = rv
		a.mu.Unlock()
	}
	if rv.user == nil {
		why := "the API server did not accept the token"
		if rv.why != "" {
			why += ": " + rv.why
		}
		return nil, fmt.Errorf("%w: %s", dashboard.ErrUnauthenticated, why)
	}
	return &tokenCaller{a: a, token: key, user: *rv.user}, nil
}

// prune drops expired entries once the cache is full, then everything if
// that was not enough. Callers hold a.mu.
func (a *TokenAuthenticator) prune(now time.Time, n int) {
	if n < a.opts.MaxEntries && len(a.access) < a.opts.MaxEntries {
		return
	}
	for k, v := range a.reviews {
		if !now.Before(v.expires) {
			delete(a.reviews, k)
		}
	}
	for k, v := range a.access {
		if !now.Before(v.expires) {
			delete(a.access, k)
		}
	}
	if len(a.reviews) >= a.opts.MaxEntries {
		clear(a.reviews)
	}
	if len(a.access) >= a.opts.MaxEntries {
		clear(a.access)
	}
}

// tokenCaller is a user authenticated by TokenReview.
type tokenCaller struct {
	a     *TokenAuthenticator
	token [sha256.Size]byte
	user  authnv1.UserInfo
}

func (c *tokenCaller) Name() string { return c.user.Username }

// Can asks the API server whether the user may list canaries in ns
// (serin.dev's, or flagger.app's) to view it, or patch the serin.dev
// Canary ns/name to command it.
func (c *tokenCaller) Can(ctx context.Context, verb, ns, name string) (bool, error) {
	var attrs []authzv1.ResourceAttributes
	switch verb {
	case dashboard.VerbView:
		for _, g := range []string{v1beta1.Group, v1beta1.FlaggerGroup} {
			attrs = append(attrs, authzv1.ResourceAttributes{Namespace: ns, Verb: "list", Group: g, Resource: "canaries"})
		}
	case dashboard.VerbCommand:
		attrs = append(attrs, authzv1.ResourceAttributes{Namespace: ns, Verb: "patch", Group: v1beta1.Group, Resource: "canaries", Name: name})
	default:
		return false, fmt.Errorf("dashboard access: unknown verb %q", verb)
	}
	key := accessKey{token: c.token, verb: verb, ns: ns, name: name}
	now := c.a.opts.Now()
	c.a.mu.Lock()
	d, ok := c.a.access[key]
	c.a.mu.Unlock()
	if ok && now.Before(d.expires) {
		return d.allowed, nil
	}
	allowed := false
	for _, at := range attrs {
		ok, err := c.review(ctx, at)
		if err != nil {
			return false, err
		}
		if ok {
			allowed = true
			break
		}
	}
	c.a.mu.Lock()
	c.a.prune(now, len(c.a.access))
	c.a.access[key] = decision{allowed: allowed, expires: now.Add(c.a.opts.TTL)}
	c.a.mu.Unlock()
	return allowed, nil
}

// review runs one SubjectAccessReview as the user.
func (c *tokenCaller) review(ctx context.Context, at authzv1.ResourceAttributes) (bool, error) {
	extra := make(map[string]authzv1.ExtraValue, len(c.user.Extra))
	for k, v := range c.user.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		ResourceAttributes: &at,
		User:               c.user.Username, Groups: c.user.Groups, Extra: extra, UID: c.user.UID,
	}}
	res, err := c.a.cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		return false, fmt.Errorf("ask the API server whether %s may %s canaries.%s: %w", c.user.Username, at.Verb, at.Group, err)
	}
	return res.Status.Allowed && !res.Status.Denied, nil
}
