//go:build unix

package testenv

import (
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// ServiceAccountToken creates the ServiceAccount ns/name, a Role of the
// same name with rules bound to it when there are rules, and returns a
// token of the account from TokenRequest, as `kubectl create token` gets
// one: a user of the API server with just those rights (with Options.RBAC).
func (c *Cluster) ServiceAccountToken(t testing.TB, ns, name string, rules ...rbacv1.PolicyRule) string {
	t.Helper()
	objs := []client.Object{&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}}
	if len(rules) > 0 {
		objs = append(objs, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Rules: rules},
			&rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
				Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}},
			})
	}
	for _, o := range objs {
		if err := c.client.Create(t.Context(), o); err != nil {
			t.Fatalf("testenv: create %T %s/%s: %v", o, ns, name, err)
		}
	}
	cs, err := kubernetes.NewForConfig(c.config)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), name,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("testenv: token of service account %s/%s: %v", ns, name, err)
	}
	return tr.Status.Token
}
