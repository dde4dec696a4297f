#!/usr/bin/env bash
# Builds, once, the binaries of serin's test cluster and installs Prometheus:
#
#   etcd, kube-apiserver, kube-controller-manager,
#   kube-scheduler, kwok                            from the Go module proxy
#   influxd (InfluxDB 1.8, Flux enabled by tests)   from the Go module proxy
#   helm (lints, renders and installs the chart)    from the Go module proxy
#   prometheus                                      from Debian's package
#   carbon-cache, graphite-manage (Graphite)        from Debian's graphite-carbon
#                                                   and graphite-web packages
#   chromium (headless, for the dashboard's tests)  from Debian's package
#
# Usage: hack/testenv/install.sh [CACHE_DIR]   (default ~/.cache/serin-testenv)
#
# The binaries are cached by version under CACHE_DIR/k8s-<version>/bin; a rerun
# with everything in place takes a second. A lock serialises concurrent runs,
# and each binary is built into a temporary file and moved into place, so an
# interrupted build never leaves a half-written binary behind. At the end it
# writes CACHE_DIR/env, KEY=VALUE lines that `make test` exports:
#
#   SERIN_TESTENV_BIN   directory with etcd, kube-apiserver, kube-controller-manager,
#                       kube-scheduler and kwok
#   KUBEBUILDER_ASSETS  the same directory, for controller-runtime's envtest
#   SERIN_PROMETHEUS    path of the prometheus binary
#   SERIN_CHROMIUM      path of the chromium binary
#   SERIN_INFLUXD       path of the influxd binary
#   SERIN_HELM          path of the helm binary
#   SERIN_CARBON_CACHE  path of Graphite's carbon-cache
#   SERIN_GRAPHITE_WEB  path of graphite-web's graphite-manage
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-1.34.4}
ETCD_VERSION=${ETCD_VERSION:-3.6.5}
KWOK_VERSION=${KWOK_VERSION:-0.7.0}
# The last InfluxDB that builds without cgo: 2.x needs Rust for Flux.
INFLUXDB_VERSION=${INFLUXDB_VERSION:-1.8.10}
HELM_VERSION=${HELM_VERSION:-4.3.2}

cache=${1:-$HOME/.cache/serin-testenv}
go=${GO:-go}

log() { printf 'testenv: %s\n' "$*" >&2; }

mkdir -p "$cache/k8s-$K8S_VERSION/bin"
cache=$(cd "$cache" && pwd)
bindir=$cache/k8s-$K8S_VERSION/bin

exec 9>"$cache/.lock"
if ! flock -n 9; then
	log "waiting for another install.sh run to finish (lock $cache/.lock)"
	flock 9
fi

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The builds need no cgo and must not fetch another toolchain.
export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

# have NAME VERSION: the binary is in place and was built at that version.
have() {
	[[ -x $bindir/$1 && -f $bindir/.$1.version && $(<"$bindir/.$1.version") == "$2" ]]
}

# install_bin SRC NAME VERSION: moves a finished build into place atomically.
install_bin() {
	mv -f "$1" "$bindir/.$2.new"
	mv -f "$bindir/.$2.new" "$bindir/$2"
	printf '%s\n' "$3" >"$bindir/.$2.version.new"
	mv -f "$bindir/.$2.version.new" "$bindir/.$2.version"
}

build_etcd() {
	have etcd "$ETCD_VERSION" && { log "etcd v$ETCD_VERSION: cached"; return; }
	log "etcd v$ETCD_VERSION: building (a few minutes)"
	local start=$SECONDS dir=$work/etcd
	mkdir -p "$dir"
	cat >"$dir/go.mod" <<EOF
module serin.dev/testenv/etcd

go 1.24.0

require go.etcd.io/etcd/server/v3 v$ETCD_VERSION
EOF
	cat >"$dir/main.go" <<'EOF'
// Command etcd is etcd's server, built from the Go module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
EOF
	(cd "$dir" && "$go" mod tidy && "$go" build -trimpath -ldflags "-s -w" -o "$dir/etcd" .)
	install_bin "$dir/etcd" etcd "$ETCD_VERSION"
	log "etcd v$ETCD_VERSION: built in $((SECONDS - start))s"
}

# kube_main NAME APP_PACKAGE CONSTRUCTOR: writes NAME/main.go of the kube
# module, the same main as Kubernetes' own cmd/NAME.
kube_main() {
	mkdir -p "$work/kube/$1"
	cat >"$work/kube/$1/main.go" <<GO
// Command $1 is Kubernetes' $1, built from the Go module proxy.
package main

import (
	"os"

	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	"$2"
)

func main() { os.Exit(cli.Run(app.$3)) }
GO
}

build_kube() {
	local cmds=() c
	for c in kube-apiserver kube-controller-manager kube-scheduler; do
		have "$c" "$K8S_VERSION" || cmds+=("$c")
	done
	if ((${#cmds[@]} == 0)); then
		log "kube-apiserver, kube-controller-manager, kube-scheduler v$K8S_VERSION: cached"
		return
	fi
	log "${cmds[*]} v$K8S_VERSION: building (5-15 minutes)"
	local start=$SECONDS dir=$work/kube m
	mkdir -p "$dir"
	{
		printf 'module serin.dev/testenv/kube\n\ngo 1.24.0\n\nrequire k8s.io/kubernetes v%s\n\nreplace (\n' "$K8S_VERSION"
		for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go \
			cloud-provider cluster-bootstrap code-generator component-base component-helpers \
			controller-manager cri-api cri-client csi-translation-lib dynamic-resource-allocation \
			endpointslice externaljwt kms kube-aggregator kube-controller-manager kube-proxy \
			kube-scheduler kubectl kubelet metrics mount-utils pod-security-admission \
			sample-apiserver; do
			printf '\tk8s.io/%s => k8s.io/%s v0.%s\n' "$m" "$m" "${K8S_VERSION#*.}"
		done
		printf ')\n'
	} >"$dir/go.mod"
	kube_main kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver/app 'NewAPIServerCommand()'
	kube_main kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager/app 'NewControllerManagerCommand()'
	kube_main kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler/app 'NewSchedulerCommand()'

	# The flags of a release build: a plain build reports v0.0.0-master,
	# which some clients refuse.
	local minor=${K8S_VERSION#*.}
	minor=${minor%%.*}
	local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S_VERSION"
	ldflags+=" -X k8s.io/component-base/version.gitMajor=${K8S_VERSION%%.*}"
	ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor"
	ldflags+=" -X k8s.io/component-base/version.gitTreeState=clean"

	local pkgs=()
	for c in "${cmds[@]}"; do pkgs+=("./$c"); done
	(cd "$dir" && "$go" mod tidy && "$go" build -trimpath -ldflags "$ldflags" -o "$dir/out/" "${pkgs[@]}")
	for c in "${cmds[@]}"; do
		install_bin "$dir/out/$c" "$c" "$K8S_VERSION"
	done
	log "${cmds[*]} v$K8S_VERSION: built in $((SECONDS - start))s"
}

# go_install NAME VERSION PACKAGE: builds a command with go install at
# PACKAGE@vVERSION, unless it is cached at that version.
go_install() {
	local name=$1 version=$2 pkg=$3
	have "$name" "$version" && { log "$name v$version: cached"; return; }
	log "$name v$version: building"
	local start=$SECONDS dir=$work/$name
	mkdir -p "$dir"
	GOBIN=$dir GOFLAGS="-buildvcs=false -trimpath" "$go" install -ldflags "-s -w" "$pkg@v$version"
	install_bin "$dir/$name" "$name" "$version"
	log "$name v$version: built in $((SECONDS - start))s"
}

build_kwok() { go_install kwok "$KWOK_VERSION" sigs.k8s.io/kwok/cmd/kwok; }

build_influxd() { go_install influxd "$INFLUXDB_VERSION" github.com/influxdata/influxdb/cmd/influxd; }

build_helm() { go_install helm "$HELM_VERSION" helm.sh/helm/v4/cmd/helm; }

# apt_install NAME PACKAGE...: installs Debian packages unless all are.
apt_install() {
	local name=$1 pkg missing=()
	shift
	for pkg in "$@"; do
		dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$pkg")
	done
	if ((${#missing[@]} == 0)); then
		log "$name: installed ($(dpkg-query -W -f='${Version}' "$1"))"
		return
	fi
	log "$name: installing Debian's ${missing[*]}"
	local start=$SECONDS sudo=
	[[ $(id -u) == 0 ]] || sudo=sudo
	$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
		--no-install-recommends "${missing[@]}" >/dev/null
	log "$name: installed in $((SECONDS - start))s"
}

# stop_service NAME: tests start their own servers; the package's must not run.
stop_service() {
	if command -v systemctl >/dev/null && systemctl is-active --quiet "$1" 2>/dev/null; then
		systemctl stop "$1" || true
	fi
	if [[ -x /etc/init.d/$1 ]] && "/etc/init.d/$1" status >/dev/null 2>&1; then
		"/etc/init.d/$1" stop >/dev/null 2>&1 || true
	fi
}

install_graphite() {
	apt_install graphite graphite-carbon graphite-web
	stop_service carbon-cache
}

install_prometheus() {
	apt_install prometheus prometheus
	stop_service prometheus
}

install_chromium() {
	if command -v chromium >/dev/null; then
		log "chromium: installed"
		return
	fi
	log "chromium: installing Debian's package"
	local start=$SECONDS sudo=
	[[ $(id -u) == 0 ]] || sudo=sudo
	$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
		--no-install-recommends chromium >/dev/null
	log "chromium: installed in $((SECONDS - start))s"
}

total=$SECONDS
install_prometheus
install_chromium
install_graphite
build_kwok
build_influxd
build_helm
build_etcd
build_kube

prometheus=$(command -v prometheus || echo /usr/bin/prometheus)
chromium=$(command -v chromium || echo /usr/bin/chromium)
cat >"$cache/env.new" <<EOF
SERIN_TESTENV_BIN=$bindir
KUBEBUILDER_ASSETS=$bindir
SERIN_PROMETHEUS=$prometheus
SERIN_CHROMIUM=$chromium
SERIN_INFLUXD=$bindir/influxd
SERIN_HELM=$bindir/helm
SERIN_CARBON_CACHE=$(command -v carbon-cache || echo /usr/bin/carbon-cache)
SERIN_GRAPHITE_WEB=$(command -v graphite-manage || echo /usr/bin/graphite-manage)
EOF
mv -f "$cache/env.new" "$cache/env"
log "ready in $((SECONDS - total))s; environment in $cache/env:"
sed 's/^/  /' "$cache/env" >&2
