package local

import (
	"flag"
	"fmt"
	"io"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// isFlaggerLoadtester reports whether image (with any tag or digest, and
// Docker Hub's registry spelt out or not) is Flagger's loadtester.
func isFlaggerLoadtester(image string) bool {
	switch imageRepo(image) {
	case "ghcr.io/fluxcd/flagger-loadtester", "weaveworks/flagger-loadtester":
		return true
	}
	return false
}

// imageRepo is an image's repository, without its tag or digest, and
// without Docker Hub's registry.
func imageRepo(image string) string {
	repo, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndexByte(repo, ':'); i > strings.LastIndexByte(repo, '/') {
		repo = repo[:i]
	}
	return strings.TrimPrefix(strings.TrimPrefix(repo, "docker.io/"), "index.docker.io/")
}

// serinContainer runs a container of serin's own image, whose entrypoint
// is serin, as the serin binary with its args; `serin loadtester` (as
// deploy/kustomize/loadtester runs it) listens on the pod's port instead
// of the --addr or --port the args name.
func serinContainer(c corev1.Container) corev1.Container {
	out := *c.DeepCopy()
	out.Command = []string{"serin"}
	if c.Args[0] != "loadtester" {
		return out
	}
	out.Args = []string{"loadtester", "--port=$(PORT)"}
	for i := 1; i < len(c.Args); i++ {
		a := c.Args[i]
		switch {
		case a == "--addr" || a == "--port" || a == "-addr" || a == "-port":
			i++ // and its value
		case strings.HasPrefix(a, "--addr=") || strings.HasPrefix(a, "--port=") || strings.HasPrefix(a, "-addr=") || strings.HasPrefix(a, "-port="):
		default:
			out.Args = append(out.Args, a)
		}
	}
	return out
}

// localContainer is the container as the local runtime runs it. Images
// are not run, except serin's own (see serinContainer) and Flagger's
// loadtester: a container of that image
// whose command is not serin runs `serin loadtester` on the pod's port,
// with the timeout of Flagger's -timeout flag, and its probes ask
// /healthz on the pod's port (Flagger's manifests probe with wget, which
// the machine may not have). Flagger's flags serin's loadtester has no
// counterpart of are refused; the error is about the container's
// command (or its args when it has none: containerWordsField).
func localContainer(c corev1.Container) (corev1.Container, error) {
	if imageRepo(c.Image) == "ghcr.io/serinhq/serin" && len(c.Command) == 0 && len(c.Args) > 0 {
		return serinContainer(c), nil
	}
	if !isFlaggerLoadtester(c.Image) || (len(c.Command) > 0 && c.Command[0] == "serin") {
		return c, nil
	}
	words := append(append([]string(nil), c.Command...), c.Args...)
	if len(c.Command) > 0 {
		if path.Base(words[0]) != "loadtester" {
			return c, fmt.Errorf("%q is not Flagger's loadtester (./loadtester), which is what runs locally, as serin loadtester", words[0])
		}
		words = words[1:]
	}
	fs := flag.NewFlagSet("loadtester", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("port", "", "")
	fs.String("log-level", "", "")
	fs.String("zap-encoding", "", "")
	fs.Bool("zap-replace-globals", false, "")
	timeout := fs.Duration("timeout", 0, "")
	if err := fs.Parse(words); err != nil {
		return c, fmt.Errorf("Flagger's loadtester runs locally as serin loadtester, which takes its -port, -timeout, -log-level and -zap-encoding: %w", err)
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments %q for Flagger's loadtester", fs.Args())
	}
	out := *c.DeepCopy()
	out.Command = []string{"serin", "loadtester"}
	out.Args = []string{"--port=$(PORT)"}
	if *timeout > 0 {
		out.Args = append(out.Args, "--timeout="+timeout.String())
	}
	health := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}}
	for _, p := range []**corev1.Probe{&out.ReadinessProbe, &out.LivenessProbe} {
		if *p == nil {
			continue
		}
		np := (*p).DeepCopy()
		np.ProbeHandler = health.ProbeHandler
		*p = np
	}
	if out.ReadinessProbe == nil {
		out.ReadinessProbe = health
	}
	return out, nil
}

// containerWordsField is the field of a container that localContainer's
// errors are about.
func containerWordsField(c corev1.Container) string {
	if len(c.Command) > 0 {
		return "command"
	}
	return "args"
}

// localContainers are the containers of a pod as the local runtime runs
// them (see localContainer).
func localContainers(cs []corev1.Container) ([]corev1.Container, error) {
	out := make([]corev1.Container, len(cs))
	for i, c := range cs {
		lc, err := localContainer(c)
		if err != nil {
			return nil, fmt.Errorf("container %q: %s: %w", c.Name, containerWordsField(c), err)
		}
		out[i] = lc
	}
	return out, nil
}
