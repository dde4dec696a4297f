package local

import (
	"strings"
	"testing"

	"github.com/serinhq/serin/internal/manifest"
)

const checkApp = `apiVersion: apps/v1
kind: Deployment
metadata: {name: podinfo, namespace: test}
spec:
  selector: {matchLabels: {app: podinfo}}
  template:
    metadata: {labels: {app: podinfo}}
    spec:
      containers:
        - name: podinfod
          command: [serin, podinfo]
---
apiVersion: v1
kind: Service
metadata: {name: podinfo, namespace: test}
spec:
  selector: {app: podinfo}
  ports:
    - port: 9898
`

const checkCanary = `apiVersion: serin.dev/v1beta1
kind: Canary
metadata: {name: %NAME%, namespace: test}
spec:
  targetRef: {apiVersion: apps/v1, kind: Deployment, name: podinfo}
  service: {port: %PORT%}
  analysis: {interval: 1s, threshold: 5, stepWeight: 10}
`

func canaryYAML(name, port string) string {
	return strings.NewReplacer("%NAME%", name, "%PORT%", port).Replace(checkCanary)
}

func decodeSet(t *testing.T, files ...string) *manifest.Set {
	t.Helper()
	set := &manifest.Set{}
	for i := 0; i+1 < len(files); i += 2 {
		s, err := manifest.Decode(strings.NewReader(files[i+1]), files[i])
		if err != nil {
			t.Fatalf("decode %s: %v", files[i], err)
		}
		set.Objects = append(set.Objects, s.Objects...)
		set.Files = append(set.Files, s.Files...)
	}
	return set
}

// TestCheckRefusesWhatRunRefuses: every object the local runtime cannot
// run is reported with its file, line and why, before anything runs.
func TestCheckRefusesWhatRunRefuses(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		want  []string
	}{{
		name: "two Services on one port",
		files: []string{"app.yaml", checkApp, "other.yaml", `apiVersion: v1
kind: Service
metadata: {name: other, namespace: test}
spec:
  selector: {app: other}
  ports:
    - port: 8080
    - port: 9898
`},
		want: []string{"other.yaml:8: spec.ports[1].port: port 9898 is also the port of service test/podinfo (at app.yaml:13): each Service port is a listener on 127.0.0.1"},
	}, {
		name: "the apex Service a Canary makes, on another Service's port",
		files: []string{"app.yaml", strings.Replace(checkApp, "name: podinfo, namespace: test}\nspec:\n  selector: {app: podinfo}", "name: frontend, namespace: test}\nspec:\n  selector: {app: podinfo}", 1),
			"canary.yaml", canaryYAML("podinfo", "9898")},
		want: []string{"canary.yaml:6: spec.service.port: port 9898 is also the port of service test/frontend (at app.yaml:13)"},
	}, {
		name:  "a port out of range",
		files: []string{"app.yaml", strings.Replace(checkApp, "port: 9898", "port: 0", 1)},
		want:  []string{"app.yaml:19: spec.ports[0].port: must be between 1 and 65535, got 0"},
	}, {
		name: "a ConfigMap and a Secret, by their kind",
		files: []string{"app.yaml", checkApp, "config.yaml", `apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: test}
data: {COLOR: blue}
---
apiVersion: v1
kind: Secret
metadata: {name: token, namespace: test}
stringData: {TOKEN: x}
`},
		want: []string{
			"config.yaml:2: kind: ConfigMap is not supported by the local runtime",
			"config.yaml:7: kind: Secret is not supported by the local runtime",
		},
	}, {
		name: "env from a ConfigMap",
		files: []string{"app.yaml", strings.Replace(checkApp, "command: [serin, podinfo]", `command: [serin, podinfo]
          env:
            - name: COLOR
              valueFrom: {configMapKeyRef: {name: settings, key: COLOR}}
          envFrom:
            - secretRef: {name: token}`, 1)},
		want: []string{
			"app.yaml:13: spec.template.spec.containers[0].env[0]: valueFrom: only fieldRef is supported locally: no ConfigMaps or Secrets run locally",
			"app.yaml:15: spec.template.spec.containers[0].envFrom: not supported by the local runtime",
		},
	}, {
		name:  "two Canaries with one name",
		files: []string{"app.yaml", checkApp, "a.yaml", canaryYAML("podinfo", "9898"), "b.yaml", canaryYAML("podinfo", "9898")},
		want:  []string{"b.yaml:3: metadata.name: canary test/podinfo is written twice (also at a.yaml:1); the last one would replace the first"},
	}, {
		name: "two Canaries on one Deployment",
		files: []string{"app.yaml", checkApp, "a.yaml", canaryYAML("podinfo", "9898"),
			"b.yaml", strings.Replace(canaryYAML("podinfo-b", "9898"), "service: {port: 9898}", "service: {port: 9898, name: podinfo}", 1)},
		want: []string{"b.yaml:5: spec.targetRef.name: deployment test/podinfo is also the target of canary test/podinfo (at a.yaml:1): one Deployment takes one Canary"},
	}, {
		name: "a Service named as one a Canary makes",
		files: []string{"app.yaml", checkApp, "canary.yaml", canaryYAML("podinfo", "9898"), "svc.yaml", `apiVersion: v1
kind: Service
metadata: {name: podinfo-canary, namespace: test}
spec:
  ports: [{port: 9899}]
`},
		want: []string{"svc.yaml:3: metadata.name: canary test/podinfo (at canary.yaml:1) makes a service of this name for itself (the canary's Service)"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			set := decodeSet(t, tc.files...)
			err := Check(set)
			if err == nil {
				t.Fatalf("Check accepted the set; want %q", tc.want)
			}
			got := err.Error()
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("want %q in:\n%s", w, got)
				}
			}
			if n, m := strings.Count(got, "\n")+1, len(tc.want); n != m {
				t.Errorf("%d problems, want %d (one a line):\n%s", n, m, got)
			}
		})
	}
}

func TestCheckAcceptsWhatRuns(t *testing.T) {
	set := decodeSet(t, "app.yaml", checkApp, "canary.yaml", canaryYAML("podinfo", "9898"))
	if err := Check(set); err != nil {
		t.Fatalf("Check: %v", err)
	}
	// With a Service of its own name the Canary makes no apex Service, so
	// its port takes no listener.
	set = decodeSet(t, "app.yaml", strings.Replace(checkApp, "port: 9898", "port: 8080", 1), "canary.yaml", canaryYAML("podinfo", "9898"))
	if err := Check(set); err != nil {
		t.Fatalf("Check: %v", err)
	}
}
