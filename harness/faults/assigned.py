"""Faults in an instance's assigned-resources list (``instance.resources``).

``instance_extra.resources`` holds the :class:`nova.objects.ResourceList`
the tracker assigned to the instance at claim time (devices such as
persistent-memory namespaces, each a ``Resource`` with a provider uuid, a
resource class and an identifier).  :class:`InstanceResources` rewrites it
below the object layer and puts the original back on cleanup.
"""
from __future__ import annotations

import copy

from harness.faults.records import _ExtraColumn

MODES = ("absent", "empty", "identifier", "resource_class", "provider",
         "duplicated", "malformed")


class InstanceResources(_ExtraColumn):
    """Corrupt ``instance_extra.resources`` of one instance.

    ``mode``:

    * ``absent``: NULL (the instance appears to hold nothing);
    * ``empty``: an empty ResourceList;
    * ``identifier``: each resource's identifier replaced by ``value``
      (another device, or one the host does not have);
    * ``resource_class``: each resource's class replaced by ``value``;
    * ``provider``: each resource's provider uuid replaced by ``value``;
    * ``duplicated``: each resource listed twice;
    * ``malformed``: the column holds ``value`` (default: text that is not
      JSON).
    """
    column = "resources"

    def __init__(self, world, instance: str, mode: str = "absent",
                 value=None):
        super().__init__(world, instance)
        if mode not in MODES:
            raise ValueError("mode must be one of %s" % ", ".join(MODES))
        self.mode, self.value = mode, value

    def authority_class(self) -> str:
        from harness.faults import base
        return base.INADMISSIBLE if self.mode == "malformed" \
            else base.INCONSISTENT

    def describe(self):
        what = {"absent": "absent (NULL)", "empty": "an empty list",
                "duplicated": "each resource listed twice"}.get(self.mode)
        if what is None:
            what = "%s=%r" % (self.mode, self.value if self.mode !=
                              "malformed" else self._malformed())
        return "assigned resources of %s: %s" % (self.instance, what)

    def _malformed(self):
        return self.value if self.value is not None else "{not json"

    def inject(self):
        if self.mode != "malformed":
            return super().inject()
        from harness.faults.records import _main_db, _models
        uuid = self.world.instances[self.instance].uuid
        extra = _models().InstanceExtra
        with _main_db(self.world) as session:
            row = session.query(extra).filter_by(instance_uuid=uuid).one()
            original = row.resources
            session.query(extra).filter_by(instance_uuid=uuid).update(
                {"resources": self._malformed()}, synchronize_session=False)
        self.addCleanup(self._restore, uuid, original)
        self._note_stored(uuid, self._malformed())

    def transform(self, value):
        if self.mode == "absent":
            return None
        if value is None:
            raise ValueError("instance %s has no assigned resources to "
                             "alter" % self.instance)
        value = copy.deepcopy(value)
        objs = value["nova_object.data"]["objects"]
        if self.mode == "empty":
            value["nova_object.data"]["objects"] = []
            return value
        if self.mode == "duplicated":
            value["nova_object.data"]["objects"] = objs + copy.deepcopy(objs)
            return value
        key = {"identifier": "identifier", "resource_class":
               "resource_class", "provider": "provider_uuid"}[self.mode]
        for obj in objs:
            obj["nova_object.data"][key] = self.value
        return value


def assigned(world, instance: str) -> list[tuple]:
    """(provider_uuid, resource_class, identifier) the DB holds for the
    instance's assigned resources (a fresh read, for evidence)."""
    from nova import objects
    inst = objects.Instance.get_by_uuid(
        world.ctx, world.instances[instance].uuid,
        expected_attrs=["resources"])
    return sorted((r.provider_uuid, r.resource_class, r.identifier)
                  for r in (inst.resources or []))

