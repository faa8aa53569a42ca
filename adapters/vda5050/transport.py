"""MQTT for VDA 5050 (paho-mqtt >= 2): one client, reconnecting, re-subscribing.

paho runs its own network thread (`loop_start`); `on_message(topic, payload)` is
called there and must not block. Subscriptions are re-made on every (re)connect, so
a broker restart (clean session) loses nothing but the messages in flight, which
the gateway re-publishes until the vehicle's state confirms them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

log = logging.getLogger(__name__)

MessageCallback = Callable[[str, bytes], None]


class MqttLink:
    def __init__(
        self,
        client_id: str,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        keepalive_s: int = 5,
        will: tuple[str, dict[str, Any], int, bool] | None = None,
        on_message: MessageCallback | None = None,
        on_connect: Callable[[], None] | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host, self.port, self.keepalive_s = host, port, keepalive_s
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id,
                                   protocol=mqtt.MQTTv311, clean_session=True)
        self._client.reconnect_delay_set(min_delay=0.1, max_delay=2)
        self._client.max_queued_messages_set(10000)
        if username:
            self._client.username_pw_set(username, password)
        if will:
            topic, payload, qos, retain = will
            self._client.will_set(topic, json.dumps(payload), qos=qos, retain=retain)
        self._subs: dict[str, int] = {}
        self._on_message_cb = on_message
        self._on_connect_cb = on_connect
        self._connected = threading.Event()
        self.connects = 0
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        return self._connected.wait(timeout_s)

    def start(self) -> None:
        self._client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self._client.loop_start()

    def stop(self, graceful: bool = True) -> None:
        if graceful:
            self._client.disconnect()
        self._client.loop_stop()
        self._connected.clear()

    def subscribe(self, topic: str, qos: int = 0) -> None:
        self._subs[topic] = qos
        if self.connected:
            self._client.subscribe(topic, qos)

    def publish(self, topic: str, message: dict[str, Any], qos: int = 0,
                retain: bool = False) -> bool:
        """Publish JSON; False when it could not even be queued (paho's queue is full)."""
        info = self._client.publish(topic, json.dumps(message, separators=(",", ":")),
                                    qos=qos, retain=retain)
        return info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN)

    def publish_raw(self, topic: str, payload: bytes, qos: int = 0) -> None:
        """For tests: put arbitrary bytes on the wire."""
        self._client.publish(topic, payload, qos=qos)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("mqtt %s:%s refused: %s", self.host, self.port, reason)
            return
        self.connects += 1
        for topic, qos in self._subs.items():
            client.subscribe(topic, qos)
        self._connected.set()
        if self._on_connect_cb:
            try:
                self._on_connect_cb()
            except Exception:
                log.exception("mqtt on_connect hook failed")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        self._connected.clear()

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if self._on_message_cb is None:
            return
        try:
            self._on_message_cb(msg.topic, msg.payload)
        except Exception:  # a bad message must never stop the network thread
            log.exception("mqtt message handler failed on %s", msg.topic)
