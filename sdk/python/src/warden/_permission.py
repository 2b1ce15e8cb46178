"""``Permission``: permission keys spelled as attributes, like Arize's ``Permission`` enum.

``Permission.PROJECT_READ == "project:read"``. Any upper-case ``RESOURCE_ACTION`` attribute
maps to ``resource:action``: the last underscore separates the resource from the action
(``Permission.TEST_RUN_EVALUATE == "test_run:evaluate"``). For an action that itself holds an
underscore, put a double underscore between resource and action
(``Permission.ADMIN__MANAGE_ROLES == "admin:manage_roles"``). There is no list: the
catalogue of the server in use decides which keys exist (list them with
``permissions.list()``), and an unknown one is refused by the server with a 422.
"""

from __future__ import annotations

import re

__all__ = ["Permission", "permission_key"]

_NAME = re.compile(r"^[A-Z][A-Z0-9]*(?:__?[A-Z0-9]+)+$")


def permission_key(name: str) -> str:
    """The ``resource:action`` key of an attribute name such as ``DATASET_READ``."""
    if not _NAME.match(name):
        raise AttributeError(
            f"`{name}` is not a permission name: write RESOURCE_ACTION in capitals, such as "
            "Permission.DATASET_READ (or RESOURCE__ACTION when the action holds an underscore)"
        )
    if "__" in name:
        resource, _, action = name.partition("__")
    else:
        resource, _, action = name.rpartition("_")
    return f"{resource.lower()}:{action.lower()}"


class _PermissionMeta(type):
    def __getattr__(cls, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return permission_key(name)


class Permission(metaclass=_PermissionMeta):
    """Permission keys as attributes: ``Permission.DATASET_CREATE == "dataset:create"``.

    The values are plain strings, accepted wherever the API takes permissions.
    ``Permission.key("dataset", "read")`` builds one from its parts.
    """

    def __init__(self) -> None:
        raise TypeError("Permission is a namespace of keys: use Permission.DATASET_READ")

    @staticmethod
    def key(resource: str, action: str) -> str:
        """``resource:action`` from its two parts."""
        return f"{resource}:{action}"
