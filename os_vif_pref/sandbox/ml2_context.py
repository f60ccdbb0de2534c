"""An ML2-shaped port context, for driving a mechanism driver's bind_port.

Neutron's ML2 plugin hands ``bind_port`` a ``PortContext``; a driver only
reads the port (``current``, whose ``binding:profile`` carries the host's
offer) and the segments, and answers with ``set_binding``.  This class is
exactly that much of ML2's, subclassing neutron-lib's abstract class when it
is installed (the ``[neutron]`` extra) so a driver sees the real type; every
other member raises, so a driver depending on more is caught.  Used by the
``demo`` command (its path without Neutron) and, through
:mod:`os_vif_pref.testing.ml2`, the tests.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

try:
    from neutron_lib.plugins.ml2 import api as ml2_api
    _ContextBase: Any = ml2_api.PortContext
except ImportError:  # pragma: no cover - neutron-lib is a test dependency
    ml2_api = None
    _ContextBase = object

Binding = tuple[str, str, dict[str, Any], Any]


class PortContext(_ContextBase):
    """What ML2 hands ``bind_port``: the port, the segments, set_binding."""

    def __init__(self, port: dict[str, Any],
                 segments: Sequence[Mapping[str, Any]]) -> None:
        self._port = port
        self._segments = list(segments)
        #: Every set_binding call, in order (a driver should make one).
        self.bound: list[Binding] = []

    @property
    def binding(self) -> Binding | None:
        """The last binding set, or None if the driver bound nothing."""
        return self.bound[-1] if self.bound else None

    @property
    def current(self) -> dict[str, Any]:
        return self._port

    @property
    def segments_to_bind(self) -> list[Mapping[str, Any]]:
        return self._segments

    def set_binding(self, segment_id: str, vif_type: str,
                    vif_details: dict[str, Any], status: Any = None) -> None:
        self.bound.append((segment_id, vif_type, dict(vif_details), status))

    def _unused(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("not used by bind_port")

    original = status = original_status = network = binding_levels = \
        original_binding_levels = top_bound_segment = \
        original_top_bound_segment = bottom_bound_segment = \
        original_bottom_bound_segment = host = original_host = vif_type = \
        original_vif_type = vif_details = original_vif_details = \
        property(_unused)
    host_agents = continue_binding = allocate_dynamic_segment = \
        release_dynamic_segment = _unused
