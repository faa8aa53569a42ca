"""`LoopbackGateway`: machines that carry out every command at once (bus tests, benches).

A movement command puts the machine at the end of its released base; an instant
action pause/resume flips `paused`. Each machine reports a state every
`state_period_s` and right after each command. With `record_path`, every applied
command is appended as one JSON line (so a test in another process or network
namespace can check that nothing was lost or doubled).
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from pathlib import Path
from typing import Any

from adapters.bus import codec
from adapters.bus.gateway import Gateway
from fleet.domain.commands import ActionType, Command, InstantAction, MachineState, MovementCommand


class LoopbackGateway(Gateway):
    def __init__(self, gateway_id: str, machine_ids: list[str], endpoint: str, *,
                 state_period_s: float = 0.2, record_path: str | Path | None = None,
                 **kwargs: Any) -> None:
        super().__init__(gateway_id, machine_ids, endpoint, **kwargs)
        self.state_period_s = state_period_s
        self.record_path = Path(record_path) if record_path else None
        self.states = {mid: MachineState(mid, time.time()) for mid in machine_ids}
        self.applied: list[str] = []
        self._stop_ev = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> LoopbackGateway:
        try:
            return cls(str(data.get("gateway_id", "gw-loopback")), [str(m) for m in data["machines"]],
                       str(data["bus"]), state_period_s=float(data.get("state_period_s", 0.2)),
                       record_path=data.get("record"),
                       heartbeat_s=float(data.get("heartbeat_s", 0.5)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"loopback gateway config: missing or bad {exc}") from None

    def on_start(self) -> None:
        self._stop_ev.clear()
        self._thread = threading.Thread(target=self._report, daemon=True, name="loopback")
        self._thread.start()

    def on_stop(self) -> None:
        self._stop_ev.set()
        if self._thread:
            self._thread.join(2)

    def on_command(self, cmd: Command) -> None:
        with self._lock:
            s = self.states[cmd.machine_id]
            if isinstance(cmd, MovementCommand):
                end = cmd.base_end
                if end is not None:
                    s = dataclasses.replace(s, order_id=cmd.order_id,
                                            order_update_id=cmd.order_update_id,
                                            last_node_id=end.node_id,
                                            last_node_sequence_id=end.sequence_id, x=end.x, y=end.y)
            elif isinstance(cmd, InstantAction):
                for a in cmd.actions:
                    if a.action_type is ActionType.START_PAUSE:
                        s = dataclasses.replace(s, paused=True)
                    elif a.action_type is ActionType.STOP_PAUSE:
                        s = dataclasses.replace(s, paused=False)
            self.states[cmd.machine_id] = s
            self.applied.append(cmd.command_id)
            if self.record_path:
                with self.record_path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"command_id": cmd.command_id,
                                        "machine_id": cmd.machine_id,
                                        "kind": codec.KIND_OF_COMMAND[type(cmd)]}) + "\n")
        self._send_state(cmd.machine_id)

    def _send_state(self, machine_id: str) -> None:
        with self._lock:
            s = dataclasses.replace(self.states[machine_id],
                                    stamp_s=max(time.time(), self.states[machine_id].stamp_s + 1e-6))
            self.states[machine_id] = s
        self.publish_state(s)

    def _report(self) -> None:
        while not self._stop_ev.wait(self.state_period_s):
            for mid in list(self.states):
                self._send_state(mid)
