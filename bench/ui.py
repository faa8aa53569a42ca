"""The dispatcher's page under load: N machines updating at H Hz in headless chromium.

Serves the page with the stand-in service (`bench._ui_service`) on the large generated
site, logs in, lets the live map run, then reads the page's own counters:
- frame time: gaps between requestAnimationFrame timestamps (16.7 ms is 60 fps),
- draw time: what one frame of the map costs in script,
- event-to-screen latency: from the server stamping a pose frame to the end of the
  first map frame drawn after the page received it (same machine, same clock);
- command-to-screen latency: from sending an e-stop for one machine (HTTP POST) to the
  first frame that draws it e-stopped (the command, the event on SSE, the redraw).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

DESCRIPTION = "web page: frame time and event-to-screen latency with N machines at H Hz"
DEFAULT_MACHINES = 500
DEFAULT_HZ = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--machines", type=int, default=DEFAULT_MACHINES, help="simulated AGVs on the page")
    parser.add_argument("--hz", type=float, default=DEFAULT_HZ, help="pose updates per second")
    parser.add_argument("--seconds", type=float, default=None, help="how long to measure (default 20, quick 6)")
    parser.add_argument("--site", default=None, help="bundled site name or file (default: the large generated site)")
    parser.add_argument("--screenshot", default=None, help="save a PNG of the page at the end of the run")


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def _estops_to_screen(page: Any, url: str, machine_ids: list[str]) -> list[float]:
    """E-stop each machine through the API; ms until the page has drawn it e-stopped."""
    import httpx

    token = page.evaluate("sessionStorage.getItem('fleet.token')")
    out = []
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=10) as client:
        for mid in machine_ids:
            # a rAF callback registered now runs after the map's own frame callback, so it
            # sees what the map drew in that frame
            page.evaluate(f"""() => {{ window.__seen = null; const check = () => {{
                const m = window.__fleet.state.machines.get('{mid}');
                if (m && m.mode === 'estopped') window.__seen = performance.timeOrigin + performance.now();
                else requestAnimationFrame(check); }}; requestAnimationFrame(check); }}""")
            sent = time.time() * 1000.0
            client.post(f"/api/v1/vehicles/{mid}/estop", json={})
            try:
                page.wait_for_function("window.__seen !== null", timeout=5000)
            except Exception:  # not drawn in 5 s: counted as missing
                continue
            out.append(page.evaluate("window.__seen") - sent)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench._browser import CHROMIUM, chromium, serve
    from bench._ui_service import StandInSite, build_app
    from maps.loader import load_site, resolve_site, site_from_dict
    from maps.sitegen import large_site

    machines = getattr(args, "machines", DEFAULT_MACHINES)
    hz = getattr(args, "hz", DEFAULT_HZ)
    seconds = getattr(args, "seconds", None) or (6.0 if args.quick else 20.0)
    site_arg = getattr(args, "site", None)
    site = load_site(resolve_site(site_arg)) if site_arg else site_from_dict(large_site(), "large_site")
    if not CHROMIUM.exists():
        return {"ok": False, "summary": f"ui: no chromium at {CHROMIUM}", "machines": machines}
    stand_in = StandInSite(site, agvs=machines, hz=hz, seed=11).start()
    try:
        with serve(build_app(stand_in)) as url, chromium() as browser:
            page = browser.new_page(viewport={"width": 1600, "height": 900})
            page.goto(url)
            page.fill("input[name=username]", "dispatcher")
            page.fill("input[name=password]", "dispatcher")
            page.click("#login-form button[type=submit]")
            page.wait_for_function(f"window.__fleet && window.__fleet.state.machines.size >= {machines}", timeout=30000)
            page.wait_for_function("window.__fleet.state.stats.poseFrames > 5", timeout=30000)
            page.wait_for_timeout(1000)  # warm-up: JIT, first layout
            page.evaluate("""() => { const s = window.__fleet.state.stats;
                s.frameMs.length = 0; s.drawMs.length = 0; s.latencyMs.length = 0; s.poseFrames = 0; }""")
            started = time.monotonic()
            time.sleep(seconds)
            stats = page.evaluate("""() => { const s = window.__fleet.state.stats;
                return {frame: [...s.frameMs], draw: [...s.drawMs], latency: [...s.latencyMs], poses: s.poseFrames,
                        machines: window.__fleet.state.machines.size}; }""")
            elapsed = time.monotonic() - started
            command_ms = _estops_to_screen(page, url, [f"agv-{i + 1:03d}" for i in range(0, machines, max(1, machines // 10))][:10])
            if getattr(args, "screenshot", None):
                page.screenshot(path=args.screenshot)
    finally:
        stand_in.stop()
    frame, draw, latency = stats["frame"], stats["draw"], stats["latency"]
    figures: dict[str, Any] = {
        "site": site.name,
        "machines_on_page": stats["machines"],
        "update_hz": hz,
        "measured_s": round(elapsed, 2),
        "frames": len(frame),
        "fps": round(len(frame) / elapsed, 1),
        "frame_p50_ms": _pct(frame, 0.5),
        "frame_p95_ms": _pct(frame, 0.95),
        "frame_max_ms": round(max(frame), 2) if frame else float("nan"),
        "frames_over_33ms_share": round(sum(1 for f in frame if f > 33.4) / len(frame), 4) if frame else float("nan"),
        "draw_p50_ms": _pct(draw, 0.5),
        "draw_p95_ms": _pct(draw, 0.95),
        "draw_mean_ms": round(statistics.fmean(draw), 2) if draw else float("nan"),
        "pose_frames_per_s": round(stats["poses"] / elapsed, 1),
        "latency_p50_ms": _pct(latency, 0.5),
        "latency_p95_ms": _pct(latency, 0.95),
        "latency_samples": len(latency),
        "estop_to_screen_p50_ms": _pct(command_ms, 0.5),
        "estop_to_screen_max_ms": round(max(command_ms), 1) if command_ms else float("nan"),
        "estop_samples": len(command_ms),
        "ok": bool(frame) and bool(latency),
    }
    figures["summary"] = (
        f"ui: {figures['machines_on_page']} machines at {hz:g} Hz: frame p50 {figures['frame_p50_ms']} ms, "
        f"p95 {figures['frame_p95_ms']} ms ({figures['fps']} fps), draw p95 {figures['draw_p95_ms']} ms, "
        f"event-to-screen p50 {figures['latency_p50_ms']} ms, p95 {figures['latency_p95_ms']} ms, "
        f"e-stop-to-screen p50 {figures['estop_to_screen_p50_ms']} ms"
    )
    return figures
