//go:build unix

package testenv

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/serinhq/serin/api/v1beta1"
)

// FakeNodeAnnotation marks the Nodes that kwok manages.
const FakeNodeAnnotation = "kwok.x-k8s.io/node"

// Options tune Start.
type Options struct {
	// CRDs are files or directories of CustomResourceDefinition manifests
	// installed once the cluster is ready.
	CRDs []string
	// Scheme is the scheme of Client. The default has client-go's kinds,
	// CustomResourceDefinitions and serin's v1beta1 kinds.
	Scheme *runtime.Scheme
	// StartTimeout bounds the wait for each component to become ready.
	// Defaults to 2 minutes.
	StartTimeout time.Duration
	// ControllerManagerArgs are added to kube-controller-manager's flags.
	ControllerManagerArgs []string
	// APIServerArgs are added to kube-apiserver's flags.
	APIServerArgs []string
	// RBAC runs kube-apiserver with --authorization-mode=RBAC instead of
	// AlwaysAllow. The admin (group system:masters) may still do anything;
	// Users get only what Roles bound to them allow.
	RBAC bool
	// Users are names of further users, each with a token of its own and
	// no group but system:authenticated; UserKubeconfig returns a
	// kubeconfig for one.
	Users []string
	// ControlPlaneOnly starts etcd and kube-apiserver alone: no
	// kube-controller-manager, kube-scheduler, kwok or Node. Nothing acts
	// on Deployments then; a test that needs them rolled out plays the
	// Deployment controller itself (see MarkDeploymentsReady).
	ControlPlaneOnly bool
}

// Cluster is a running control plane with one kwok node, or the control
// plane alone (Options.ControlPlaneOnly).
type Cluster struct {
	dir        string
	config     *rest.Config
	kubeconfig string
	client     client.Client
	scheme     *runtime.Scheme
	procs      []*process
	timeout    time.Duration
	users      map[string]string // user name -> kubeconfig path
}

// NodeName is the name of the cluster's fake Node.
const NodeName = "kwok-node-0"

// DefaultScheme returns a scheme with client-go's kinds,
// CustomResourceDefinitions and serin's v1beta1 kinds.
func DefaultScheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme, apiextensionsv1.AddToScheme, v1beta1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, fmt.Errorf("build scheme: %w", err)
		}
	}
	return s, nil
}

// Start starts a cluster for the test and stops it when the test ends. It
// skips the test when the binaries are not installed (see the package
// documentation).
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	bins := map[string]string{}
	names := []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
	if opts.ControlPlaneOnly {
		names = names[:2]
	}
	for _, name := range names {
		bins[name] = binary(t, name)
	}
	c := &Cluster{dir: t.TempDir(), timeout: opts.StartTimeout, scheme: opts.Scheme}
	if c.timeout == 0 {
		c.timeout = 2 * time.Minute
	}
	if c.scheme == nil {
		s, err := DefaultScheme()
		if err != nil {
			t.Fatal(err)
		}
		c.scheme = s
	}
	t.Cleanup(func() { c.stop(t) })

	ctx := t.Context()
	start := time.Now()
	if err := c.start(ctx, bins, opts); err != nil {
		t.Fatalf("testenv: start cluster: %v", err) // the cleanup prints the logs
	}
	t.Logf("testenv: cluster ready at %s in %s (logs in %s)", c.config.Host, time.Since(start).Round(time.Millisecond), c.dir)
	return c
}

func (c *Cluster) start(ctx context.Context, bins map[string]string, opts Options) error {
	ports, err := freePorts(6)
	if err != nil {
		return err
	}
	etcdPort, peerPort, apiPort, kcmPort, schedPort, kwokPort := ports[0], ports[1], ports[2], ports[3], ports[4], ports[5]

	token, err := randomToken()
	if err != nil {
		return err
	}
	if err := writeServiceAccountKey(c.dir); err != nil {
		return err
	}
	tokenLines := token + `,admin,admin,"system:masters"` + "\n"
	userTokens := map[string]string{}
	for i, u := range opts.Users {
		ut, err := randomToken()
		if err != nil {
			return err
		}
		userTokens[u] = ut
		tokenLines += fmt.Sprintf("%s,%s,user-%d\n", ut, u, i)
	}
	tokens := filepath.Join(c.dir, "tokens.csv")
	if err := os.WriteFile(tokens, []byte(tokenLines), 0o600); err != nil {
		return fmt.Errorf("write token file: %w", err)
	}
	c.config = &rest.Config{
		Host:            "https://127.0.0.1:" + strconv.Itoa(apiPort),
		BearerToken:     token,
		TLSClientConfig: rest.TLSClientConfig{Insecure: true},
		QPS:             200,
		Burst:           400,
	}
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	if err := writeKubeconfig(c.kubeconfig, c.config); err != nil {
		return err
	}
	c.users = map[string]string{}
	for u, ut := range userTokens {
		cfg := rest.CopyConfig(c.config)
		cfg.BearerToken = ut
		path := filepath.Join(c.dir, "kubeconfig-"+u)
		if err := writeKubeconfig(path, cfg); err != nil {
			return err
		}
		c.users[u] = path
	}
	authz := "--authorization-mode=AlwaysAllow"
	if opts.RBAC {
		authz = "--authorization-mode=RBAC"
	}

	// etcd
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	if err := c.run(bins, "etcd",
		"--name=default",
		"--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL,
		"--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		"--unsafe-no-fsync",
		"--log-level=warn",
	); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, "etcd", etcdURL+"/health", ""); err != nil {
		return err
	}

	// kube-apiserver
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + filepath.Join(c.dir, "apiserver-certs"),
		"--token-auth-file=" + tokens,
		authz,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + filepath.Join(c.dir, "sa.pub"),
		"--service-account-signing-key-file=" + filepath.Join(c.dir, "sa.key"),
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
		"--service-cluster-ip-range=10.96.0.0/16",
		"--endpoint-reconciler-type=none",
		"--allow-privileged=true",
		"--enable-priority-and-fairness=false",
	}
	if err := c.run(bins, "kube-apiserver", append(args, opts.APIServerArgs...)...); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, "kube-apiserver", c.config.Host+"/readyz", token); err != nil {
		return err
	}
	cl, err := client.New(c.config, client.Options{Scheme: c.scheme})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	c.client = cl
	if len(opts.CRDs) > 0 {
		if err := c.installCRDs(ctx, opts.CRDs...); err != nil {
			return err
		}
	}
	if opts.ControlPlaneOnly {
		return nil
	}

	// kube-controller-manager, kube-scheduler
	args = []string{
		"--kubeconfig=" + c.kubeconfig,
		"--controllers=deployment,replicaset,endpointslice,namespace,garbagecollector",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(kcmPort),
		"--cert-dir=" + filepath.Join(c.dir, "kcm-certs"),
		"--leader-elect=false",
		"--concurrent-deployment-syncs=10",
		"--concurrent-replicaset-syncs=10",
	}
	if err := c.run(bins, "kube-controller-manager", append(args, opts.ControllerManagerArgs...)...); err != nil {
		return err
	}
	if err := c.run(bins, "kube-scheduler",
		"--kubeconfig="+c.kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(schedPort),
		"--cert-dir="+filepath.Join(c.dir, "scheduler-certs"),
		"--leader-elect=false",
	); err != nil {
		return err
	}

	// kwok, and the Node it plays the kubelet of. An empty config keeps
	// kwok from reading the user's ~/.kwok and leaves it with its built-in
	// stages: nodes Ready at once, pods Running and Ready once bound.
	if err := os.WriteFile(filepath.Join(c.dir, "kwok.yaml"), nil, 0o600); err != nil {
		return fmt.Errorf("write kwok config: %w", err)
	}
	if err := c.run(bins, "kwok",
		"--kubeconfig="+c.kubeconfig,
		"--config="+filepath.Join(c.dir, "kwok.yaml"),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector="+FakeNodeAnnotation+"=fake",
		"--cidr=10.244.0.0/16",
		"--node-ip=127.0.0.1",
		"--server-address=127.0.0.1:"+strconv.Itoa(kwokPort),
	); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, "kube-controller-manager", "https://127.0.0.1:"+strconv.Itoa(kcmPort)+"/healthz", ""); err != nil {
		return err
	}
	if err := c.waitHTTP(ctx, "kube-scheduler", "https://127.0.0.1:"+strconv.Itoa(schedPort)+"/healthz", ""); err != nil {
		return err
	}
	if err := c.client.Create(ctx, fakeNode(NodeName)); err != nil {
		return fmt.Errorf("create node %s: %w", NodeName, err)
	}
	return c.waitFor(ctx, "kwok", func(ctx context.Context) (bool, error) {
		var n corev1.Node
		if err := c.client.Get(ctx, client.ObjectKey{Name: NodeName}, &n); err != nil {
			return false, err
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				return cond.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
}

// run starts a component.
func (c *Cluster) run(bins map[string]string, name string, args ...string) error {
	p, err := startProcess(c.dir, name, bins[name], args...)
	if err != nil {
		return err
	}
	c.procs = append(c.procs, p)
	return nil
}

// waitFor polls cond until it is true, the start timeout passes, or a
// component exits.
func (c *Cluster) waitFor(ctx context.Context, what string, cond func(context.Context) (bool, error)) error {
	return waitFor(ctx, c.procs, c.timeout, what, cond)
}

// waitHTTP polls url until it answers 200, the start timeout passes, or a
// component exits.
func (c *Cluster) waitHTTP(ctx context.Context, what, url, token string) error {
	return waitHTTP(ctx, c.procs, c.timeout, what, url, token)
}

// waitFor polls cond until it is true, timeout passes, or one of procs
// exits.
func waitFor(ctx context.Context, procs []*process, timeout time.Duration, what string, cond func(context.Context) (bool, error)) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		for _, p := range procs {
			if err := p.exited(); err != nil {
				return false, err
			}
		}
		ok, err := cond(ctx)
		last = err
		return ok, nil
	})
	if err != nil {
		if last != nil {
			return fmt.Errorf("wait for %s: %w (last error: %v)", what, err, last)
		}
		return fmt.Errorf("wait for %s: %w", what, err)
	}
	return nil
}

// waitHTTP polls url until it answers 2xx, timeout passes, or one of procs
// exits.
func waitHTTP(ctx context.Context, procs []*process, timeout time.Duration, what, url, token string) error {
	hc := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // self-signed, loopback only
	}
	defer hc.CloseIdleConnections()
	return waitFor(ctx, procs, timeout, what, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return false, err
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return false, err
		}
		_ = resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return false, fmt.Errorf("%s: %s", url, resp.Status)
		}
		return true, nil
	})
}

// RestartAPIServer kills kube-apiserver (SIGKILL, by its PID: a crash; a
// graceful stop waits out its watches for a minute), starts it again with
// the same flags and waits until it is ready.
func (c *Cluster) RestartAPIServer(t testing.TB) {
	t.Helper()
	for i, p := range c.procs {
		if p.name != "kube-apiserver" {
			continue
		}
		p.kill()
		np, err := p.start()
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		c.procs[i] = np
		if err := c.waitHTTP(t.Context(), "kube-apiserver", c.config.Host+"/readyz", c.config.BearerToken); err != nil {
			t.Fatalf("testenv: restart: %v", err)
		}
		return
	}
	t.Fatal("testenv: no kube-apiserver to restart")
}

// stop stops the components in reverse order of their start.
func (c *Cluster) stop(t testing.TB) {
	if t.Failed() && len(c.procs) > 0 {
		t.Logf("testenv: component logs:\n%s", c.logs())
	}
	for i := len(c.procs) - 1; i >= 0; i-- {
		if err := c.procs[i].stop(); err != nil {
			t.Errorf("testenv: %v", err)
		}
	}
	c.procs = nil
}

// logs returns the tail of each component's log.
func (c *Cluster) logs() string {
	var sb strings.Builder
	for _, p := range c.procs {
		fmt.Fprintf(&sb, "--- %s (%s)\n%s", p.name, p.logPath, p.tail(30))
	}
	return sb.String()
}

// RESTConfig returns a copy of the admin's REST config.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.config) }

// Kubeconfig returns the path of a kubeconfig file for the admin.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// UserKubeconfig returns the path of a kubeconfig file for one of
// Options.Users; it fails the test for a user not among them.
func (c *Cluster) UserKubeconfig(t testing.TB, user string) string {
	t.Helper()
	path, ok := c.users[user]
	if !ok {
		t.Fatalf("testenv: no user %q: name it in Options.Users", user)
	}
	return path
}

// Client returns a controller-runtime client with the admin's rights.
func (c *Cluster) Client() client.Client { return c.client }

// Scheme returns the scheme of Client.
func (c *Cluster) Scheme() *runtime.Scheme { return c.scheme }

// CreateNamespace creates a namespace with a generated name that starts
// with prefix, and returns its name. The namespace is deleted when the
// test ends.
func (c *Cluster) CreateNamespace(t testing.TB, prefix string) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := c.client.Create(t.Context(), ns); err != nil {
		t.Fatalf("testenv: create namespace: %v", err)
	}
	t.Cleanup(func() {
		// The cluster may already be stopped when it was started by the
		// same test; the namespace goes with it then.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.client.Delete(ctx, ns)
	})
	return ns.Name
}

func fakeNode(name string) *corev1.Node {
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("64"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse("10000"),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Annotations: map[string]string{FakeNodeAnnotation: "fake"},
			Labels: map[string]string{
				"type":                   "kwok",
				"kubernetes.io/hostname": name,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
			},
		},
		Status: corev1.NodeStatus{Capacity: resources, Allocatable: resources},
	}
}

func randomToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// writeKubeconfig writes a kubeconfig file for cfg.
func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["testenv"] = &clientcmdapi.Cluster{Server: cfg.Host, InsecureSkipTLSVerify: true}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: cfg.BearerToken}
	kc.Contexts["testenv"] = &clientcmdapi.Context{Cluster: "testenv", AuthInfo: "admin", Namespace: "default"}
	kc.CurrentContext = "testenv"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	return nil
}
