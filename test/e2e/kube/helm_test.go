package kube

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
	"github.com/serinhq/serin/internal/kube"
	"github.com/serinhq/serin/internal/testenv"
)

// TestHelmInstall installs deploy/chart/serin with helm on a cluster that
// enforces RBAC, then runs the `serin controller` binary with the args of
// the Deployment the chart created, as the chart's ServiceAccount: the
// chart's CRDs, RBAC and args are enough for the walkthrough's release to
// be promoted.
func TestHelmInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	helmBin := testenv.Helm(t)
	s, err := kube.NewScheme()
	if err != nil {
		t.Fatal(err)
	}
	if err := apiextensionsv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	// serin's CRDs come from the chart; the routers' are the cluster's.
	cluster := testenv.Start(t, testenv.Options{Scheme: s, CRDs: []string{repoRoot + "/deploy/crds/thirdparty"}, RBAC: true})
	bin := buildSerin(t)
	e := setupMesh(t, cluster, "test", false)
	ctx := t.Context()

	const release, ns = "serin", "serin-system"
	home := t.TempDir()
	helm := exec.CommandContext(ctx, helmBin, "install", release, repoRoot+"/deploy/chart/serin",
		"--kubeconfig", cluster.Kubeconfig(), "--namespace", ns, "--create-namespace",
		"--set", "meshProvider=linkerd", "--set", "metricsServer="+e.prom.URL,
		"--set", "leaderElection.enabled=true")
	helm.Env = append(os.Environ(), "HELM_CACHE_HOME="+home+"/cache", "HELM_CONFIG_HOME="+home+"/config", "HELM_DATA_HOME="+home+"/data")
	var out bytes.Buffer
	helm.Stdout, helm.Stderr = &out, &out
	if err := helm.Run(); err != nil {
		t.Fatalf("helm install: %v\n%s", err, out.String())
	}

	// The controller as the chart's ServiceAccount, with the chart's args.
	d := &appsv1.Deployment{}
	if err := e.cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: release}, d); err != nil {
		t.Fatalf("the chart's Deployment: %v", err)
	}
	healthAddr := freeAddr(t)
	_, port, err := net.SplitHostPort(healthAddr)
	if err != nil {
		t.Fatal(err)
	}
	args := append(d.Spec.Template.Spec.Containers[0].Args,
		"-kubeconfig="+serviceAccountKubeconfig(t, cluster, ns, d.Spec.Template.Spec.ServiceAccountName),
		"-port="+port)
	startControllerProcess(t, bin, healthAddr, args)

	c := loadCanary(t, e.ns)
	c.Spec.Analysis.Interval = "10s" // the controller's minimum
	c.Spec.Analysis.StepWeight, c.Spec.Analysis.MaxWeight = 50, 100
	for i := range c.Spec.Analysis.Metrics {
		c.Spec.Analysis.Metrics[i].Interval = "10s"
	}
	c.Spec.ProgressDeadlineSeconds = ptr.To[int32](60)
	e.initialize(t, c)
	checkInitialized(t, e)
	setImage(t, e.cl, e.ns, "podinfo", "podinfod", image171)
	waitPhase(t, e.cl, e.ns, "podinfo", v1beta1.PhaseSucceeded, 3*time.Minute, v1beta1.PhaseFailed)
	checkPromoted(t, e, image171)
}

// serviceAccountKubeconfig writes a kubeconfig that authenticates as the
// ServiceAccount ns/name with a token from the TokenRequest API.
func serviceAccountKubeconfig(t *testing.T, cluster *testenv.Cluster, ns, name string) string {
	t.Helper()
	cfg := cluster.RESTConfig()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(t.Context(), name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("token of ServiceAccount %s/%s: %v", ns, name, err)
	}
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		if ca, err = os.ReadFile(cfg.CAFile); err != nil {
			t.Fatal(err)
		}
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["test"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: ca, InsecureSkipTLSVerify: cfg.Insecure}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["test"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: name, Namespace: ns}
	kc.CurrentContext = "test"
	path := filepath.Join(t.TempDir(), strings.ReplaceAll(name, ":", "-")+".kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}
