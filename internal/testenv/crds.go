//go:build unix

package testenv

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// InstallCRDs creates (or updates) the CustomResourceDefinitions in the
// given files and directories and waits until they are served. A directory
// contributes its *.yaml, *.yml and *.json files, not its subdirectories;
// documents of other kinds are ignored. CRDs given in Options.CRDs are
// installed before the controller manager starts, so that its garbage
// collector knows them at once; CRDs installed later are known to it
// within 30 seconds.
func (c *Cluster) InstallCRDs(t testing.TB, paths ...string) {
	t.Helper()
	if err := c.installCRDs(t.Context(), paths...); err != nil {
		t.Fatalf("testenv: %v", err)
	}
}

func (c *Cluster) installCRDs(ctx context.Context, paths ...string) error {
	crds, err := ReadCRDs(paths...)
	if err != nil {
		return err
	}
	for _, crd := range crds {
		if err := c.applyCRD(ctx, crd); err != nil {
			return err
		}
	}
	for _, crd := range crds {
		if err := c.waitFor(ctx, "CRD "+crd.Name, func(ctx context.Context) (bool, error) {
			return crdEstablished(ctx, c.client, crd.Name)
		}); err != nil {
			return err
		}
	}
	return nil
}

// ReadCRDs reads the CustomResourceDefinitions in the given files and
// directories (see InstallCRDs).
func ReadCRDs(paths ...string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("read CRDs: %w", err)
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		entries, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("read CRDs: %w", err)
		}
		for _, e := range entries {
			ext := strings.ToLower(filepath.Ext(e.Name()))
			if !e.IsDir() && slices.Contains([]string{".yaml", ".yml", ".json"}, ext) {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read CRDs: %w", err)
		}
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
		for {
			var crd apiextensionsv1.CustomResourceDefinition
			err := dec.Decode(&crd)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read CRDs from %s: %w", f, err)
			}
			if crd.Kind != "CustomResourceDefinition" {
				continue
			}
			crds = append(crds, &crd)
		}
	}
	if len(crds) == 0 {
		return nil, fmt.Errorf("read CRDs: no CustomResourceDefinition in %s", strings.Join(paths, ", "))
	}
	return crds, nil
}

func (c *Cluster) applyCRD(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) error {
	err := c.client.Create(ctx, crd.DeepCopy())
	if !apierrors.IsAlreadyExists(err) {
		if err != nil {
			return fmt.Errorf("create CRD %s: %w", crd.Name, err)
		}
		return nil
	}
	var cur apiextensionsv1.CustomResourceDefinition
	if err := c.client.Get(ctx, client.ObjectKey{Name: crd.Name}, &cur); err != nil {
		return fmt.Errorf("update CRD %s: %w", crd.Name, err)
	}
	cur.Spec = crd.Spec
	if err := c.client.Update(ctx, &cur); err != nil {
		return fmt.Errorf("update CRD %s: %w", crd.Name, err)
	}
	return nil
}

func crdEstablished(ctx context.Context, cl client.Client, name string) (bool, error) {
	var crd apiextensionsv1.CustomResourceDefinition
	if err := cl.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
		return false, err
	}
	var established, named bool
	for _, cond := range crd.Status.Conditions {
		switch cond.Type {
		case apiextensionsv1.Established:
			established = cond.Status == apiextensionsv1.ConditionTrue
		case apiextensionsv1.NamesAccepted:
			named = cond.Status == apiextensionsv1.ConditionTrue
		}
	}
	return established && named, nil
}
