"""Typed access to v3 resources in the datastore, with Calico's client-side semantics.

This is where calicoctl, the CNI plugin, the Docker driver and calico-node meet the store: it fills
uid/creationTimestamp on create, keeps stored metadata on update, turns revisions into
resourceVersions, runs the checks that need other objects (pool overlap) and phrases errors the
way libcalico-go does (``resource already exists: IPPool(name)``).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from calico.api.kinds import BY_KIND
from calico.datastore import keys
from calico.datastore.base import AlreadyExists, Conflict, Datastore, NotFound

if TYPE_CHECKING:
    from calico.api import Resource

DEFAULT_ALLOW_PROFILE = "projectcalico-default-allow"


class ResourceError(Exception):
    """Base for errors calicoctl prints as-is."""


class ResourceNotFound(ResourceError):
    def __init__(self, ident: str) -> None:
        super().__init__(f"resource does not exist: {ident} with error: <nil>")
        self.ident = ident


class ResourceExists(ResourceError):
    def __init__(self, ident: str) -> None:
        super().__init__(f"resource already exists: {ident}")
        self.ident = ident


class UpdateConflict(ResourceError):
    def __init__(self, ident: str, latest: str | None = None) -> None:
        super().__init__(f"update conflict: {ident}")
        self.ident = ident
        self.latest = latest


class ReadOnlyResource(ResourceError):
    pass


def ident(kind: str, name: str, namespace: str | None = None) -> str:
    return f"{kind}({namespace}/{name})" if BY_KIND[kind].namespaced and namespace else f"{kind}({name})"


def encode(doc: dict[str, Any]) -> str:
    """The stored JSON: compact, with resourceVersion removed (Calico's etcd value format)."""
    meta = dict(doc.get("metadata") or {})
    meta.pop("resourceVersion", None)
    meta.pop("selfLink", None)
    out = dict(doc)
    out["metadata"] = meta
    return json.dumps(out, separators=(",", ":"))


def decode(value: str, revision: int) -> Resource:
    """A stored value as a resource: defaults applied, not re-validated (what is stored is shown)."""
    from calico.api import Resource as _Resource

    return _Resource.from_stored(value, revision)


def _default_allow_profile() -> Resource:
    from calico.api import parse_resource

    return parse_resource({
        "apiVersion": "projectcalico.org/v3", "kind": "Profile",
        "metadata": {"name": DEFAULT_ALLOW_PROFILE, "resourceVersion": "0"},
        "spec": {"ingress": [{"action": "Allow"}], "egress": [{"action": "Allow"}]},
    })


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ResourceClient:
    """create / update / apply / get / list / delete of calico.api resources."""

    def __init__(self, ds: Datastore) -> None:
        self.ds = ds

    # --- reads -------------------------------------------------------------------------------------
    async def get(self, kind: str, name: str, namespace: str | None = None) -> Resource:
        if kind == "Profile" and name == DEFAULT_ALLOW_PROFILE:
            return _default_allow_profile()
        kv = await self.ds.get(keys.resource_key(kind, name, namespace))
        if kv is None:
            raise ResourceNotFound(ident(kind, name, namespace))
        return decode(kv.value, kv.mod_revision)

    async def list(self, kind: str, namespace: str | None = None) -> tuple[list[Resource], int]:
        """All resources of a kind (one namespace, or all when namespace is None), sorted by name."""
        kvs, revision = await self.ds.list(keys.kind_prefix(kind, namespace))
        items = []
        for kv in kvs:
            parsed = keys.parse_resource_key(kv.key)
            if parsed is None:
                continue
            items.append(decode(kv.value, kv.mod_revision))
        if kind == "Profile":
            items.append(_default_allow_profile())
        items.sort(key=lambda r: (r.metadata.namespace or "", r.metadata.name))
        return items, revision

    # --- writes ------------------------------------------------------------------------------------
    async def create(self, res: Resource) -> Resource:
        kind, namespace, name = res.identity()
        self._check_writable(kind)
        doc = res.to_dict()
        meta = doc.setdefault("metadata", {})
        if meta.get("resourceVersion"):
            from calico.api import CalicoValidationError, FieldError

            raise CalicoValidationError([FieldError("Metadata.ResourceVersion", meta["resourceVersion"],
                                                    "field must not be set for a Create request")])
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        await self._precreate_checks(kind, name, doc)
        try:
            rev = await self.ds.create(keys.resource_key(kind, name, namespace), encode(doc))
        except AlreadyExists:
            raise ResourceExists(ident(kind, name, namespace)) from None
        return decode(encode(doc), rev)

    async def update(self, res: Resource, keep_stored_metadata: bool = False) -> Resource:
        """Update at the resource's resourceVersion (or the stored one when it has none)."""
        kind, namespace, name = res.identity()
        self._check_writable(kind)
        key = keys.resource_key(kind, name, namespace)
        doc = res.to_dict()
        meta = doc.setdefault("metadata", {})
        current = await self.ds.get(key)
        if current is None:
            raise ResourceNotFound(ident(kind, name, namespace))
        stored = json.loads(current.value)
        stored_meta = stored.get("metadata") or {}
        rv = meta.get("resourceVersion")
        if rv and str(rv) != str(current.mod_revision):
            raise UpdateConflict(ident(kind, name, namespace), latest=str(current.mod_revision))
        revision = int(rv) if rv else current.mod_revision
        # Identity fields are the stored ones; labels and annotations come from the user's document.
        for field in ("uid", "creationTimestamp", "generateName"):
            if field in stored_meta:
                meta[field] = stored_meta[field]
        if keep_stored_metadata:
            for field in ("labels", "annotations"):
                if field not in meta and field in stored_meta:
                    meta[field] = stored_meta[field]
        self._preupdate_checks(kind, stored, doc)
        try:
            new_rev = await self.ds.update(key, encode(doc), revision)
        except Conflict as exc:
            raise UpdateConflict(ident(kind, name, namespace), latest=str(exc.actual)) from None
        except NotFound:
            raise ResourceNotFound(ident(kind, name, namespace)) from None
        return decode(encode(doc), new_rev)

    async def apply(self, res: Resource) -> Resource:
        """Create, or update the stored object (any resourceVersion in the document is ignored)."""
        try:
            doc = res.to_dict()
            doc.get("metadata", {}).pop("resourceVersion", None)
            from calico.api import parse_resource

            return await self.create(parse_resource(doc))
        except ResourceExists:
            pass
        for _attempt in range(5):
            doc = res.to_dict()
            doc.get("metadata", {}).pop("resourceVersion", None)
            from calico.api import parse_resource

            try:
                return await self.update(parse_resource(doc))
            except UpdateConflict:
                continue
        raise UpdateConflict(ident(*_ident_args(res)))

    async def delete(self, kind: str, name: str, namespace: str | None = None,
                     resource_version: str | None = None) -> Resource:
        self._check_writable(kind)
        key = keys.resource_key(kind, name, namespace)
        if kind == "IPPool":
            await self._before_pool_delete(name)
        try:
            kv = await self.ds.delete(key, int(resource_version) if resource_version else None)
        except NotFound:
            raise ResourceNotFound(ident(kind, name, namespace)) from None
        except Conflict as exc:
            raise UpdateConflict(ident(kind, name, namespace), latest=str(exc.actual)) from None
        return decode(kv.value, kv.mod_revision)

    # --- Calico's client-side rules -----------------------------------------------------------------
    @staticmethod
    def _check_writable(kind: str) -> None:
        info = BY_KIND[kind]
        if info.readonly:
            raise ReadOnlyResource(f"resource is readonly: {kind}")

    async def _precreate_checks(self, kind: str, name: str, doc: dict[str, Any]) -> None:
        if kind == "IPPool":
            from calico.api import check_pool_overlap, parse_resource

            existing, _ = await self.list("IPPool")
            err = check_pool_overlap(parse_resource(doc), existing)
            if err is not None:
                raise err

    @staticmethod
    def _preupdate_checks(kind: str, stored: dict[str, Any], doc: dict[str, Any]) -> None:
        if kind == "IPPool":
            from calico.api import check_pool_update, parse_resource

            old = dict(stored)
            old.setdefault("metadata", {})
            err = check_pool_update(parse_resource(old), parse_resource(doc))
            if err is not None:
                raise err

    async def _before_pool_delete(self, name: str) -> None:
        """Calico disables a pool and releases its block affinities before deleting it."""
        from calico.ipam.allocator import IPAMClient

        kv = await self.ds.get(keys.resource_key("IPPool", name))
        if kv is None:
            return
        doc = json.loads(kv.value)
        spec = doc.setdefault("spec", {})
        if not spec.get("disabled"):
            spec["disabled"] = True
            try:
                await self.ds.update(kv.key, json.dumps(doc, separators=(",", ":")), kv.mod_revision)
            except (Conflict, NotFound):
                pass
        await IPAMClient(self.ds).release_pool_affinities(spec.get("cidr", ""))


def _ident_args(res: Resource) -> tuple[str, str, str | None]:
    kind, namespace, name = res.identity()
    return kind, name, namespace
