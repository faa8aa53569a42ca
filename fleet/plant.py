"""The simulated plant behind the demo and the end-to-end tests, on each transport.

The service only ever sees gateways on its vehicle bus; what stands behind them is
chosen by the transport, as on a real site:
- `inproc`: the simulator (AGVs and cranes) as one gateway in this process;
- `tcp`: the simulator as its own process over tcp://, as a gateway on an edge (MEC)
  node would run (`python -m fleet.plant edge ...`, the same `SimGateway` that
  `fleet gateway --adapter sim` runs);
- `vda5050`: the AGVs as simulated VDA 5050 vehicles on an MQTT broker (a mosquitto
  started here where it is installed), behind the VDA 5050 gateway;
- `ros2`: the AGVs as simulated ROS 2 robots on DDS, behind the ROS 2 gateway.
Cranes stay on the in-process simulator in every mode but `tcp`.

`speed` makes every machine faster by the same factor (simulated seconds per wall
second), so a shift runs in minutes. Safety is watched from the machines' true
positions, never from what the core believes: a `sim.safety.SafetyMonitor` over the
simulated world, and `FootprintWatch` over vehicles that live outside it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fleet.errors import FleetError

log = logging.getLogger(__name__)
RESUMED_FIELDS = ("id", "node", "battery", "load_id", "heading_rad", "bridge_m", "trolley_m")  # what a resumed simulator takes

TRANSPORTS = ("inproc", "tcp", "vda5050", "ros2")
MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto")


class PlantError(FleetError):
    """The plant for a transport cannot be started here (what is missing, and how to get it)."""

    status = 503
    kind = "plant-unavailable"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def calm(scenario: Any) -> Any:
    """The scenario without its faults and link losses (latency stays): for tests that
    require every order done, where a scheduled breakdown would fail one on purpose."""
    from sim.network import LinkProfile

    link = scenario.link
    return dataclasses.replace(scenario, fixed_faults=(), fault_rates=(),
                               link=LinkProfile(latency_ms=link.latency_ms, jitter_ms=link.jitter_ms))


# --------------------------------------------------------------------------- safety


def watched_sim_gateway(world: Any, endpoint: str, *, observers: tuple[Callable[[Any], None], ...] = (),
                        **kw: Any) -> Any:
    """A `sim.gateway.SimGateway` whose every step is shown to `observers` (on its stepping thread)."""
    from sim.gateway import SimGateway

    class WatchedSimGateway(SimGateway):
        def advance(self, dt_s: float | None = None) -> list[Any]:
            states = super().advance(dt_s)
            for observe in observers:
                try:
                    observe(self.world)
                except Exception:  # a watcher must never stop the plant
                    log.exception("plant observer failed")
            return states

    return WatchedSimGateway(world, endpoint, **kw)


class WorldSafety:
    """A `SafetyMonitor` fed after every step of one world (call `observe` from its thread)."""

    def __init__(self, world: Any, deadlock_s: float, check_period_s: float = 1.0) -> None:
        from sim.safety import SafetyMonitor

        self.monitor = SafetyMonitor(world.site, world.agvs, world.cranes, deadlock_s)
        self.check_period_s = check_period_s
        self._next = world.now
        self._lock = threading.Lock()

    def observe(self, world: Any) -> None:
        with self._lock:
            self.monitor.on_traversals(world.now, world.traversals)
            if world.now >= self._next:
                self._next = world.now + self.check_period_s
                self.monitor.check(world.now)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.monitor.counts)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dataclasses.asdict(e) for e in self.monitor.events]


class FootprintWatch:
    """Collisions between vehicles that live outside the simulated world (VDA 5050, ROS 2):
    samples their true poses at `hz` and tests the site's vehicle footprints, as the
    simulator's monitor does. Counts one collision per episode of a pair."""

    def __init__(self, site: Any, poses: Callable[[], list[tuple[str, float, float, float]]], hz: float = 20.0) -> None:
        shape = site.vehicle_shape
        self.half_l, self.half_w = shape.length_m / 2, shape.width_m / 2
        self.poses = poses
        self.period_s = 1.0 / hz
        self.counts = {"collisions": 0, "samples": 0}
        self.events: list[dict[str, Any]] = []
        self._touching: set[tuple[str, str]] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="footprint-watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def sample(self) -> None:
        from sim.safety import close_pairs, obb_overlap

        poses = self.poses()
        if len(poses) < 2:
            return
        ids = [p[0] for p in poses]
        x = np.array([p[1] for p in poses])
        y = np.array([p[2] for p in poses])
        th = np.array([p[3] for p in poses])
        i, j = close_pairs(x, y, 2 * math.hypot(self.half_l, self.half_w))
        now: set[tuple[str, str]] = set()
        if i.shape[0]:
            hit = obb_overlap(x[j] - x[i], y[j] - y[i], th[i], th[j], self.half_l, self.half_w)
            now = {(ids[a], ids[b]) for a, b, h in zip(i.tolist(), j.tolist(), hit.tolist(), strict=True) if h}
        for pair in sorted(now - self._touching):
            self.counts["collisions"] += 1
            self.events.append({"at_s": time.time(), "kind": "collision", "machines": list(pair)})
        self._touching = now
        self.counts["samples"] += 1

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            try:
                self.sample()
            except Exception:
                log.exception("footprint watch failed")


class WireCheck:
    """Every VDA 5050 message on the broker, checked against the official schema."""

    def __init__(self, host: str, port: int, versions: dict[str, str], interface: str = "uagv") -> None:
        from adapters.vda5050.transport import MqttLink

        self.versions = versions
        self.messages = 0
        self.invalid = 0
        self.by_topic: dict[str, int] = {}
        self.first_problems: list[str] = []
        self._lock = threading.Lock()
        self.link = MqttLink(f"fleet5g-wirecheck-{os.getpid()}", host, port, on_message=self._on)
        self.link.subscribe(f"{interface}/#", 1)

    def _on(self, topic: str, payload: bytes) -> None:
        from adapters.vda5050.validation import problems

        parts = topic.split("/")
        if len(parts) < 5 or not payload:
            return
        serial, name = parts[3], parts[4]
        version = self.versions.get(serial, "2.0.0")
        try:
            found = problems(version, name, json.loads(payload))
        except (ValueError, KeyError) as exc:
            found = [f"(root): {exc}"]
        with self._lock:
            self.messages += 1
            self.by_topic[name] = self.by_topic.get(name, 0) + 1
            if found:
                self.invalid += 1
                if len(self.first_problems) < 10:
                    self.first_problems.append(f"{topic}: {found[0]}")

    def start(self) -> None:
        self.link.start()
        self.link.wait_connected()

    def stop(self) -> None:
        self.link.stop()

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {"messages": self.messages, "invalid": self.invalid, "by_topic": dict(self.by_topic),
                    "first_problems": list(self.first_problems)}


# --------------------------------------------------------------------------- broker


def find_mosquitto() -> str | None:
    found = shutil.which("mosquitto")
    if found:
        return found
    return next((p for p in MOSQUITTO_PATHS if Path(p).exists()), None)


class Mosquitto:
    """A private mosquitto on a free loopback port (config and log in `workdir`)."""

    def __init__(self, workdir: Path, host: str = "127.0.0.1", port: int | None = None) -> None:
        exe = find_mosquitto()
        if exe is None:
            raise PlantError("--transport vda5050 needs an MQTT broker: mosquitto is not installed here "
                             "(Debian/Ubuntu: sudo apt-get install mosquitto; or `make system-deps`)")
        self.exe = exe
        self.host = host
        self.port = port or free_port(host)
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.conf.write_text(f"listener {self.port} {host}\nallow_anonymous true\npersistence false\n"
                             "max_packet_size 1048576\nlog_type error\nlog_type warning\n", encoding="utf-8")
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self._proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise PlantError(f"mosquitto exited at start: {self.log.read_text(errors='replace')[-500:]}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.2):
                return
            time.sleep(0.05)
        raise PlantError(f"mosquitto did not listen on {self.host}:{self.port} within 10 s")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        self._proc = None


# --------------------------------------------------------------------------- plants


@dataclasses.dataclass
class PlantOptions:
    transport: str = "inproc"
    speed: float = 1.0
    endpoint: str = "inproc://fleet-plant"  # where the core's hub listens
    workdir: Path = Path("var/plant")
    watch_safety: bool = False
    calm: bool = False  # no faults, no link losses (tests that need every order done)
    mqtt: tuple[str, int] | None = None  # an existing broker instead of a private mosquitto
    dt_s: float | None = None  # simulator step (default: the scenario's)
    sensing: bool = True  # simulated AGVs report raw positioning readings for the core to fuse
    report_period_s: float = 0.5  # how often each AGV sends its batch of readings
    lockstep: bool = False  # no pacing: `Lockstep` steps the core and the simulator together
    resume: tuple[Any, ...] = ()  # machine records from the store: the simulator starts where they stood


class Plant:
    """The machines of one scenario on one transport. `start()`, then `stop()`."""

    def __init__(self, scenario: Any, opts: PlantOptions) -> None:
        if opts.transport not in TRANSPORTS:
            raise PlantError(f"unknown transport {opts.transport!r} (one of {', '.join(TRANSPORTS)})")
        self.scenario = calm(scenario) if opts.calm else scenario
        self.opts = opts
        self.world: Any = None
        self.safety: WorldSafety | None = None
        self.footprints: FootprintWatch | None = None
        self.wire: WireCheck | None = None
        self.broker: Mosquitto | None = None
        self.vehicles: dict[str, Any] = {}
        self._parts: list[Any] = []  # started in order, stopped in reverse
        self._edge: subprocess.Popen[str] | None = None
        self._edge_report = opts.workdir / "edge-safety.json"
        self._edge_lines: list[str] = []
        self._control: str | None = None
        self._control_socket: Any = None
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    # --- what the demo prints
    def describe(self) -> str:
        t = self.opts.transport
        if t == "inproc":
            return "simulator in this process on the in-process bus"
        if t == "tcp":
            return f"simulator as its own process (pid {self._edge.pid if self._edge else '?'}) on {self.opts.endpoint}"
        if t == "vda5050":
            host, port = (self.broker.host, self.broker.port) if self.broker else (self.opts.mqtt or ("?", 0))
            where = f"{host}:{port}"
            return f"AGVs as VDA 5050 vehicles on MQTT {where}; cranes on the in-process simulator"
        return "AGVs as ROS 2 robots on DDS; cranes on the in-process simulator"

    # --- lifecycle
    def start(self) -> Plant:
        self.opts.workdir.mkdir(parents=True, exist_ok=True)
        t = self.opts.transport
        if t == "tcp":
            self._start_edge()
            return self
        agvs_here = t == "inproc"
        self._start_world(with_agvs=agvs_here)
        if t == "vda5050":
            self._start_vda5050()
        elif t == "ros2":
            self._start_ros2()
        return self

    def stop(self) -> None:
        self._stop.set()
        for th in self._threads:
            th.join(timeout=2)
        if self.footprints is not None:
            self.footprints.stop()
        for part in reversed(self._parts):
            with contextlib.suppress(Exception):
                part.stop()
        self._parts.clear()
        if self._edge is not None:
            self._stop_edge()

    # --- the simulator in this process
    def _start_world(self, *, with_agvs: bool) -> None:
        from sim.world import World

        sc = self.scenario
        self.world = World(sc.site, sc.agvs if with_agvs else (), seed=sc.seed, link=sc.link,
                           faults=[f for f in sc.faults() if with_agvs or f.target not in {a.id for a in sc.agvs}],
                           state_period_s=sc.state_period_s, idle_state_period_s=sc.idle_state_period_s,
                           start_s=time.time())
        if self.opts.resume:
            for why in self.world.resume(self.opts.resume):
                log.warning("resumed simulator: %s", why)
        observers: tuple[Callable[[Any], None], ...] = ()
        if self.opts.watch_safety:
            self.safety = WorldSafety(self.world, sc.deadlock_s, sc.check_period_s)
            observers = (self.safety.observe,)
        sensing = None
        if with_agvs and self.opts.sensing:
            from sim.sensing import WorldSensing

            sensing = WorldSensing(self.world, seed=sc.seed, period_s=self.opts.report_period_s)
        gw = watched_sim_gateway(self.world, self.opts.endpoint, observers=observers,
                                     gateway_id="gw-sim" if with_agvs else "gw-sim-cranes",
                                     realtime=not self.opts.lockstep, speed=self.opts.speed,
                                     dt_s=self.opts.dt_s or sc.dt_s, sensing=sensing)
        gw.start()
        self._parts.append(gw)
        self.gateway = gw

    # --- VDA 5050
    def _start_vda5050(self) -> None:
        from adapters.vda5050 import Vda5050Config, Vda5050Gateway, VehicleRef
        from sim.vda5050_vehicle import SimVda5050Vehicle

        if self.opts.mqtt is None:
            self.broker = Mosquitto(self.opts.workdir / "mosquitto")
            self.broker.start()
            self._parts.append(self.broker)
            host, port = self.broker.host, self.broker.port
        else:
            host, port = self.opts.mqtt
        sc, speed = self.scenario, self.opts.speed
        versions = {a.id: ("2.0.0" if k % 2 == 0 else "2.1.0") for k, a in enumerate(sc.agvs)}
        self.wire = WireCheck(host, port, versions)
        self.wire.start()
        self._parts.append(self.wire)
        refs = tuple(VehicleRef(a.id, "fleet5g", a.id, versions[a.id]) for a in sc.agvs)
        gw = Vda5050Gateway(Vda5050Config("gw-vda5050", self.opts.endpoint, refs, mqtt_host=host, mqtt_port=port,
                                          mqtt_keepalive_s=2, republish_s=max(0.2, 1.0 / speed)),
                            heartbeat_s=0.2)
        gw.start()
        self._parts.append(gw)
        self.vda_gateway = gw
        stood = {m.id: m.node for m in self.opts.resume if getattr(m, "node", None) in sc.site.node_by_id}
        for a in sc.agvs:
            start = stood.get(a.id, a.start_node)
            node = sc.site.node_by_id[start]
            v = SimVda5050Vehicle("fleet5g", a.id, host, port, version=versions[a.id],
                                  start=(start, node.x, node.y), speed_mps=a.max_speed_mps * speed,
                                  state_period_s=max(0.1, sc.state_period_s / speed),  # at most 10 states/s each
                                  action_s=max(0.02, float(a.pick_s) / speed), keepalive_s=2,
                                  battery=a.battery, drain_per_m=a.drain_per_m,
                                  charge_per_s=a.charge_per_h / 3600 * speed)
            v.start()
            self._parts.append(v)
            self.vehicles[a.id] = v
        self.footprints = FootprintWatch(sc.site, self._vda_poses)
        self.footprints.start()

    def _vda_poses(self) -> list[tuple[str, float, float, float]]:
        out = []
        for vid, v in self.vehicles.items():
            with v._lock:  # the vehicle's own pose, read under its lock
                out.append((vid, v.m.x, v.m.y, v.m.theta))
        return out

    # --- ROS 2
    def _start_ros2(self) -> None:
        try:
            from adapters.ros2 import Ros2Config, Ros2Gateway, Ros2Machine
            from adapters.ros2.transport import DdsTransport
            from sim.ros2_robot import SimAmr
        except ImportError as exc:
            raise PlantError(f"--transport ros2 needs cyclonedds (pip install cyclonedds): {exc}") from None
        os.environ.setdefault("CYCLONEDDS_URI", LOOPBACK_DDS)
        domain = int(os.environ.get("ROS_DOMAIN_ID", str(100 + os.getpid() % 100)))
        sc, speed = self.scenario, self.opts.speed
        machines = tuple(Ros2Machine(a.id, a.id.replace("-", "_"), "amr") for a in sc.agvs)
        nodes = tuple((n.id, float(n.x), float(n.y)) for n in sc.site.nodes)  # so the gateway knows where a pose is
        gw = Ros2Gateway(Ros2Config("gw-ros2", self.opts.endpoint, machines, backend="dds", domain_id=domain,
                                    nodes=nodes), heartbeat_s=0.2)
        gw.start()
        self._parts.append(gw)
        robots_transport = DdsTransport(domain)
        self._parts.append(_Closer(robots_transport.close))
        robots = {}
        for a in sc.agvs:  # each robot knows its start node, as a commissioning engineer sets it
            node = sc.site.node_by_id[a.start_node]
            robots[a.id] = SimAmr(robots_transport, a.id.replace("-", "_"), a.max_speed_mps * speed, (node.x, node.y),
                                  start_node=a.start_node, action_s=max(0.02, float(a.pick_s) / speed))
        self.vehicles = robots
        rate = 20.0

        def run() -> None:
            while not self._stop.wait(1.0 / rate):
                for r in robots.values():
                    r.step(1.0 / rate)

        th = threading.Thread(target=run, name="ros2-robots", daemon=True)
        th.start()
        self._threads.append(th)
        self.footprints = FootprintWatch(sc.site, lambda: [(k, r.x, r.y, r.theta) for k, r in robots.items()])
        self.footprints.start()

    # --- the simulator on its own process (tcp)
    def _start_edge(self) -> None:
        args = [sys.executable, "-m", "fleet.plant", "edge", "--bus", self.opts.endpoint,
                "--scenario", str(self.scenario.file), "--speed", str(self.opts.speed)]
        if self.opts.calm:
            args.append("--calm")
        if self.opts.dt_s:
            args += ["--dt", str(self.opts.dt_s)]
        args += ["--report-period", str(self.opts.report_period_s)]
        if self.opts.watch_safety:
            self._edge_report.unlink(missing_ok=True)
            args += ["--safety-report", str(self._edge_report)]
        if self.opts.lockstep:
            self._control = f"tcp://127.0.0.1:{free_port()}"
            args += ["--control", self._control]
        if self.opts.resume:
            where = self.opts.workdir / "resume.json"
            where.write_text(json.dumps([{f: getattr(m, f, None) for f in RESUMED_FIELDS} for m in self.opts.resume]),
                             encoding="utf-8")
            args += ["--resume", str(where)]
        root = Path(__file__).resolve().parents[1]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")])))
        self._edge = subprocess.Popen(args, cwd=str(root), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, env=env)
        ready = threading.Event()

        def read() -> None:
            assert self._edge is not None and self._edge.stdout is not None
            for line in self._edge.stdout:
                self._edge_lines.append(line.rstrip())
                if line.startswith("gateway "):
                    ready.set()

        th = threading.Thread(target=read, name="edge-output", daemon=True)
        th.start()
        if not ready.wait(60) or self._edge.poll() is not None:
            tail = "\n".join(self._edge_lines[-20:])
            self._stop_edge()
            raise PlantError(f"the simulator gateway process did not start:\n{tail}")

    def _stop_edge(self) -> None:
        assert self._edge is not None
        if self._control_socket is not None:
            self._control_socket.close(0)
            self._control_socket = None
        if self._edge.poll() is None:
            self._edge.send_signal(signal.SIGTERM)
            try:
                self._edge.wait(15)
            except subprocess.TimeoutExpired:
                self._edge.kill()
                self._edge.wait(5)

    def advance(self, dt_s: float) -> tuple[float, int]:
        """Lockstep only: step the simulator by `dt_s`; returns (its clock, states it has sent)."""
        if self._control is None:
            self.gateway.advance(dt_s)
            return float(self.world.now), int(self.gateway.counters.states_sent)
        if self._control_socket is None:
            import zmq

            self._control_socket = zmq.Context.instance().socket(zmq.REQ)
            self._control_socket.setsockopt(zmq.LINGER, 0)
            self._control_socket.setsockopt(zmq.RCVTIMEO, 30000)
            self._control_socket.connect(self._control)
        self._control_socket.send_json({"advance": dt_s})
        reply = self._control_socket.recv_json()
        return float(reply["now"]), int(reply["states_sent"])

    def clock_start(self) -> float:
        """Where the simulator's clock stood at start (lockstep: the core's clock starts there too)."""
        if self._control is None:
            return float(self.world.now)
        return self.advance(0.0)[0]

    @property
    def edge_pid(self) -> int | None:
        return self._edge.pid if self._edge else None

    # --- what the checks read
    def safety_counts(self) -> dict[str, int]:
        """Collisions and the rest from the true machines (after `stop()` for tcp)."""
        out: dict[str, int] = {}
        if self.safety is not None:
            out.update(self.safety.counts())
        if self._edge is not None and self._edge_report.exists():
            out.update(json.loads(self._edge_report.read_text(encoding="utf-8"))["counts"])
        if self.footprints is not None:
            out["collisions"] = out.get("collisions", 0) + self.footprints.counts["collisions"]
            out["footprint_samples"] = self.footprints.counts["samples"]
        return out

    def machines_described(self) -> list[dict[str, Any]]:
        """Each simulated AGV's order and what holds it (`sim.agv.AgvFleet.describe`), and
        the last commands the simulator refused; from the edge's report after `stop()` for tcp."""
        if self._edge is not None:
            if not self._edge_report.exists():
                return []
            rep = json.loads(self._edge_report.read_text(encoding="utf-8"))
            return [*rep.get("machines", []), {"refused_count": rep.get("refused_count"), "refused": rep.get("refused")}]
        world = self.world
        if world is None:
            return []
        return [*(world.agvs.describe(i) for i in range(len(world.agvs.ids))),
                {"refused_count": world.refused_count, "refused": [list(x) for x in list(world.refused)[-20:]]}]

    def safety_events(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        if self.safety is not None:
            out += self.safety.events()
        if self._edge is not None and self._edge_report.exists():
            out += json.loads(self._edge_report.read_text(encoding="utf-8"))["events"]
        if self.footprints is not None:
            out += self.footprints.events
        return out


class _Closer:
    def __init__(self, fn: Callable[[], None]) -> None:
        self.stop = fn


LOOPBACK_DDS = (
    '<CycloneDDS><Domain id="any"><General><Interfaces><NetworkInterface name="lo"/>'
    "</Interfaces><AllowMulticast>false</AllowMulticast></General><Discovery>"
    "<ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>60</MaxAutoParticipantIndex>"
    '<Peers><Peer address="127.0.0.1"/></Peers></Discovery></Domain></CycloneDDS>'
)


# --------------------------------------------------------------------------- edge process


def edge_main(argv: list[str] | None = None) -> int:
    """The simulator gateway as its own process on the bus (what an edge node runs)."""
    ap = argparse.ArgumentParser(prog="python -m fleet.plant edge", description=edge_main.__doc__)
    ap.add_argument("--bus", required=True, help="the core's hub, e.g. tcp://127.0.0.1:5560")
    ap.add_argument("--scenario", required=True, help="bundled scenario name or file")
    ap.add_argument("--speed", type=float, default=1.0)
    ap.add_argument("--dt", type=float, default=None, help="simulator step (default: the scenario's)")
    ap.add_argument("--report-period", type=float, default=PlantOptions.report_period_s,
                    help="seconds between an AGV's batches of positioning readings")
    ap.add_argument("--calm", action="store_true", help="no faults and no link losses")
    ap.add_argument("--safety-report", type=Path, default=None, help="write the safety counts here at exit")
    ap.add_argument("--gateway-id", default="gw-sim-edge")
    ap.add_argument("--control", default=None,
                    help="lockstep: no pacing; step only when asked on this REP endpoint (tests)")
    ap.add_argument("--resume", type=Path, default=None,
                    help="JSON list of machines (id, node, battery, load_id, bridge_m, ...) to start from")
    args = ap.parse_args(argv)
    from sim.scenario import load_scenario, resolve_scenario

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    scenario = load_scenario(resolve_scenario(args.scenario))
    if args.calm:
        scenario = calm(scenario)
    from sim.world import World

    world = World(scenario.site, scenario.agvs, seed=scenario.seed, link=scenario.link, faults=scenario.faults(),
                  state_period_s=scenario.state_period_s, idle_state_period_s=scenario.idle_state_period_s,
                  start_s=time.time())
    if args.resume is not None:
        records = [types.SimpleNamespace(**m) for m in json.loads(args.resume.read_text(encoding="utf-8"))]
        for why in world.resume(records):
            log.warning("resumed simulator: %s", why)
    safety = WorldSafety(world, scenario.deadlock_s, scenario.check_period_s) if args.safety_report else None
    from sim.sensing import WorldSensing

    gw = watched_sim_gateway(world, args.bus, observers=(safety.observe,) if safety else (),
                                 gateway_id=args.gateway_id, realtime=args.control is None, speed=args.speed,
                                 dt_s=args.dt or scenario.dt_s, sensing=WorldSensing(world, seed=scenario.seed,
                                                                        period_s=args.report_period))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    gw.start()
    print(f"gateway {gw.gateway_id} (sim {scenario.name}): {len(gw.machine_ids)} machines on {args.bus}", flush=True)
    parent = os.getppid()

    def orphaned() -> bool:  # the service that started us died (kill -9): do not linger
        return os.getppid() != parent

    if args.control is None:
        while not stop.wait(0.5) and not orphaned():
            pass
    else:
        _serve_steps(gw, world, args.control, stop, orphaned)
    gw.stop()
    if safety is not None and args.safety_report is not None:
        tmp = args.safety_report.with_suffix(".tmp")
        report = {"counts": safety.counts(), "events": safety.events(),
                  "machines": [world.agvs.describe(i) for i in range(len(world.agvs.ids))],
                  "refused": [list(x) for x in list(world.refused)[-20:]], "refused_count": world.refused_count}
        tmp.write_text(json.dumps(report), encoding="utf-8")
        tmp.replace(args.safety_report)
    return 0


def _serve_steps(gw: Any, world: Any, endpoint: str, stop: threading.Event, orphaned: Callable[[], bool]) -> None:
    """Lockstep over a REP socket: {"advance": dt} -> {"now": t, "states_sent": n}."""
    import zmq

    sock = zmq.Context.instance().socket(zmq.REP)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(endpoint)
    try:
        while not stop.is_set():
            if not sock.poll(200):
                if orphaned():
                    return
                continue
            req = sock.recv_json()
            dt = float(req.get("advance", 0.0))
            if dt > 0:
                gw.advance(dt)
            sock.send_json({"now": world.now, "states_sent": gw.counters.states_sent})
    finally:
        sock.close(0)


class Lockstep:
    """The core and the simulated plant on one simulated clock, as fast as both can go.

    The core runs unthreaded (`FleetCore(threaded=False)` on a `SimClock`), as in
    `sim.core_brain`; every planning period this thread calls `run_once()` (API
    commands, machine states, a traffic tick; a dispatch round every
    `dispatch_period_s` of simulated time, and `dispatch_min_gap_s` after an event that
    wants one, as the threaded core does on the wall clock), waits until the
    gateway has acknowledged every command the hub sent, steps the simulator, and
    waits until the hub has every state the step produced. So the vehicle bus is
    really crossed, in both directions, and simulated time never runs ahead of it.
    API requests wait for the next `run_once()` (a few milliseconds of wall time).
    """

    def __init__(self, core: Any, hub: Any, plant: Plant, clock: Any, *, dt_s: float, plan_period_s: float,
                 dispatch_period_s: float = 10.0, dispatch_min_gap_s: float = 2.0, settle_s: float = 2.0) -> None:
        self.core, self.hub, self.plant, self.clock = core, hub, plant, clock
        self.dt_s, self.plan_period_s, self.settle_s = dt_s, plan_period_s, settle_s
        self.dispatch_period_s, self.dispatch_min_gap_s = dispatch_period_s, dispatch_min_gap_s
        self.steps = 0
        self.late_settles = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lockstep", daemon=True)

    def start(self) -> Lockstep:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _settle(self, done: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.settle_s
        while not done():
            if time.monotonic() > deadline:
                self.late_settles += 1
                return
            time.sleep(0.0002)

    def _received(self) -> int:
        c = self.hub.counters
        return int(c.states + c.stale_states + c.duplicate_states)

    def _run(self) -> None:
        machines = [m.id for m in self.core.machines_configured()]
        now = self.clock.now()
        next_plan = now
        while not self._stop.is_set():
            try:
                if now >= next_plan - 1e-9:
                    next_plan += self.plan_period_s
                    self.core.run_once(dispatch=self.core.dispatch_due(self.dispatch_period_s, self.dispatch_min_gap_s))
                    self._settle(lambda: all(self.hub.pending(m) == 0 for m in machines))
                now, sent = self.plant.advance(self.dt_s)
                self._settle(lambda s=sent: self._received() >= s)
                self.clock.set(max(now, self.clock.now()))
                self.steps += 1
            except Exception:  # one bad step must not stop the shift
                log.exception("lockstep failed")
                time.sleep(0.05)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "edge":
        sys.exit(edge_main(sys.argv[2:]))
    print("usage: python -m fleet.plant edge --bus tcp://HOST:PORT --scenario NAME [--speed S]", file=sys.stderr)
    sys.exit(2)
