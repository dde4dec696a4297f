package local

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"PORT": "8080", "HOST": "127.0.0.1", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	for in, want := range map[string]string{
		"--port=$(PORT)":         "--port=8080",
		"http://$(HOST):$(PORT)": "http://127.0.0.1:8080",
		"$(UNKNOWN)":             "$(UNKNOWN)",
		"$$(PORT)":               "$(PORT)",
		"$$$(PORT)":              "$8080",
		"$(PORT":                 "$(PORT",
		"a$b":                    "a$b",
		"end$":                   "end$",
		"x$(EMPTY)y":             "xy",
		"$()":                    "$()",
	} {
		if got := Expand(in, lookup); got != want {
			t.Errorf("Expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestContainerEnvAndCommandLine(t *testing.T) {
	c := corev1.Container{
		Name:    "app",
		Command: []string{"serin", "podinfo"},
		Args:    []string{"--port=$(PORT)", "--upstream=http://$(PODINFO_SERVICE_HOST):$(PODINFO_SERVICE_PORT)", "$(GREETING)"},
		Env: []corev1.EnvVar{
			{Name: "NAME", Value: "world"},
			{Name: "GREETING", Value: "hello-$(NAME)-on-$(PORT)"},
			{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		},
	}
	env, err := ContainerEnv(c, PodEnv{PodName: "app-1", Namespace: "test", Port: 4000, Image: "img:1.7.1", Services: ServiceEnv("podinfo", 9898)})
	if err != nil {
		t.Fatal(err)
	}
	get := func(k string) string {
		i := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == k })
		if i < 0 {
			return "<unset>"
		}
		return env[i].Value
	}
	for k, want := range map[string]string{
		"PORT": "4000", "HOSTNAME": "app-1", "SERIN_CONTAINER_IMAGE": "img:1.7.1",
		"PODINFO_SERVICE_HOST": "127.0.0.1", "PODINFO_SERVICE_PORT": "9898",
		"GREETING": "hello-world-on-4000", "POD": "app-1",
	} {
		if got := get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	argv, err := CommandLine(c, env)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"serin", "podinfo", "--port=4000", "--upstream=http://127.0.0.1:9898", "hello-world-on-4000"}
	if !slices.Equal(argv, want) {
		t.Errorf("argv = %q, want %q", argv, want)
	}

	bad := corev1.Container{Name: "x", Args: []string{"a"}, Env: []corev1.EnvVar{{Name: "S", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{}}}}}
	if _, err := ContainerEnv(bad, PodEnv{}); err == nil {
		t.Error("a secret env var: want an error, got none")
	}
	if _, err := CommandLine(corev1.Container{Name: "empty"}, nil); err == nil {
		t.Error("no command: want an error, got none")
	}
}
