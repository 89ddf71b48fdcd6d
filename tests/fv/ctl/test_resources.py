"""calicoctl against a real etcd: what lands in etcd, what the user reads back, and bad input."""

from __future__ import annotations

import json
import time

import yaml

from tests.fv.ctl.conftest import ROOT, Ctl

SEED = str(ROOT / "examples" / "seed-v1.yaml")
POOL_KEY = "/calico/resources/v3/projectcalico.org/ippools/172-16-100-0-24"
PROFILE_KEY = "/calico/resources/v3/projectcalico.org/profiles/calico-net"
PEER_KEY = "/calico/resources/v3/projectcalico.org/bgppeers/host1.10-100-0-1"

POOL = """apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: {name}
spec:
  cidr: {cidr}
"""


def test_seed_v1_yaml_is_stored_as_v3(ctl: Ctl) -> None:
    out = ctl.ok("apply", "-f", SEED)
    assert out.strip() == "Successfully applied 3 resource(s)"
    stored = ctl.stored()
    assert set(stored) == {POOL_KEY, PROFILE_KEY, PEER_KEY}
    pool = stored[POOL_KEY]
    assert pool["kind"] == "IPPool" and pool["apiVersion"] == "projectcalico.org/v3"
    assert pool["spec"]["cidr"] == "172.16.100.0/24"
    assert pool["spec"]["ipipMode"] == "Never" and pool["spec"]["vxlanMode"] == "Never"
    assert pool["spec"].get("natOutgoing", False) is False
    assert pool["spec"]["blockSize"] == 26
    assert "resourceVersion" not in pool["metadata"] and pool["metadata"]["uid"]
    profile = stored[PROFILE_KEY]
    assert profile["spec"]["labelsToApply"] == {"calico-net": ""}
    # Go's omitempty keeps empty structs: Calico stores `source: {}` and `destination: {}`.
    assert profile["spec"]["ingress"] == [{"action": "Allow", "source": {}, "destination": {}}]
    assert profile["spec"]["egress"] == [{"action": "Allow", "source": {}, "destination": {}}]
    peer = stored[PEER_KEY]
    assert peer["spec"] == {"node": "host1", "peerIP": "10.100.0.1", "asNumber": 65000}


def test_get_formats(ctl: Ctl) -> None:
    ctl.ok("apply", "-f", SEED)
    table = ctl.ok("get", "ippools")
    lines = table.splitlines()
    assert lines[0].split() == ["NAME", "CIDR", "SELECTOR"]
    assert lines[1].split() == ["172-16-100-0-24", "172.16.100.0/24", "all()"]
    assert lines[0].endswith("   ") and table.endswith("\n\n")
    wide = ctl.ok("get", "pool", "-o", "wide").splitlines()
    assert wide[0].split()[:5] == ["NAME", "CIDR", "NAT", "IPIPMODE", "VXLANMODE"]
    assert wide[1].split()[:5] == ["172-16-100-0-24", "172.16.100.0/24", "false", "Never", "Never"]
    peers = ctl.ok("get", "bgpPeers").splitlines()
    assert peers[1].split() == ["host1.10-100-0-1", "10.100.0.1", "host1", "65000"]
    custom = ctl.ok("get", "ippools", "-o", "custom-columns=NAME,CIDR").splitlines()
    assert custom[0].split() == ["NAME", "CIDR"]

    listing = yaml.safe_load(ctl.ok("get", "ippools", "-o", "yaml"))
    assert listing["kind"] == "IPPoolList" and listing["metadata"]["resourceVersion"]
    assert [i["metadata"]["name"] for i in listing["items"]] == ["172-16-100-0-24"]
    one = json.loads(ctl.ok("get", "ippool", "172-16-100-0-24", "-o", "json"))
    assert one["kind"] == "IPPool" and one["metadata"]["resourceVersion"]
    assert one["spec"]["nodeSelector"] == "all()" and one["spec"]["allowedUses"] == ["Workload", "Tunnel"]

    profiles = ctl.ok("get", "profiles").split()
    assert "calico-net" in profiles and "projectcalico-default-allow" in profiles


def test_get_output_round_trips_through_apply(ctl: Ctl) -> None:
    ctl.ok("apply", "-f", SEED)
    dumped = ctl.ok("get", "ippools", "-o", "yaml")
    ctl.etcd.wipe()
    assert ctl.ok("apply", "-f", "-", input=dumped).strip() == "Successfully applied 1 'IPPool' resource(s)"


def test_create_existing_and_skip_exists(ctl: Ctl) -> None:
    doc = POOL.format(name="p1", cidr="10.1.0.0/16")
    assert ctl.ok("create", "-f", "-", input=doc).strip() == "Successfully created 1 'IPPool' resource(s)"
    r = ctl("create", "-f", "-", input=doc)
    assert r.rc == 1
    assert "Failed to create 'IPPool' resource: [resource already exists: IPPool(p1)]" in r.err
    assert ctl.ok("create", "--skip-exists", "-f", "-", input=doc).strip() == \
        "Successfully created 1 'IPPool' resource(s)"


def test_replace_with_stale_resource_version(ctl: Ctl) -> None:
    ctl.ok("create", "-f", "-", input=POOL.format(name="p1", cidr="10.1.0.0/16"))
    current = yaml.safe_load(ctl.ok("get", "ippool", "p1", "-o", "yaml"))
    stale = dict(current)
    current["spec"]["natOutgoing"] = True
    assert "Successfully replaced 1 'IPPool'" in ctl.ok("replace", "-f", "-", input=yaml.safe_dump(current))
    stale["spec"]["disabled"] = True
    r = ctl("replace", "-f", "-", input=yaml.safe_dump(stale))
    assert r.rc == 1
    assert f"Resource version '{stale['metadata']['resourceVersion']}' is out of date" in r.err
    assert ctl.stored()["/calico/resources/v3/projectcalico.org/ippools/p1"]["spec"].get("disabled") is not True


def test_delete(ctl: Ctl) -> None:
    ctl.ok("apply", "-f", SEED)
    assert ctl.ok("delete", "ippool", "172-16-100-0-24").strip() == "Successfully deleted 1 'IPPool' resource(s)"
    r = ctl("delete", "ippool", "172-16-100-0-24")
    assert r.rc == 1
    assert "resource does not exist: IPPool(172-16-100-0-24) with error: <nil>" in r.err
    assert ctl("delete", "--skip-not-exists", "ippool", "172-16-100-0-24").rc == 0
    r = ctl("delete", "-f", SEED)
    assert r.rc == 1
    assert r.out.strip() == "Partial success: deleted the first 2 out of 3 resources:"
    assert "Hit error: [resource does not exist: IPPool(172-16-100-0-24) with error: <nil>]" in r.err
    assert POOL_KEY not in ctl.stored()


def test_bad_input_writes_nothing(ctl: Ctl) -> None:
    cases = {
        "malformed": ("kind: IPPool\n  metadata: [\n", "error parsing"),
        "unknown kind": ("apiVersion: projectcalico.org/v3\nkind: Banana\nmetadata: {name: x}\n",
                         "Unknown resource type (Banana) and/or version (projectcalico.org/v3)"),
        "unknown field": (POOL.format(name="p1", cidr="10.1.0.0/16") + "  bogus: 1\n", "bogus"),
        "invalid cidr": (POOL.format(name="p1", cidr="10.1.0.0/33"), "IPPool.Spec.CIDR"),
        "block size": (POOL.format(name="p1", cidr="10.1.0.0/16") + "  blockSize: 19\n",
                       "block size must be between 20 and 32"),
        "bad selector": (POOL.format(name="p1", cidr="10.1.0.0/16") + "  nodeSelector: \"a == 'b' &&\"\n",
                         "position"),
        "bad name": (POOL.format(name="Bad_Name", cidr="10.1.0.0/16"), "Metadata.Name"),
    }
    for what, (doc, needle) in cases.items():
        r = ctl("apply", "-f", "-", input=doc)
        assert r.rc == 1, what
        assert needle in r.err, f"{what}: {r.err!r}"
        assert "Traceback" not in r.err, what
    assert ctl.stored() == {}


def test_overlapping_pool_and_port_range(ctl: Ctl) -> None:
    ctl.ok("create", "-f", "-", input=POOL.format(name="pool1", cidr="10.0.0.0/8"))
    r = ctl("create", "-f", "-", input=POOL.format(name="pool2", cidr="10.1.0.0/16"))
    assert r.rc == 1
    assert ("Failed to create 'IPPool' resource: [error with field IPPool.Spec.CIDR = '10.1.0.0/16' "
            "(IPPool(pool2) CIDR overlaps with IPPool(pool1) CIDR 10.0.0.0/8)]") in r.err
    gnp = """apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata: {name: ports}
spec:
  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: ["90:80"]}
"""
    r = ctl("apply", "-f", "-", input=gnp)
    assert (r.rc == 1 and "Ports" in r.err) or "port" in r.err.lower()
    assert "/calico/resources/v3/projectcalico.org/globalnetworkpolicies/ports" not in ctl.stored()


def test_unreachable_datastore_fails_fast(ctl: Ctl) -> None:
    env = dict(ctl.env, ETCD_ENDPOINTS="http://127.0.0.1:1")
    start = time.monotonic()
    r = ctl("get", "ippools", env=env)
    assert r.rc == 1
    assert time.monotonic() - start < 15
    assert "Traceback" not in r.err and r.err.strip()


def test_patch_label_and_namespaces(ctl: Ctl) -> None:
    ctl.ok("apply", "-f", SEED)
    assert ctl.ok("patch", "ippool", "172-16-100-0-24", "-p", '{"spec":{"natOutgoing":true}}').strip() == \
        "Successfully patched 1 'IPPool' resource"
    assert ctl.stored()[POOL_KEY]["spec"]["natOutgoing"] is True
    assert ctl.ok("label", "ippool", "172-16-100-0-24", "env=prod").strip() == \
        "Successfully set label env on ippool 172-16-100-0-24"
    r = ctl("label", "ippool", "172-16-100-0-24", "env=dev")
    assert r.rc == 1 and "please use '--overwrite'" in r.err
    ctl.ok("label", "ippool", "172-16-100-0-24", "env", "--remove")
    np = """apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata: {name: allow-web}
spec:
  selector: app == 'web'
  ingress:
  - action: Allow
    protocol: TCP
    destination: {ports: [80]}
"""
    ctl.ok("apply", "-n", "prod", "-f", "-", input=np)
    assert "/calico/resources/v3/projectcalico.org/networkpolicies/prod/allow-web" in ctl.stored()
    assert "allow-web" not in ctl.ok("get", "networkpolicy")  # default namespace
    assert "allow-web" in ctl.ok("get", "networkpolicy", "-A")
    r = ctl("get", "ippools", "-n", "prod")
    assert r.rc == 1 and "IPPool is not namespaced" in r.err


def test_convert_prints_v3(ctl: Ctl) -> None:
    out = yaml.safe_load(ctl.ok("convert", "-f", SEED))
    assert out["kind"] == "List"
    kinds = sorted(i["kind"] for i in out["items"])
    assert kinds == ["BGPPeer", "IPPool", "Profile"]


def test_version(ctl: Ctl) -> None:
    out = ctl.ok("version")
    assert out.startswith("Client Version:    v")
    assert "Cluster Version:" in out


V1_OTHER_KINDS = """apiVersion: v1
kind: node
metadata: {name: Node2}
spec:
  bgp: {asNumber: 64512, ipv4Address: 10.244.0.1/24}
---
apiVersion: v1
kind: policy
metadata: {name: allow-tcp-6379}
spec:
  order: 1234
  selector: role == 'database'
  ingress:
  - action: allow
    protocol: tcp
    source: {tag: frontend}
    destination: {ports: [6379]}
---
apiVersion: v1
kind: hostEndpoint
metadata: {name: eth0, node: myhost, labels: {type: production}}
spec: {interfaceName: eth0, expectedIPs: [192.168.0.1], profiles: [calico-net]}
---
apiVersion: v1
kind: workloadEndpoint
metadata:
  name: eth0
  workload: default.frontend-5gs43
  orchestrator: k8s
  node: rack1-host1
  labels: {app: frontend, calico/k8s_ns: default}
spec:
  interfaceName: cali0ef24ba
  mac: ca:fe:1d:52:bb:e9
  ipNetworks: [192.168.0.0/32]
  profiles: [calico-net]
"""


def test_v1_node_policy_endpoints_are_stored_as_v3(ctl: Ctl) -> None:
    assert ctl.ok("apply", "-f", "-", input=V1_OTHER_KINDS).strip() == "Successfully applied 4 resource(s)"
    stored = ctl.stored()
    root = "/calico/resources/v3/projectcalico.org/"
    node = stored[root + "nodes/node2"]
    assert node["spec"]["bgp"] == {"asNumber": 64512, "ipv4Address": "10.244.0.1/24"}
    gnp = stored[root + "globalnetworkpolicies/allow-tcp-6379"]
    assert gnp["kind"] == "GlobalNetworkPolicy" and gnp["spec"]["order"] == 1234
    rule = gnp["spec"]["ingress"][0]
    assert rule["action"] == "Allow" and rule["protocol"] == "TCP"
    assert rule["source"]["selector"] == "frontend == ''" and rule["destination"]["ports"] == [6379]
    assert gnp["spec"]["types"] == ["Ingress"]
    hep = next(v for k, v in stored.items() if k.startswith(root + "hostendpoints/"))
    assert hep["spec"]["node"] == "myhost" and hep["spec"]["interfaceName"] == "eth0"
    wep = stored[root + "workloadendpoints/default/rack1--host1-k8s-frontend--5gs43-eth0"]
    assert wep["spec"]["pod"] == "frontend-5gs43" and wep["spec"]["ipNetworks"] == ["192.168.0.0/32"]
    assert wep["metadata"]["labels"]["projectcalico.org/namespace"] == "default"
    assert "calico/k8s_ns" not in wep["metadata"]["labels"]


def test_deleting_a_pool_releases_its_block_affinities(ctl: Ctl) -> None:
    import asyncio

    from calico.datastore.config import connect, load_config
    from calico.ipam import IPAMClient

    ctl.ok("create", "-f", "-", input=POOL.format(name="p1", cidr="10.7.0.0/24"))

    async def allocate_and_release() -> None:
        ds = await connect(load_config(env={"ETCD_ENDPOINTS": ctl.etcd.url}))
        try:
            client = IPAMClient(ds)
            await client.auto_assign(1, 0, "net.c1", {"node": "h1"}, "h1")
            await client.release_by_handle("net.c1")
        finally:
            await ds.close()

    asyncio.run(allocate_and_release())
    assert ctl.stored("/calico/ipam/v2/host/h1/")  # the empty block stays affine to h1
    assert ctl.ok("delete", "ippool", "p1").strip() == "Successfully deleted 1 'IPPool' resource(s)"
    assert ctl.stored("/calico/ipam/v2/host/") == {}
    assert ctl.stored("/calico/ipam/v2/assignment/") == {}
