"""Two ROS 2 back ends behind one interface: rclpy where it imports, else pure DDS.

`DdsTransport` speaks ROS 2's wire conventions with cyclonedds alone: topic names
`rt/<namespace>/<name>`, type names `pkg::msg::dds_::Name_` (adapters/ros2/messages),
XCDR1 data and ROS 2's default QoS (reliable, volatile, keep last 10), so real ROS 2
nodes (rmw_cyclonedds_cpp, or any RMW on the same DDS domain) exchange messages with it.
`RclpyTransport` uses a real rclpy node where ROS 2 is installed (not testable here).

Callbacks run on the back end's own thread (cyclonedds listener / rclpy executor)
and must not block.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any, Protocol

log = logging.getLogger(__name__)

Callback = Callable[[Any], None]


def ros_name(namespace: str, name: str) -> str:
    """The ROS 2 topic name: `/<ns>/<name>` (no namespace: `/<name>`)."""
    ns = namespace.strip("/")
    return f"/{ns}/{name}" if ns else f"/{name}"


def dds_topic(namespace: str, name: str) -> str:
    """The DDS topic ROS 2 uses for that name: `rt` + the ROS name."""
    return "rt" + ros_name(namespace, name)


class Ros2Transport(Protocol):
    backend: str

    def publisher(self, namespace: str, name: str, msg_type: type) -> Callable[[Any], None]: ...

    def subscribe(self, namespace: str, name: str, msg_type: type, callback: Callback) -> None: ...

    def close(self) -> None: ...


def default_qos() -> Any:
    """ROS 2's default QoS profile (rmw_qos_profile_default) in cyclonedds terms."""
    from cyclonedds.core import Policy, Qos
    from cyclonedds.util import duration

    return Qos(
        Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=100)),
        Policy.Durability.Volatile,
        Policy.History.KeepLast(10),
        Policy.DataRepresentation(use_cdrv0_representation=True),  # XCDR1, as ROS 2 writes
    )


class DdsTransport:
    backend = "dds"

    def __init__(self, domain_id: int = 0) -> None:
        from cyclonedds.domain import DomainParticipant

        self.domain_id = domain_id
        self._participant = DomainParticipant(domain_id)
        self._qos = default_qos()
        self._topics: dict[str, Any] = {}
        self._keep: list[Any] = []  # readers/writers/listeners must stay referenced
        self._lock = threading.Lock()
        self.decode_errors = 0

    def _topic(self, name: str, msg_type: type) -> Any:
        from cyclonedds.topic import Topic

        with self._lock:
            topic = self._topics.get(name)
            if topic is None:
                topic = self._topics[name] = Topic(self._participant, name, msg_type, qos=self._qos)
            return topic

    def publisher(self, namespace: str, name: str, msg_type: type) -> Callable[[Any], None]:
        from cyclonedds.pub import DataWriter

        writer = DataWriter(self._participant, self._topic(dds_topic(namespace, name), msg_type),
                            qos=self._qos)
        self._keep.append(writer)
        return writer.write

    def subscribe(self, namespace: str, name: str, msg_type: type, callback: Callback) -> None:
        from cyclonedds.core import Listener
        from cyclonedds.sub import DataReader

        def on_data(reader: Any) -> None:
            try:
                samples = reader.take(64)
            except Exception:  # a sample that does not decode
                self.decode_errors += 1
                log.exception("dds: cannot take from %s", name)
                return
            for sample in samples:
                try:
                    callback(sample)
                except Exception:
                    log.exception("dds: callback on %s failed", name)

        listener = Listener(on_data_available=on_data)
        reader = DataReader(self._participant, self._topic(dds_topic(namespace, name), msg_type),
                            qos=self._qos, listener=listener)
        self._keep += [listener, reader]

    def close(self) -> None:
        self._keep.clear()
        self._topics.clear()
        self._participant = None


class RclpyTransport:
    """The same interface on a real rclpy node (used where ROS 2 is installed)."""

    backend = "rclpy"

    def __init__(self, node_name: str = "fleet5g_gateway", domain_id: int | None = None) -> None:
        import rclpy  # guarded by `available()`
        from rclpy.executors import SingleThreadedExecutor

        self._rclpy = rclpy
        self._context = rclpy.Context()
        kwargs = {"domain_id": domain_id} if domain_id is not None else {}
        rclpy.init(context=self._context, **kwargs)
        self._node = rclpy.create_node(node_name, context=self._context)
        self._executor = SingleThreadedExecutor(context=self._context)
        self._executor.add_node(self._node)
        self._thread = threading.Thread(target=self._executor.spin, daemon=True)
        self._thread.start()

    @staticmethod
    def available() -> bool:
        try:
            importlib.import_module("rclpy")
        except ImportError:
            return False
        return True

    @staticmethod
    def _ros_class(msg_type: type) -> Any:
        pkg, _, _, name = msg_type.__idl_typename__.split("::")  # type: ignore[attr-defined]
        return getattr(importlib.import_module(f"{pkg}.msg"), name.rstrip("_"))

    def _to_ros(self, value: Any) -> Any:
        cls = self._ros_class(type(value))
        out = cls()
        for key, item in vars(value).items():
            if hasattr(item, "__idl_typename__"):
                item = self._to_ros(item)
            elif isinstance(item, list) and item and hasattr(item[0], "__idl_typename__"):
                item = [self._to_ros(i) for i in item]
            setattr(out, key, item)
        return out

    def _from_ros(self, msg_type: type, value: Any) -> Any:
        import dataclasses
        import typing

        hints = typing.get_type_hints(msg_type)
        kwargs = {}
        for f in dataclasses.fields(msg_type):
            item = getattr(value, f.name)
            hint = hints[f.name]
            if isinstance(hint, type) and hasattr(hint, "__idl_typename__"):
                item = self._from_ros(hint, item)
            elif isinstance(item, list | tuple) or hasattr(item, "tolist"):
                item = list(item)
                inner = typing.get_args(getattr(hint, "__metadata__", [hint])[0]) if hasattr(
                    hint, "__metadata__") else ()
                if inner and hasattr(inner[0], "__idl_typename__"):
                    item = [self._from_ros(inner[0], i) for i in item]
            kwargs[f.name] = item
        return msg_type(**kwargs)

    def _ros_class_or_none(self, msg_type: type, topic: str) -> Any:
        """None where the interface package is not built here (fleet5g_msgs): that topic
        is left out, and the robot is driven with the standard topics only."""
        try:
            return self._ros_class(msg_type)
        except (ImportError, AttributeError):
            log.warning("rclpy: %s not installed; %s not used",
                        msg_type.__idl_typename__, topic)  # type: ignore[attr-defined]
            return None

    def publisher(self, namespace: str, name: str, msg_type: type) -> Callable[[Any], None]:
        topic = ros_name(namespace, name)
        cls = self._ros_class_or_none(msg_type, topic)
        if cls is None:
            return lambda value: None
        pub = self._node.create_publisher(cls, topic, 10)
        return lambda value: pub.publish(self._to_ros(value))

    def subscribe(self, namespace: str, name: str, msg_type: type, callback: Callback) -> None:
        topic = ros_name(namespace, name)
        cls = self._ros_class_or_none(msg_type, topic)
        if cls is not None:
            self._node.create_subscription(cls, topic,
                                           lambda m: callback(self._from_ros(msg_type, m)), 10)

    def close(self) -> None:
        self._executor.shutdown()
        self._node.destroy_node()
        self._rclpy.shutdown(context=self._context)


def open_transport(backend: str = "auto", domain_id: int = 0) -> Ros2Transport:
    """`auto`: rclpy if it imports, else pure DDS."""
    if backend == "rclpy" or (backend == "auto" and RclpyTransport.available()):
        return RclpyTransport(domain_id=domain_id)
    if backend in ("dds", "auto"):
        return DdsTransport(domain_id)
    raise ValueError(f"unknown ROS 2 back end {backend!r} (auto, rclpy, dds)")
