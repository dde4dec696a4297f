package local

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/serinhq/serin/internal/svcnames"
)

// Expand replaces each $(VAR) in s with the value lookup gives for VAR, as
// Kubernetes expands a container's command, args and env: $$ is a literal $
// (so $$(VAR) stays $(VAR)), and a reference to an unknown variable is kept
// as written.
func Expand(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok && name != "" {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// PodEnv is what a pod's process knows about itself and its surroundings.
type PodEnv struct {
	PodName   string
	Namespace string
	// Port is the free loopback port the pod listens on.
	Port int
	// Image of the container, which a process may read as
	// SERIN_CONTAINER_IMAGE (podinfo takes its version from it).
	Image string
	// Services are the variables Kubernetes gives a pod for each Service of
	// its namespace (NAME_SERVICE_HOST, NAME_SERVICE_PORT), in order.
	Services []corev1.EnvVar
	// Names is the file of the runtime's names table, given as
	// SERIN_SERVICE_NAMES (svcnames.EnvVar) when set.
	Names string
}

// ContainerEnv returns the environment of a container's process, in the
// order Kubernetes builds it: the runtime's variables first (PORT,
// HOSTNAME, the Services'), then the container's env, each expanded with
// the variables before it. Env taken from ConfigMaps or Secrets is not
// available locally and is reported as an error.
func ContainerEnv(c corev1.Container, p PodEnv) ([]corev1.EnvVar, error) {
	env := []corev1.EnvVar{
		{Name: "PORT", Value: fmt.Sprint(p.Port)},
		{Name: "HOSTNAME", Value: p.PodName},
		{Name: "SERIN_CONTAINER_IMAGE", Value: p.Image},
	}
	if p.Names != "" {
		env = append(env, corev1.EnvVar{Name: svcnames.EnvVar, Value: p.Names})
	}
	env = append(env, p.Services...)
	vals := make(map[string]string, len(env)+len(c.Env))
	for _, e := range env {
		vals[e.Name] = e.Value
	}
	lookup := func(k string) (string, bool) { v, ok := vals[k]; return v, ok }
	for i, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil {
			fv, err := fieldValue(e.ValueFrom, p)
			if err != nil {
				return nil, fmt.Errorf("env[%d] (%s): %w", i, e.Name, err)
			}
			v = fv
		} else {
			v = Expand(v, lookup)
		}
		vals[e.Name] = v
		env = append(env, corev1.EnvVar{Name: e.Name, Value: v})
	}
	return env, nil
}

func fieldValue(src *corev1.EnvVarSource, p PodEnv) (string, error) {
	if src.FieldRef == nil {
		return "", fmt.Errorf("valueFrom: only fieldRef is supported locally")
	}
	switch src.FieldRef.FieldPath {
	case "metadata.name":
		return p.PodName, nil
	case "metadata.namespace":
		return p.Namespace, nil
	case "status.podIP", "status.hostIP":
		return "127.0.0.1", nil
	default:
		return "", fmt.Errorf("valueFrom.fieldRef.fieldPath: %q is not supported locally", src.FieldRef.FieldPath)
	}
}

// CommandLine returns the expanded command and args of a container. Without
// a command the args are the command, since there is no image entrypoint.
func CommandLine(c corev1.Container, env []corev1.EnvVar) ([]string, error) {
	vals := make(map[string]string, len(env))
	for _, e := range env {
		vals[e.Name] = e.Value
	}
	lookup := func(k string) (string, bool) { v, ok := vals[k]; return v, ok }
	var argv []string
	for _, s := range append(append([]string(nil), c.Command...), c.Args...) {
		argv = append(argv, Expand(s, lookup))
	}
	if len(argv) == 0 {
		return nil, fmt.Errorf("container %q: command: no command or args to run (images are not run locally)", c.Name)
	}
	return argv, nil
}

// ServiceEnv returns the NAME_SERVICE_HOST and NAME_SERVICE_PORT variables
// of a Service, as Kubernetes names them.
func ServiceEnv(name string, port int) []corev1.EnvVar {
	prefix := strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	return []corev1.EnvVar{
		{Name: prefix + "_SERVICE_HOST", Value: "127.0.0.1"},
		{Name: prefix + "_SERVICE_PORT", Value: fmt.Sprint(port)},
	}
}
