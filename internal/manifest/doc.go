// Package manifest reads Kubernetes-style manifests (YAML or JSON, one or
// many documents per file, files or whole directories, or standard input)
// into typed objects, and reports every problem it finds with the file,
// line and field path it belongs to:
//
//	canary.yaml:12: spec.analysis.stepWeight: must be between 1 and 100, got 0
//
// It knows serin's kinds (Canary, MetricTemplate, AlertProvider of
// serin.dev/v1beta1), Flagger's versions of them (flagger.app/v1beta1,
// converted to serin.dev/v1beta1 with their content unchanged), and the
// Kubernetes kinds that go with them: apps/v1 Deployment and v1 Service,
// ConfigMap, Secret and Namespace (what the local runtime runs of these is
// its own check, local.Check). A v1 List is read item by item.
// Other kinds are an error, or, with Loader.KeepUnknown, kept as
// *unstructured.Unstructured.
//
// Decoding is strict: an unknown field, a duplicate key or a value of the
// wrong type is an error, with a suggestion when an unknown field is a near
// miss of a known one (`unknown field, did you mean "stepWeight"?`).
//
// Use it in two steps, load then validate:
//
//	set, err := manifest.LoadPaths("examples/podinfo")
//	if err != nil {
//		return err // a Problems listing every document that did not decode
//	}
//	if err := set.Validate(v1beta1.ValidationOptions{MinInterval: v1beta1.MinIntervalLocal, NoCluster: true}); err != nil {
//		return err // a Problems listing every invalid field
//	}
//	for _, c := range set.Canaries() {
//		c.Default()
//	}
//
// Errors of both steps are of type Problems, which prints one problem per
// line. LoadPaths returns the objects that did decode along with the
// problems of those that did not, so a caller may validate them too.
// Objects are returned as written: call Default on a Canary before running
// it.
package manifest
