package manifest

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/serinhq/serin/api/v1beta1"
)

// Source is where an object was read from.
type Source struct {
	// File is the path as given (or found in a directory); "<stdin>" for
	// standard input.
	File string
	// Document is the 0-based index of the YAML document in File.
	Document int
	// Line is the 1-based line where the object starts.
	Line int
	// APIVersion is the apiVersion as written, e.g. "flagger.app/v1beta1"
	// for a Flagger Canary that was converted to serin.dev/v1beta1.
	APIVersion string
}

// String returns "file:line".
func (s Source) String() string { return fmt.Sprintf("%s:%d", s.File, s.Line) }

// Object is one decoded object and where it came from.
type Object struct {
	Source Source
	// Object is a *v1beta1.Canary, *v1beta1.MetricTemplate,
	// *v1beta1.AlertProvider, *appsv1.Deployment, *corev1.Service,
	// *corev1.ConfigMap, *corev1.Secret or *corev1.Namespace; or an
	// *unstructured.Unstructured when the Loader keeps unknown kinds.
	Object runtime.Object

	lines lineMap
	// pruned are the paths of the fields that were reported while
	// reading (unknown, or of the wrong type) and left out of Object;
	// validation says nothing more about them.
	pruned []string
}

// prunedPath reports whether path is at or under a field left out while
// reading.
func (o *Object) prunedPath(path string) bool {
	for _, p := range o.pruned {
		if path == p || strings.HasPrefix(path, p+".") || strings.HasPrefix(path, p+"[") {
			return true
		}
	}
	return false
}

// Line returns the line of the field at path (e.g.
// "spec.analysis.metrics[0].interval" or "metadata.labels[app]"), of its
// closest parent that was written, or of the object's start.
func (o *Object) Line(path string) int {
	if l, ok := o.lines.lookup(path); ok {
		return l
	}
	return o.Source.Line
}

// Set is the objects read from a set of files, in the order they were read.
type Set struct {
	Objects []*Object
	// ProxyConfigs are the configurations of serin proxy read with
	// Loader.ProxyConfig set.
	ProxyConfigs []Source
	// Files lists the files read, in order.
	Files []string
}

// Find returns the Object holding obj (compared by identity), or nil.
func (s *Set) Find(obj runtime.Object) *Object {
	for _, o := range s.Objects {
		if o.Object == obj {
			return o
		}
	}
	return nil
}

// Canaries returns the Canaries in load order.
func (s *Set) Canaries() []*v1beta1.Canary { return ofType[*v1beta1.Canary](s) }

// MetricTemplates returns the MetricTemplates in load order.
func (s *Set) MetricTemplates() []*v1beta1.MetricTemplate {
	return ofType[*v1beta1.MetricTemplate](s)
}

// AlertProviders returns the AlertProviders in load order.
func (s *Set) AlertProviders() []*v1beta1.AlertProvider {
	return ofType[*v1beta1.AlertProvider](s)
}

// Deployments returns the Deployments in load order.
func (s *Set) Deployments() []*appsv1.Deployment { return ofType[*appsv1.Deployment](s) }

// Services returns the Services in load order.
func (s *Set) Services() []*corev1.Service { return ofType[*corev1.Service](s) }

// ConfigMaps returns the ConfigMaps in load order.
func (s *Set) ConfigMaps() []*corev1.ConfigMap { return ofType[*corev1.ConfigMap](s) }

// Secrets returns the Secrets in load order.
func (s *Set) Secrets() []*corev1.Secret { return ofType[*corev1.Secret](s) }

// Namespaces returns the Namespaces in load order.
func (s *Set) Namespaces() []*corev1.Namespace { return ofType[*corev1.Namespace](s) }

func ofType[T runtime.Object](s *Set) []T {
	var out []T
	for _, o := range s.Objects {
		if t, ok := o.Object.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// Problem is one thing wrong with a manifest.
type Problem struct {
	// Warning marks something accepted that is likely not what was
	// meant; it is not an error.
	Warning bool
	File    string
	// Line is 1-based; 0 when unknown.
	Line int
	// Field is the field path, e.g. "spec.analysis.stepWeight"; empty for
	// problems of a whole file or document.
	Field   string
	Message string
}

// Error formats the problem as "file:line: field: message".
func (p Problem) Error() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	}
	if p.Warning {
		b.WriteString("warning: ")
	}
	if p.Field != "" {
		b.WriteString(p.Field)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is every problem found, in file and line order. It is the error
// type of loading and validating.
type Problems []Problem

// Error prints one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// orNil returns ps as an error, or nil when there are none.
func (ps Problems) orNil() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}
