"""The dispatcher's page in a real headless chromium against a running service.

The service is the demo's stack by default: the simulator behind the vehicle bus and a
WMS posting orders (tests/web/service.py). One server and one browser for the session
(tests/web/conftest.py); each test logs in in its own context. Screenshots of the main
views go to artifacts/screenshots/.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.web.pages import open_page, shot
from tests.web.service import Service
from tests.web.serving import CHROMIUM

# a machine standing still: its fused pose (odometry, UWB, RFID) still wanders by centimetres
STILL_M = 0.25

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


TIMELINE = """(id) => fetch(`/api/v1/orders/${id}/timeline`, {headers: {Authorization:
    'Bearer ' + sessionStorage.getItem('fleet.token')}}).then((r) => r.json())"""


def positions(page: Any) -> dict[str, list[float]]:
    return page.evaluate("""() => {
        const s = window.__fleet.state, now = performance.now(), out = {};
        for (const m of s.machines.values()) if (m.kind === 'agv') out[m.id] = s.displayed(m, now);
        return out;
    }""")


def test_page_loads_and_machines_move(browser: Any, service: Service) -> None:
    page = open_page(browser, service, "dispatcher")
    assert page.locator("#site-name").inner_text() == service.site_name
    assert page.locator("#link-state").get_attribute("class").endswith("up")
    # the machines the WMS's orders keep busy drive: their drawn positions change
    want = 3
    deadline = time.time() + 20
    while True:
        before = positions(page)
        page.wait_for_timeout(1200)
        after = positions(page)
        moved = [k for k in before if before[k] and after.get(k) and
                 abs(before[k][0] - after[k][0]) + abs(before[k][1] - after[k][1]) > 0.2]
        if len(moved) >= want or time.time() > deadline:
            break
    assert len(moved) >= want, (before, after)
    # the map really draws: frames are being produced and the canvas is not blank
    frames = page.evaluate("window.__fleet.state.stats.frameMs.length")
    assert frames > 10
    assert page.evaluate("""() => {
        const c = document.getElementById('map'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0; for (let i = 0; i < d.length; i += 4 * 97) if (d[i + 3] > 0) ink++; return ink;
    }""") > 50
    shot(page, "map")
    for view in ("machines", "alarms", "inventory", "kpis"):
        page.click(f".tab[data-view={view}]")
        page.wait_for_timeout(600)
        shot(page, view)
    assert page.locator("#chart-waiting .uplot").count() == 1  # the charting library loaded from the server
    assert page.errors == []
    page.context.close()


def test_order_created_from_the_page_is_carried_out(browser: Any, service: Service) -> None:
    page = open_page(browser, service, "dispatcher")
    page.click(".tab[data-view=orders]")
    src, dst = service.order_stations
    # the source picked by clicking the station on the map, the destination from the list
    page.click("button[data-pick=new-source]")
    assert page.locator("#view-map").is_visible()
    x, y = page.evaluate(f"""() => {{
        const m = window.__fleet.map, s = m.stationPos.get('{src}'), r = m.canvas.getBoundingClientRect();
        const [sx, sy] = m.toScreen(s.x, s.y); return [r.left + sx, r.top + sy];
    }}""")
    page.mouse.click(x, y)
    assert page.locator("#view-orders").is_visible()
    assert page.locator("#new-source").input_value() == src
    if service.has_sim:  # into a rack slot with a free level: the inventory view shows the pallet there
        dst = service.free_slot(near=src)
        held = {p["load"]["id"] for p in service.slot(dst)["positions"] if p["load"]}
    page.select_option("#new-destination", dst)
    client_id = f"WMS-{int(time.time() * 1000) % 10**8}"
    page.fill("#order-form input[name=client_id]", client_id)
    page.select_option("#new-priority", "7")
    page.click("#order-form button[type=submit]")
    row = page.locator("#order-rows tr", has=page.locator(f"text={client_id}"))
    row.wait_for(timeout=5000)
    order_id = row.get_attribute("data-id")
    assert service.order(order_id)["client_id"] == client_id
    page.fill("#order-filters input[name=client_id]", client_id)
    page.wait_for_function(f"document.querySelectorAll('#order-rows tr').length === 1 && "
                           f"document.querySelector('#order-rows tr').dataset.id === '{order_id}'")
    try:
        page.wait_for_selector(f"#order-rows tr[data-id='{order_id}'][data-state=done]", timeout=40000)
    except Exception as exc:  # say where it got stuck
        raise AssertionError(f"order {order_id} not done in 40 s: {service.order(order_id)}, "
                             f"timeline {page.evaluate(TIMELINE, order_id)}; {service.diagnosis()}") from exc
    assert service.order(order_id)["state"] == "done"
    row = page.locator(f"#order-rows tr[data-id='{order_id}']")
    row.locator("td").first.click()
    page.wait_for_selector("#order-timeline li[data-state=done]")
    states = page.eval_on_selector_all("#order-timeline li", "els => els.map(e => e.dataset.state)")
    assert states[0] in ("created", "queued") and "done" in states
    shot(page, "orders")
    if service.has_sim:  # the drop's tally put it in the inventory; the inventory view shows it in its slot
        deadline = time.time() + 10
        while not (new := {p["load"]["id"] for p in service.slot(dst)["positions"] if p["load"]} - held) \
                and time.time() < deadline:
            time.sleep(0.1)
        assert new, f"order {order_id} done, but no new load in {dst}"
        page.click(".tab[data-view=inventory]")
        page.wait_for_function(f"""window.__fleet.state.inventory && [...window.__fleet.state.inventory.slots
            .get('{dst}').positions].some((p) => p.load_id === '{new.pop()}')""", timeout=10000)
    assert page.errors == []
    page.context.close()


def test_estop_stops_a_machine_and_raises_a_critical_alarm(browser: Any, service: Service) -> None:
    page = open_page(browser, service, "dispatcher")
    target = service.moving_agv()
    page.click(".tab[data-view=machines]")
    page.click(f"#machine-rows tr[data-id='{target}']")
    page.wait_for_selector("#machine-detail button[data-action=estop]")
    page.click("#machine-detail button[data-action=estop]")
    assert page.locator("#confirm").is_visible()
    assert target in page.locator("#confirm-text").inner_text()
    page.click("#confirm-ok")
    page.wait_for_function(f"window.__fleet.state.machines.get('{target}').mode === 'estopped'", timeout=5000)
    assert service.machine(target)["mode"] == "estopped"
    if service.has_sim:  # the simulated machine itself stopped dead, not only the core's record of it
        deadline = time.time() + 3  # the command crosses the bus and the simulated 5G link first
        while not (truth := service.truth(target))["estop"] and time.time() < deadline:
            time.sleep(0.05)
        assert truth["estop"] and truth["speed_mps"] == 0.0, truth
    # what it reports settles (the last states on the way arrive) and then stays put
    deadline = time.time() + 5
    x0 = service.machine(target)
    while True:
        page.wait_for_timeout(500)
        x1 = service.machine(target)
        still = abs(x0["x"] - x1["x"]) + abs(x0["y"] - x1["y"]) < STILL_M
        if still or time.time() > deadline:
            break
        x0 = x1
    page.wait_for_timeout(800)
    x2 = service.machine(target)
    assert abs(x1["x"] - x2["x"]) + abs(x1["y"] - x2["y"]) < STILL_M, (x1, x2)
    page.wait_for_selector("#critical-banner:not(.hidden)", timeout=8000)
    page.click(".tab[data-view=map]")
    page.evaluate(f"window.__fleet.map.select('{target}')")
    page.wait_for_timeout(300)
    assert "E-stopped" in page.locator("#map-selection").inner_text()
    # it stands still, so the pointer can rest on it: the tooltip says what it is
    page.evaluate(f"window.__fleet.map.centreOn('{target}')")
    box = page.locator("#map").bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.locator("#map-tip").wait_for(state="visible")
    assert target in page.locator("#map-tip").inner_text() and "E-stopped" in page.locator("#map-tip").inner_text()
    shot(page, "estop")
    # acknowledge the alarm it raised
    page.click("#critical-show")
    ack = page.locator("#alarm-active button[data-action=ack]").first
    ack.click()
    page.wait_for_function("document.querySelectorAll('#alarm-past tr').length >= 1", timeout=8000)
    # resume it from its panel; then pause and resume again
    page.click(".tab[data-view=map]")
    for action, mode in (("resume", "auto"), ("pause", "paused"), ("resume", "auto")):
        page.click(f"#map-selection button[data-action={action}]")
        deadline = time.time() + 5
        while service.machine(target)["mode"] != mode and time.time() < deadline:
            time.sleep(0.05)
        assert service.machine(target)["mode"] == mode, action
    assert page.errors == []
    page.context.close()


def test_zone_closed_from_the_map(browser: Any, service: Service) -> None:
    page = open_page(browser, service, "dispatcher")
    zone = service.zone_to_close
    # click the zone on the map (away from any machine): it asks, then closes it
    # (machines drive past it: the point is one of its pixels where the map's own hit test finds the zone)
    x, y = page.evaluate(f"""() => {{
        const m = window.__fleet.map, z = window.__fleet.state.zones.get('{zone}'), r = m.canvas.getBoundingClientRect();
        m.zonePath(z); const [cx, cy] = m.toScreen(...z._centre);
        for (let d = 0; d < 60; d += 2) for (const [dx, dy] of [[0, 0], [d, 0], [-d, 0], [0, d], [0, -d]]) {{
            const h = m.hit(cx + dx, cy + dy);
            if (h && h.type === 'zone' && h.id === '{zone}') return [r.left + cx + dx, r.top + cy + dy];
        }}
        return [r.left + cx, r.top + cy];
    }}""")
    page.mouse.click(x, y)
    assert zone in page.locator("#confirm-text").inner_text()
    page.click("#confirm-ok")
    page.wait_for_function(f"window.__fleet.state.zones.get('{zone}').closed === true")
    assert service.zone_closed(zone)
    assert page.locator(f"#zone-list tr[data-zone='{zone}'] .zone-closed").count() == 1
    shot(page, "zone-closed")
    page.click(f"#zone-list tr[data-zone='{zone}'] button[data-action=open]")
    page.click("#confirm-ok")
    page.wait_for_function(f"window.__fleet.state.zones.get('{zone}').closed === false")
    assert not service.zone_closed(zone)
    page.context.close()


def test_viewer_sees_everything_and_can_change_nothing(browser: Any, service: Service) -> None:
    page = open_page(browser, service, "viewer")
    assert page.locator("#estop-all").is_disabled()
    assert page.locator("#order-form button[type=submit]").is_disabled()
    assert page.locator("#zone-list button").first.is_disabled()
    page.click(".tab[data-view=machines]")
    page.click("#machine-rows tr >> nth=0")
    page.wait_for_selector("#machine-detail button[data-action=estop]")
    assert page.locator("#machine-detail button[data-act]:enabled").count() == 0
    assert page.locator("#machine-rows tr").count() == service.machine_count
    # the server refuses too: force a button on and press it, and call the API directly
    target = page.locator("#machine-detail h3 [data-raw]").inner_text()
    # in one script: the detail pane redraws on every state, which would put back a disabled
    # button between enabling it and a separate click
    page.evaluate("""() => { const b = document.querySelector('#machine-detail button[data-action=pause]');
        b.disabled = false; b.click(); }""")
    page.wait_for_selector(".toast.error")
    assert service.machine(target)["mode"] != "paused"
    status = page.evaluate("""async () => (await fetch('/api/v1/estop', {method: 'POST',
        headers: {Authorization: 'Bearer ' + sessionStorage.getItem('fleet.token'), 'Content-Type': 'application/json'},
        body: '{}'})).status""")
    assert status == 403
    shot(page, "viewer")
    page.context.close()


LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def visible_latin_labels(page: Any) -> list[str]:
    """Visible text with Latin words that is not data (ids, numbers) marked data-raw."""
    return page.evaluate("""() => {
        const out = [];
        const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        for (let n = walk.nextNode(); n; n = walk.nextNode()) {
            const text = n.textContent.trim();
            if (!/[A-Za-z]{2,}/.test(text)) continue;
            const el = n.parentElement;
            if (el.closest('[data-raw], script, style, option, .u-legend .u-value')) continue;
            if (!el.getClientRects().length || getComputedStyle(el).visibility === 'hidden') continue;
            out.push(text);
        }
        return out;
    }""")


def test_language_switch_translates_every_label(browser: Any, service: Service) -> None:
    page = open_page(browser, service, "dispatcher")
    assert page.locator(".tab[data-view=map]").inner_text() == "Live map"
    page.select_option("#lang", "zh-CN")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'")
    assert page.locator(".tab[data-view=map]").inner_text() == "实时地图"
    assert page.locator("#estop-all").inner_text() == "全部急停"
    page.evaluate(f"window.__fleet.map.select('{service.moving_agv()}')")
    page.wait_for_timeout(400)
    leftovers = {}
    for view in ("map", "orders", "machines", "alarms", "inventory", "kpis"):
        page.click(f".tab[data-view={view}]")
        page.wait_for_timeout(500)
        leftovers[view] = visible_latin_labels(page)
        shot(page, f"zh-{view}")
    assert leftovers == {v: [] for v in leftovers}
    page.reload()  # the choice is kept
    page.wait_for_function("window.__fleet && window.__fleet.ready")
    assert page.locator(".tab[data-view=orders]").inner_text() == "订单"
    page.select_option("#lang", "en")
    page.wait_for_function("document.documentElement.lang === 'en'")
    assert page.locator(".tab[data-view=orders]").inner_text() == "Orders"
    page.context.close()


def test_pan_zoom_and_follow_a_machine(browser: Any, service: Service) -> None:
    page = open_page(browser, service, "viewer")
    box = page.locator("#map").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    scale0 = page.evaluate("window.__fleet.map.view.scale")
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -600)
    page.wait_for_timeout(100)
    assert page.evaluate("window.__fleet.map.view.scale") > scale0 * 1.5
    ox0 = page.evaluate("window.__fleet.map.view.ox")
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy + 40, steps=5)
    page.mouse.up()
    assert abs(page.evaluate("window.__fleet.map.view.ox") - ox0 - 120) < 2
    target = service.moving_agv()
    page.evaluate(f"window.__fleet.map.select('{target}')")
    page.check("#map-follow")
    page.wait_for_timeout(800)
    # followed: the machine stays in the middle of the canvas while it drives
    off = page.evaluate(f"""() => {{
        const m = window.__fleet.map, s = window.__fleet.state, p = m.machineXY(s.machines.get('{target}'), performance.now());
        const [sx, sy] = m.toScreen(p[0], p[1]); return [sx - m.width / 2, sy - m.height / 2];
    }}""")
    assert abs(off[0]) < 15 and abs(off[1]) < 15, off
    # hovering a station names it (one with no machine nearby: a machine on top wins the hover)
    page.uncheck("#map-follow")
    station, x, y = page.evaluate("""() => {
        const m = window.__fleet.map, st = window.__fleet.state, now = performance.now(), r = m.canvas.getBoundingClientRect();
        const clear = (s) => [...st.machines.values()].every((v) => {
            const p = m.machineXY(v, now); return !p || Math.hypot(p[0] - s.x, p[1] - s.y) > 6; });
        const s = [...m.stationPos.values()].find(clear);
        m.view.scale = 8; m.view.ox = m.width / 2 - s.x * 8; m.view.oy = m.height / 2 + s.y * 8;
        return [s.id, r.left + m.width / 2, r.top + m.height / 2];
    }""")
    page.mouse.move(x, y)
    page.locator("#map-tip").wait_for(state="visible")
    assert station in page.locator("#map-tip").inner_text()
    page.context.close()


def test_reprioritise_and_cancel_a_waiting_order(browser: Any, service: Service) -> None:
    service.pause_all()  # nobody may take it, so it waits
    try:
        page = open_page(browser, service, "dispatcher")
        page.click(".tab[data-view=orders]")
        src, dst = service.order_stations
        page.select_option("#new-source", src)
        page.select_option("#new-destination", dst)
        client_id = f"WMS-C{int(time.time() * 1000) % 10**8}"
        page.fill("#order-form input[name=client_id]", client_id)
        page.click("#order-form button[type=submit]")
        row = page.locator("#order-rows tr", has=page.locator(f"text={client_id}"))
        row.wait_for(timeout=5000)
        order_id = row.get_attribute("data-id")
        assert service.order(order_id)["state"] in ("created", "queued")
        row.locator("select").select_option("8")
        page.wait_for_function(f"document.querySelector(\"#order-rows tr[data-id='{order_id}'] select\").value === '8'")
        deadline = time.time() + 5
        while service.order(order_id)["priority"] != 8 and time.time() < deadline:
            time.sleep(0.1)
        assert service.order(order_id)["priority"] == 8
        page.locator(f"#order-rows tr[data-id='{order_id}'] button[data-action=cancel]").click()
        assert order_id in page.locator("#confirm-text").inner_text()
        page.click("#confirm-ok")
        page.wait_for_selector(f"#order-rows tr[data-id='{order_id}'][data-state=cancelled]", timeout=5000)
        assert service.order(order_id)["state"] == "cancelled"
        # filtering by state finds it, and only cancelled orders
        page.select_option("#filter-state", "cancelled")
        page.wait_for_function("[...document.querySelectorAll('#order-rows tr')].every(r => r.dataset.state === 'cancelled')"
                               f" && document.querySelector(\"#order-rows tr[data-id='{order_id}']\") !== null")
        page.context.close()
    finally:
        service.resume_all()


def test_estop_all_after_confirmation(browser: Any, service: Service) -> None:
    page = open_page(browser, service, "dispatcher")
    try:
        page.click("#estop-all")
        page.click("#confirm menu button[value=cancel]")
        assert "estopped" not in service.modes().values()  # cancelled: nothing stopped
        page.click("#estop-all")
        page.click("#confirm-ok")
        deadline = time.time() + 5
        while set(service.modes().values()) != {"estopped"} and time.time() < deadline:
            time.sleep(0.1)
        assert set(service.modes().values()) == {"estopped"}
        page.wait_for_function("[...window.__fleet.state.machines.values()].every(m => m.mode === 'estopped')", timeout=8000)
        shot(page, "estop-all")
    finally:
        service.resume_all()
        page.context.close()
