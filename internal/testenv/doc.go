// Package testenv starts real Kubernetes control planes and Prometheus
// servers for serin's integration and end-to-end tests.
//
// Start runs etcd, kube-apiserver, kube-controller-manager, kube-scheduler
// and kwok as child processes on loopback ports, each in its own process
// group, with their data in the test's temporary directory. kwok plays the
// kubelet for one fake Node, so Deployments roll out and their pods become
// Ready without a container runtime. StartPrometheus runs a Prometheus
// server that scrapes the given targets; StartGraphite (carbon-cache and
// graphite-web) and StartInfluxDB (InfluxDB 1.8 with Flux) run the
// metric backends of those MetricTemplate providers. OpenBrowser runs a
// headless Chromium driven over the DevTools protocol, for the browser
// tests of the dashboard. Everything a test starts is stopped by PID when
// the test ends.
//
// The binaries come from hack/testenv/install.sh (`make testenv`), which
// records where they are in environment variables:
//
//	SERIN_TESTENV_BIN  directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
//	SERIN_PROMETHEUS   the prometheus binary
//	SERIN_INFLUXD      the influxd binary (InfluxDB 1.8)
//	SERIN_CARBON_CACHE Graphite's carbon-cache
//	SERIN_GRAPHITE_WEB graphite-web's graphite-manage
//	SERIN_CHROMIUM     the headless Chromium of the browser tests (else one on PATH)
//
// When a variable is unset, the test is skipped with a message saying to
// run `make testenv`, unless SERIN_REQUIRE_TESTENV=1 (set by `make test`),
// in which case it fails. Tests that use this package are also skipped
// under -short.
//
// A test uses it like this:
//
//	c := testenv.Start(t, testenv.Options{CRDs: []string{"../../deploy/crds"}})
//	ns := c.CreateNamespace(t, "canary")
//	err := c.Client().Create(ctx, &appsv1.Deployment{...})
//
//	prom := testenv.StartPrometheus(t, []string{exporterAddr}, time.Second)
//	resp, err := http.Get(prom.URL + "/api/v1/query?query=up")
//
// The package works on Linux and other Unix systems.
package testenv
