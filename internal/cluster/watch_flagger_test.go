package cluster

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/serinhq/serin/internal/testenv"
)

// TestWatcherFlaggerLater checks that Flagger's Canaries are watched once
// their CRD is installed, after the Watcher started without it.
func TestWatcherFlaggerLater(t *testing.T) {
	c := testenv.Start(t, testenv.Options{CRDs: []string{"../../deploy/crds"}, ControlPlaneOnly: true})
	ns := c.CreateNamespace(t, "test")
	defer func(d time.Duration) { flaggerRecheck = d }(flaggerRecheck)
	flaggerRecheck = 100 * time.Millisecond

	w, err := NewWatcher(c.RESTConfig(), WatchOptions{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Start: %v", err)
		}
	}()
	if _, err := w.Snapshot(t.Context()); err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile("../../deploy/crds/serin.dev_canaries.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.ReplaceAll(string(b), "canaries.serin.dev", "canaries.flagger.app")
	s = strings.ReplaceAll(s, "group: serin.dev", "group: flagger.app")
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal([]byte(s), crd); err != nil {
		t.Fatal(err)
	}
	if err := c.Client().Create(t.Context(), crd); err != nil {
		t.Fatal(err)
	}
	legacy := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "flagger.app/v1beta1", "kind": "Canary",
		"metadata": map[string]any{"name": "legacy", "namespace": ns},
		"spec": map[string]any{
			"targetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy"},
			"service":   map[string]any{"port": int64(8080)},
		},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := c.Client().Create(t.Context(), legacy) // until the CRD is established
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("create a flagger.app Canary: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for {
		snap, err := w.Snapshot(t.Context())
		if err == nil && len(snap.Canaries) == 1 && snap.Canaries[0].APIVersion == "flagger.app/v1beta1" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flagger.app Canary never showed: %+v %v", snap.Canaries, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
