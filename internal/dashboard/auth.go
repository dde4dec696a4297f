package dashboard

import (
	"context"
	"errors"
	"net/http"
)

// ErrUnauthenticated is wrapped by an Authenticator's error for a request
// that carries no valid credentials: the dashboard answers 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// Verbs the dashboard asks a Caller about.
const (
	// VerbView is seeing the Canaries of a namespace, their Deployments,
	// pods and events.
	VerbView = "view"
	// VerbCommand is giving a Canary a manual command.
	VerbCommand = "command"
)

// Authenticator identifies the caller of a request: the local runtime's
// with a token the dashboard prints, a cluster's with the bearer token of
// a Kubernetes user checked by TokenReview.
type Authenticator interface {
	// Authenticate returns the caller of r, or an error wrapping
	// ErrUnauthenticated when r carries no valid credentials.
	Authenticate(r *http.Request) (Caller, error)
}

// Caller is an authenticated user of the dashboard.
type Caller interface {
	// Name says who the caller is ("alice",
	// "system:serviceaccount:test:viewer").
	Name() string
	// Can reports whether the caller may do verb (VerbView, VerbCommand)
	// on the Canary ns/name; name "" asks about every Canary of ns, and ns
	// "" about every namespace.
	Can(ctx context.Context, verb, ns, name string) (bool, error)
}
