package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/svcnames"
)

// NamesPath is the file in a state directory that holds the names table
// of the running runtime, named to its processes by svcnames.EnvVar.
func NamesPath(stateDir string) string { return filepath.Join(stateDir, "names.json") }

// Dialer resolves Kubernetes Service names (name.namespace[.svc[.cluster.local]])
// to the runtime's listeners; the engine's webhooks, metric queries and
// alerts dial through it.
func (r *Runtime) Dialer() *svcnames.Dialer {
	return &svcnames.Dialer{Table: r.names.Load}
}

// publishNamesLocked makes the names of routes the table in effect, for
// the runtime's clients and, through NamesPath, for its processes.
func (r *Runtime) publishNamesLocked(routes []Route) {
	t := &svcnames.Table{}
	for _, rt := range routes {
		t.Add(svcnames.Name{Service: rt.Service, Namespace: rt.Namespace}, rt.Port, rt.Addr)
	}
	r.names.Store(t)
	b, _ := json.Marshal(t) // a table always marshals
	if bytes.Equal(b, r.namesWritten) {
		return
	}
	if err := svcnames.WriteFile(NamesPath(r.opts.StateDir), t); err != nil {
		r.log.Error("write service names", "err", err)
		return
	}
	r.namesWritten = b
}

// nameTable is the table of the names the objects make: each Service's
// ports, and the <service>-primary and <service>-canary Services of each
// Canary on its apex Service's ports. The addresses are placeholders:
// it answers what resolves, for the check, not where.
func (o *objects) nameTable() *svcnames.Table {
	t := &svcnames.Table{}
	for _, s := range o.services {
		names := []string{s.Name}
		if o.canaryOfService(s.Namespace, s.Name) != nil {
			names = append(names, s.Name+"-primary", s.Name+"-canary")
		}
		for _, n := range names {
			for _, p := range s.Spec.Ports {
				t.Add(svcnames.Name{Service: n, Namespace: s.Namespace}, p.Port, "local")
			}
		}
	}
	return t
}

// addressed is an address an object names, and the field that holds it.
type addressed struct{ field, url string }

// addressesOf are the URLs an object names that the local runtime's
// clients call: a Canary's webhooks, the URLs in their commands (the
// loadtester's hey runs them), its metricsServer; a MetricTemplate's
// provider; an AlertProvider's address.
func addressesOf(obj any) []addressed {
	var out []addressed
	switch v := obj.(type) {
	case *v1beta1.Canary:
		if v.Spec.MetricsServer != "" {
			out = append(out, addressed{"spec.metricsServer", v.Spec.MetricsServer})
		}
		if v.Spec.Analysis == nil {
			return nil
		}
		for i, w := range v.Spec.Analysis.Webhooks {
			at := fmt.Sprintf("spec.analysis.webhooks[%d]", i)
			out = append(out, addressed{at + ".url", w.URL})
			for _, k := range slices.Sorted(maps.Keys(w.Metadata)) {
				for _, word := range strings.Fields(w.Metadata[k]) {
					word = strings.Trim(word, `"'`)
					if strings.HasPrefix(word, "http://") || strings.HasPrefix(word, "https://") {
						out = append(out, addressed{at + ".metadata." + k, word})
					}
				}
			}
		}
	case *v1beta1.MetricTemplate:
		if v.Spec.Provider.Address != "" {
			out = append(out, addressed{"spec.provider.address", v.Spec.Provider.Address})
		}
	case *v1beta1.AlertProvider:
		if v.Spec.Address != "" {
			out = append(out, addressed{"spec.address", v.Spec.Address})
		}
	}
	return out
}

// unresolved are the refusals of the objects applied that name, by a
// Kubernetes name, a Service or a port that the planned objects do not
// hold: serin run would resolve such a name locally (see svcnames) and
// find nothing behind it.
func (o *objects) unresolved(objs []any) []refusal {
	var t *svcnames.Table
	var rs []refusal
	for i, obj := range objs {
		for _, a := range addressesOf(obj) {
			if t == nil {
				t = o.nameTable()
			}
			_, local, err := t.ResolveURL(a.url)
			if !local || err == nil {
				continue
			}
			msg := fmt.Sprintf("%s: %v", a.url, err)
			if ne := (*svcnames.NoServiceError)(nil); errors.As(err, &ne) && ne.Ports == nil {
				msg += " (a Kubernetes name reaches the local Service of that name and namespace: apply that Service too, or fix the name)"
			}
			rs = append(rs, refusal{i, a.field, msg})
		}
	}
	return rs
}

// serviceListenPort is the port the Service name listens on for the
// first port of s (name is s's own, or one its Canary makes), for its
// NAME_SERVICE_PORT variable; 0 when s has no port.
func (r *Runtime) serviceListenPort(s *corev1.Service, name string, made bool) int {
	if len(s.Spec.Ports) == 0 {
		return 0
	}
	var p int
	_, _ = fmt.Sscanf(r.listenAddrLocked(s.Namespace, name, s.Spec.Ports[0].Port, made), "127.0.0.1:%d", &p)
	return p
}
