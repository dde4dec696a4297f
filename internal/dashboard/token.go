package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// TokenAuth is the local runtime's Authenticator: one random token,
// generated when the dashboard starts and shown to whoever started it. Its
// holder may see and steer every Canary.
type TokenAuth struct{ token string }

// NewTokenAuth returns a TokenAuth with a fresh 256-bit token from
// crypto/rand.
func NewTokenAuth() (*TokenAuth, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("dashboard token: %w", err)
	}
	return &TokenAuth{token: base64.RawURLEncoding.EncodeToString(b)}, nil
}

// Token is the token a request must carry as "Authorization: Bearer
// <token>".
func (a *TokenAuth) Token() string { return a.token }

// Authenticate accepts a request whose bearer token is the token.
func (a *TokenAuth) Authenticate(r *http.Request) (Caller, error) {
	got, ok := BearerToken(r)
	if !ok {
		return nil, fmt.Errorf("%w: no bearer token: send Authorization: Bearer <token>, the token printed with the dashboard's address", ErrUnauthenticated)
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1 {
		return nil, fmt.Errorf("%w: the bearer token is not this dashboard's (it changes each time the dashboard starts)", ErrUnauthenticated)
	}
	return localCaller{}, nil
}

// BearerToken returns the token of a request's "Authorization: Bearer"
// header.
func BearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// localCaller is the holder of a TokenAuth's token: whoever started the
// local runtime's dashboard.
type localCaller struct{}

func (localCaller) Name() string { return "local" }

func (localCaller) Can(context.Context, string, string, string) (bool, error) { return true, nil }
