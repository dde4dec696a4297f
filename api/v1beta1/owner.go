package v1beta1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// FlaggerGroupVersion is flagger.app/v1beta1, the group and version of
// Flagger's kinds.
const FlaggerGroupVersion = FlaggerGroup + "/v1beta1"

// IsFlagger says whether c was read as a flagger.app Canary: its apiVersion
// is flagger.app/v1beta1.
func (c *Canary) IsFlagger() bool { return c.APIVersion == FlaggerGroupVersion }

// ControllerRef is the controller reference of the objects a release of c
// creates (the primary, its Services, its routes): to a flagger.app Canary
// when c was read as one (see IsFlagger), else to a serin.dev Canary. A
// reference to the wrong group would name an owner that does not exist,
// and the garbage collector would delete the object.
func (c *Canary) ControllerRef() metav1.OwnerReference {
	gv := GroupVersion.String()
	if c.IsFlagger() {
		gv = FlaggerGroupVersion
	}
	controller, block := true, true
	return metav1.OwnerReference{
		APIVersion:         gv,
		Kind:               "Canary",
		Name:               c.Name,
		UID:                c.UID,
		Controller:         &controller,
		BlockOwnerDeletion: &block,
	}
}
