package cluster

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options name a cluster as kubectl's flags do.
type Options struct {
	// Kubeconfig is a kubeconfig file (--kubeconfig); empty means
	// $KUBECONFIG, then ~/.kube/config, then the in-cluster config.
	Kubeconfig string
	// Context is the kubeconfig context to use (--context); empty means
	// the current one.
	Context string
}

// Named reports whether the options name a cluster explicitly.
func (o Options) Named() bool { return o.Kubeconfig != "" || o.Context != "" }

func (o Options) clientConfig() clientcmd.ClientConfig {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context})
}

// Available reports whether a cluster is configured: a kubeconfig with a
// current context, or the in-cluster config.
func Available(o Options) bool {
	_, err := o.clientConfig().ClientConfig()
	return err == nil
}

// Load returns the REST config of the cluster and the namespace of the
// context ("default" when it names none).
func Load(o Options) (*rest.Config, string, error) {
	cc := o.clientConfig()
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", errors.New("no cluster configured: pass --kubeconfig, set $KUBECONFIG or create ~/.kube/config")
		}
		if o.Kubeconfig != "" {
			if _, serr := os.Stat(o.Kubeconfig); serr != nil {
				return nil, "", fmt.Errorf("--kubeconfig: %w", serr)
			}
		}
		return nil, "", fmt.Errorf("kubeconfig: %w", err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, "", fmt.Errorf("kubeconfig namespace: %w", err)
	}
	return cfg, ns, nil
}
