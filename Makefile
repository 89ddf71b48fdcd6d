# The two front-door targets: `make demo` and `make test`. Both set everything up first.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEBS := etcd-server etcd-client bird2 frr iptables ipset iproute2 iputils-ping dnsmasq conntrack procps kmod iperf3 sockperf ethtool \
	podman containernetworking-plugins runc conmon catatonit uidmap slirp4netns fuse-overlayfs busybox-static
PYTEST_ARGS ?=

.PHONY: setup system-packages venv test test-unit demo lint clean cni-install
CNI_BIN_DIR ?= /opt/cni/bin

setup: system-packages venv

# Debian packages the project drives for real (etcd, BIRD, FRR, iptables/ipset, dnsmasq).
system-packages: .run/system-packages.stamp
.run/system-packages.stamp: Makefile
	@mkdir -p .run
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@touch $@

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	@$(PY) -m pip install -q --upgrade pip >/dev/null
	@$(PY) -m pip install -q -e '.[dev]'
	@touch $@

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-unit: venv
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

demo: setup
	$(PY) -m calico.lab.demo

lint: venv
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

# Install the `calico` and `calico-ipam` CNI plugins into a CNI bin directory.
cni-install: venv
	$(PY) -m calico.cni.install --bin-dir $(CNI_BIN_DIR)

clean:
	rm -rf .run build *.egg-info
