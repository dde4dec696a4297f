package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// typeMetaFor returns the TypeMeta of a kind of this package.
func typeMetaFor(kind string) metav1.TypeMeta {
	return metav1.TypeMeta{APIVersion: GroupVersion.String(), Kind: kind}
}

func objectMeta(name, namespace string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: namespace}
}
