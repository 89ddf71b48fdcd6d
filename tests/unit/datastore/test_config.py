"""calicoctl-compatible datastore configuration: file vs environment, defaults and error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from calico.datastore import config as cfgmod
from calico.datastore.config import (
    ConfigError,
    DatastoreConfig,
    config_from_env,
    load_config,
    parse_endpoint,
)


@pytest.fixture(autouse=True)
def _no_default_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Whatever this machine has in /etc/calico, the default file is one that does not exist."""
    monkeypatch.setattr(cfgmod, "DEFAULT_CONFIG_FILE", str(tmp_path / "absent" / "calicoctl.cfg"))


def write(tmp_path: Path, text: str, name: str = "calicoctl.cfg") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


V3_FILE = """\
apiVersion: projectcalico.org/v3
kind: CalicoAPIConfig
metadata: {}
spec:
  datastoreType: etcdv3
  etcdEndpoints: https://10.0.0.1:2379, https://10.0.0.2:2379
  etcdKeyFile: /etc/calico/key.pem
  etcdCertFile: /etc/calico/cert.pem
  etcdCACertFile: /etc/calico/ca.pem
  etcdUsername: alice
  etcdPassword: s3cret
"""


def test_nothing_set_defaults_to_local_etcd() -> None:
    cfg = load_config(env={})
    assert cfg.datastore_type == "etcdv3"
    assert cfg.endpoints == ("http://127.0.0.1:2379",)
    assert cfg.source == "environment"


def test_environment_endpoints_and_tls() -> None:
    cfg = load_config(env={
        "ETCD_ENDPOINTS": "http://a:2379,http://b:2379 ,",
        "ETCD_CA_CERT_FILE": "/ca", "ETCD_CERT_FILE": "/cert", "ETCD_KEY_FILE": "/key",
        "ETCD_USERNAME": "u", "ETCD_PASSWORD": "pw-Zq9",
    })
    assert cfg.endpoints == ("http://a:2379", "http://b:2379")
    assert (cfg.ca_cert_file, cfg.cert_file, cfg.key_file) == ("/ca", "/cert", "/key")
    assert (cfg.username, cfg.password) == ("u", "pw-Zq9")
    assert "pw-Zq9" not in repr(cfg)  # never logged by accident


def test_calico_prefix_takes_precedence() -> None:
    cfg = config_from_env({
        "ETCD_ENDPOINTS": "http://plain:2379", "CALICO_ETCD_ENDPOINTS": "http://prefixed:2379",
        "DATASTORE_TYPE": "kubernetes", "CALICO_DATASTORE_TYPE": "etcdv3",
    })
    assert cfg.endpoints == ("http://prefixed:2379",)


def test_kubernetes_is_rejected_clearly() -> None:
    with pytest.raises(ConfigError, match="only etcdv3 is supported"):
        load_config(env={"DATASTORE_TYPE": "kubernetes"})


def test_unknown_datastore_type() -> None:
    with pytest.raises(ConfigError, match="unknown datastore type: consul"):
        load_config(env={"DATASTORE_TYPE": "consul"})


def test_discovery_srv_rejected() -> None:
    with pytest.raises(ConfigError, match=r"etcdDiscoverySrv .* is not supported"):
        load_config(env={"ETCD_DISCOVERY_SRV": "example.com"})
    with pytest.raises(ConfigError, match='use either "etcdEndpoints" or "etcdDiscoverySrv"'):
        load_config(env={"ETCD_DISCOVERY_SRV": "example.com", "ETCD_ENDPOINTS": "http://a:2379"})


def test_v3_file(tmp_path: Path) -> None:
    path = write(tmp_path, V3_FILE)
    cfg = load_config(path, env={"ETCD_ENDPOINTS": "http://ignored:2379"})
    assert cfg.endpoints == ("https://10.0.0.1:2379", "https://10.0.0.2:2379")
    assert cfg.ca_cert_file == "/etc/calico/ca.pem"
    assert cfg.username == "alice" and cfg.password == "s3cret"
    assert cfg.source == f"config file {path}"


def test_json_file_with_inline_pem(tmp_path: Path) -> None:
    path = write(tmp_path, '{"apiVersion": "projectcalico.org/v3", "kind": "CalicoAPIConfig", '
                           '"spec": {"etcdEndpoints": "https://e:2379", "etcdCACert": "-----BEGIN"}}')
    cfg = load_config(path, env={})
    assert cfg.datastore_type == "etcdv3"  # defaulted from the endpoints
    assert cfg.ca_cert == "-----BEGIN"


def test_default_file_is_used_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, V3_FILE)
    monkeypatch.setattr(cfgmod, "DEFAULT_CONFIG_FILE", path)
    assert load_config(env={"ETCD_ENDPOINTS": "http://env:2379"}).endpoints[0] == "https://10.0.0.1:2379"
    # naming the default path explicitly behaves the same
    assert load_config(path, env={}).endpoints[0] == "https://10.0.0.1:2379"


def test_missing_default_file_falls_back_to_environment() -> None:
    cfg = load_config(cfgmod.DEFAULT_CONFIG_FILE, env={"ETCD_ENDPOINTS": "http://env:2379"})
    assert cfg.endpoints == ("http://env:2379",)


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.cfg")
    with pytest.raises(ConfigError) as exc:
        load_config(missing, env={})
    assert str(exc.value) == f"Error reading config file: {missing}"


def test_wrong_api_version(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: projectcalico.org/v2\nkind: CalicoAPIConfig\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert str(exc.value) == (
        f"syntax error in {path}: invalid config file: unknown APIVersion 'projectcalico.org/v2'"
    )


def test_wrong_kind(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: projectcalico.org/v3\nkind: IPPool\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert str(exc.value).endswith("invalid config file: expected kind 'CalicoAPIConfig', got 'IPPool'")


def test_yaml_syntax_error(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: [unclosed\n")
    with pytest.raises(ConfigError, match=f"^syntax error in {path}: failed to parse config as YAML/JSON: "):
        load_config(path, env={})


def test_unknown_field_is_strict_error(tmp_path: Path) -> None:
    path = write(tmp_path, V3_FILE + "  etcdEndpoint: typo\n")
    with pytest.raises(ConfigError, match='json: unknown field "etcdEndpoint"'):
        load_config(path, env={})


def test_wrong_type_names_field(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\n"
                           "spec:\n  etcdEndpoints: [a, b]\n")
    with pytest.raises(ConfigError, match=r"cannot unmarshal array into Go struct field spec\.etcdEndpoints"):
        load_config(path, env={})


def test_kubernetes_in_file(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\n"
                           "spec:\n  datastoreType: kubernetes\n  kubeconfig: /root/.kube/config\n")
    with pytest.raises(ConfigError, match=f"kubernetes.*config file {path}.*only etcdv3"):
        load_config(path, env={})


def test_v1_calico_api_config(tmp_path: Path) -> None:
    path = write(tmp_path, "apiVersion: v1\nkind: calicoApiConfig\nmetadata:\nspec:\n"
                           "  datastoreType: etcdv2\n  etcdAuthority: 10.0.0.5:2379\n  etcdScheme: https\n"
                           "  etcdCACertFile: /ca.pem\n")
    cfg = load_config(path, env={})
    assert cfg.datastore_type == "etcdv3"
    assert cfg.endpoints == ("https://10.0.0.5:2379",)
    assert cfg.ca_cert_file == "/ca.pem"


def test_bad_endpoint_scheme_named() -> None:
    with pytest.raises(ConfigError, match="invalid etcd endpoint 'ftp://x:1': unsupported scheme 'ftp'"):
        load_config(env={"ETCD_ENDPOINTS": "ftp://x:1"})


@pytest.mark.parametrize(
    ("url", "target", "tls"),
    [
        ("http://127.0.0.1:2379", "127.0.0.1:2379", False),
        ("https://etcd.example:2379/", "etcd.example:2379", True),
        ("http://etcd", "etcd:2379", False),
        ("http://[::1]:2379", "[::1]:2379", False),
        ("http://[::1]", "[::1]:2379", False),
        ("10.0.0.1:4001", "10.0.0.1:4001", False),
        ("unix:///run/etcd/etcd.sock:0", "unix:///run/etcd/etcd.sock:0", False),
        ("unix://etcd.sock:0", "unix:etcd.sock:0", False),
        ("unixs:///run/etcd.sock", "unix:///run/etcd.sock", True),
    ],
)
def test_parse_endpoint(url: str, target: str, tls: bool) -> None:
    ep = parse_endpoint(url)
    assert (ep.target, ep.tls) == (target, tls)


def test_config_accepts_list_and_is_frozen() -> None:
    cfg = DatastoreConfig(endpoints=["http://a:1"])
    assert cfg.endpoints == ("http://a:1",)
    with pytest.raises(AttributeError):
        cfg.username = "x"  # type: ignore[misc]
