package cluster

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Forbidden is a request the user's RBAC refused.
type Forbidden struct {
	// Verb and Resource (with its group, e.g. "canaries.serin.dev") the
	// user lacks; Namespace is empty for a request across namespaces.
	Verb, Resource, Namespace string
	Err                       error
}

func (e *Forbidden) Error() string {
	where := "in namespace " + e.Namespace
	if e.Namespace == "" {
		where = "in all namespaces"
	}
	return fmt.Sprintf("forbidden: you cannot %s %s %s", e.Verb, e.Resource, where)
}

func (e *Forbidden) Unwrap() error { return e.Err }

// access wraps an error of the API server for a request to verb resource
// in namespace ns: a Forbidden when RBAC refused it, otherwise the error
// with the request named.
func access(err error, verb, resource, ns string) error {
	if err == nil {
		return nil
	}
	if apierrors.IsForbidden(err) {
		return &Forbidden{Verb: verb, Resource: resource, Namespace: ns, Err: err}
	}
	if apierrors.IsUnauthorized(err) {
		return fmt.Errorf("unauthorized: the cluster did not accept the kubeconfig's credentials (%s %s): %w", verb, resource, err)
	}
	where := ""
	if ns != "" {
		where = " in namespace " + ns
	}
	return fmt.Errorf("%s %s%s: %w", verb, resource, where, err)
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }
