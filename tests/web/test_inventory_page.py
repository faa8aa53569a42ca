"""The inventory view against the demo's stack: slots drawn, a slot's loads on click, the
slot map and tally list following orders the simulator carries out, and the mismatch
alarm when the simulated tally camera sees a swapped label."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.web.pages import open_page, shot
from tests.web.service import Service
from tests.web.serving import CHROMIUM

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture()
def sim(service: Service) -> Service:
    if not service.has_sim:
        pytest.skip("the inventory view needs the simulator-backed service (FLEET_WEB_BACKEND=sim)")
    return service


def open_inventory(browser: Any, service: Service, user: str = "dispatcher") -> Any:
    page = open_page(browser, service, user)
    page.click(".tab[data-view=inventory]")
    page.wait_for_function("window.__fleet.state.inventory && window.__fleet.state.inventory.byPos.size > 0")
    return page


def loads_in(service: Service, slot: str) -> set[str]:
    return {p["load"]["id"] for p in service.slot(slot)["positions"] if p["load"]}


def test_inventory_view_shows_the_slots_and_a_slots_loads(browser: Any, sim: Service) -> None:
    page = open_inventory(browser, sim)
    server = sim.slot_map()
    assert page.evaluate("window.__fleet.state.inventory.byPos.size") == len(server["positions"])
    assert int(page.locator("#inv-positions").inner_text()) == server["fill"]["positions"]
    assert int(page.locator("#inv-occupied").inner_text()) > 0
    # the slot map is drawn: cells of both states are on the canvas
    assert page.evaluate("""() => {
        const c = document.getElementById('inv-map'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let ink = 0; for (let i = 0; i < d.length; i += 4 * 53) if (d[i + 3] > 0) ink++; return ink;
    }""") > 200
    # click an occupied slot: its levels and loads are listed, as the server has them
    slot, x, y = page.evaluate("""() => {
        const inv = window.__fleet.inventory, c = inv.canvas, r = c.canvas.getBoundingClientRect();
        const s = [...inv.layer.slots.values()].find((s) => s.positions.some((p) => p.load_id));
        const [sx, sy] = c.toScreen(s.x, s.y); return [s.id, r.left + sx, r.top + sy];
    }""")
    page.mouse.click(x, y)
    page.wait_for_selector("#inv-slot-rows tr")
    assert slot in page.locator("#inv-slot h3").inner_text()
    shown = set(page.eval_on_selector_all("#inv-slot-rows tr[data-load]", "els => els.map(e => e.dataset.load)")) - {""}
    assert shown == loads_in(sim, slot) and shown
    # the live map draws the same layer when asked
    page.click(".tab[data-view=map]")
    page.check("#map-slots")
    assert page.evaluate("window.__fleet.map.slotLayer.byPos.size") == len(server["positions"])
    shot(page, "map-slots")
    page.context.close()


def test_slot_map_and_tally_follow_the_orders_as_they_run(browser: Any, sim: Service) -> None:
    page = open_inventory(browser, sim)
    first = page.evaluate("""() => Object.fromEntries([...window.__fleet.state.inventory.byPos.values()]
        .map((p) => [p.position, p.load_id]))""")
    # the WMS's orders store and take loads; the page follows from the event stream, no reload
    page.wait_for_function("""(first) => [...window.__fleet.state.inventory.byPos.values()]
        .some((p) => p.load_id !== first[p.position])""", arg=first, timeout=40000)
    changed = page.evaluate("""(first) => [...window.__fleet.state.inventory.byPos.values()]
        .filter((p) => p.load_id !== first[p.position]).map((p) => [p.position, p.slot, p.load_id])""", first)
    # what the page shows is what the inventory holds (the WMS may have moved one again since: not all of them)
    held = {}
    for _, slot, _ in changed:
        held.update({p["position"]: (p["load"] or {}).get("id") for p in sim.slot(slot)["positions"]})
    assert any(load == held[position] for position, _, load in changed), (changed, held)
    # each change came with the drop's tally record, listed newest first
    page.wait_for_selector("#inv-tally tr[data-outcome=match]", timeout=10000)
    assert page.locator("#inv-tally tr").count() > 0
    shot(page, "inventory")
    page.context.close()


def test_swapped_label_raises_a_mismatch_alarm(browser: Any, sim: Service) -> None:
    page = open_inventory(browser, sim)
    src = sim.order_stations[0]
    slot = sim.free_slot(near=src, farthest=True)  # a long drive: time to swap the label after the pickup
    order_id = sim.submit(src, slot)
    # once the pickup's tally matched, the machine's camera starts showing another load's label
    leg, machine = f"{order_id}.0", None
    deadline = time.time() + 40
    while time.time() < deadline and not any(r["stage"] == "pickup" for r in sim.tally_records(leg)):
        time.sleep(0.02)
    machine = sim.order_machine(order_id)
    assert machine, f"order {order_id}: no pickup tally in 40 s"
    sim.swap_label(machine, True)
    try:
        assert not any(r["stage"] == "drop" for r in sim.tally_records(leg)), "dropped before the swap"
        # the drop's read does not match: a critical tally-mismatch alarm in the list, a banner, a red tally row
        # (another critical alarm may blink the banner first on a loaded machine: wait for this one's row)
        page.click(".tab[data-view=alarms]")
        row = page.locator(f"#alarm-active tr[data-kind=tally_mismatch][data-machine='{machine}']")
        try:
            row.first.wait_for(timeout=45000)
        except Exception as exc:
            raise AssertionError(f"no mismatch alarm 45 s after the swap on {machine}: order {sim.order(order_id)}, "
                                 f"tally {sim.tally_records(leg)}, tally alarms {sim.tally_alarms()}, banner "
                                 f"{page.inner_text('#critical-banner')!r}; {sim.diagnosis()}") from exc
        assert page.locator("#critical-banner:not(.hidden)").count() == 1
        assert "Tally mismatch" in row.first.inner_text()
        shot(page, "alarm-mismatch")
        page.click(".tab[data-view=inventory]")
        page.wait_for_selector(f"#inv-tally tr.tally-bad[data-outcome=mismatch] >> text={slot}", timeout=10000)
        alarm = page.locator(f"#inv-alarms tr[data-machine='{machine}']")
        alarm.first.wait_for(timeout=10000)
        assert set(alarm.first.locator("button").evaluate_all("els => els.map(e => e.dataset.action)")) == {
            "accept", "re-read", "check-station"}
        shot(page, "inventory-mismatch")
    finally:
        sim.swap_label(machine, False)
    # the drop waits: the pallet is not in the slot until the dispatcher accepts it
    assert not any(p["load"] and p["load"]["id"].endswith(order_id[4:14]) for p in sim.slot(slot)["positions"])
    page.click(".tab[data-view=alarms]")
    ack = page.locator(f"#alarm-active tr[data-kind=tally_mismatch][data-machine='{machine}'] button[data-action=ack]")
    for _ in range(ack.count()):
        ack.first.click()
        page.wait_for_timeout(300)
    page.wait_for_selector(f"#alarm-past tr[data-kind=tally_mismatch][data-machine='{machine}']", timeout=8000)
    page.click(".tab[data-view=inventory]")
    page.locator(f"#inv-alarms tr[data-machine='{machine}'] button[data-action=accept]").first.click()
    page.wait_for_selector(".toast:not(.error)", timeout=5000)
    page.wait_for_function(f"document.querySelectorAll(\"#inv-alarms tr[data-machine='{machine}']\").length === 0",
                           timeout=8000)
    assert all(a["state"] != "open" for a in sim.tally_alarms() if a["machine_id"] == machine)
    # accepted: the drop is applied, and the slot map shows the pallet in its slot
    page.wait_for_function(f"""[...window.__fleet.state.inventory.slots.get('{slot}').positions]
        .some((p) => p.load_id && p.load_id.endsWith('{order_id[4:14]}'))""", timeout=10000)
    assert page.errors == []
    page.context.close()


def test_viewer_cannot_answer_a_tally_alarm(browser: Any, sim: Service) -> None:
    page = open_inventory(browser, sim, "viewer")
    status = page.evaluate("""async () => (await fetch('/api/v1/inventory/alarms/TALLY-none/resolve', {method: 'POST',
        headers: {Authorization: 'Bearer ' + sessionStorage.getItem('fleet.token'), 'Content-Type': 'application/json'},
        body: JSON.stringify({action: 'accept'})})).status""")
    assert status == 403
    assert page.locator("#inv-alarms button:enabled").count() == 0
    page.context.close()


def coil_yard_slot_map() -> dict[str, Any]:
    """The coil yard's slot map as `GET /inventory/map` gives it, with coils on both tiers:
    S1-01 and S1-02 hold a coil each and a third rests on them (position S1-01/T2)."""
    from fleet.inventory.layout import KIND_NAMES, build_layout
    from maps.loader import load_site, resolve_site

    lay = build_layout(load_site(resolve_site("coil_yard")))
    held = {"S1-01/T1": "C-1", "S1-02/T1": "C-2", "S1-01/T2": "C-3"}
    ids = list(lay.ids)
    return {"site": lay.site_name, "bay": None, "positions": ids, "slots": list(lay.slot_ids),
            "kind": [KIND_NAMES[int(k)] for k in lay.kind], "tier": [int(t) for t in lay.tier],
            "x": [float(x) for x in lay.x], "y": [float(y) for y in lay.y],
            "load_id": [held.get(p) for p in ids], "weight_kg": [15000.0 if p in held else None for p in ids],
            "hazard_class": [None] * len(ids), "alarm": [False] * len(ids),
            "fill": {"positions": len(ids), "occupied": 3, "lower_occupied": 2, "upper_occupied": 1}}


def test_coil_yard_tiers_are_drawn_where_the_upper_coil_rests(browser: Any, service: Service) -> None:
    """The slot layer on a coil yard: two tiers per slot, the upper coil drawn between the
    two coils that carry it, clickable as its slot (drawn off screen: the service runs the warehouse)."""
    page = open_page(browser, service, "viewer")
    out = page.evaluate("""async (map) => {
        const m = await import('/ui/js/slots.js');
        const layer = m.buildSlotLayer(map), s1 = layer.slots.get('S1-01'), up = layer.byPos.get('S1-01/T2');
        const c = document.createElement('canvas'); c.width = 400; c.height = 200;
        const ctx = c.getContext('2d'), scale = 20, ox = -s1.x * scale + 60, oy = s1.y * scale + 100;
        ctx.setTransform(scale, 0, 0, -scale, ox, oy);
        m.drawSlotLayer(ctx, layer, (n) => n / scale);
        const rgb = (x, y) => [...ctx.getImageData(x * scale + ox, -y * scale + oy, 1, 1).data.slice(0, 3)];
        const free = layer.slots.get('S1-03');
        return {slots: layer.slots.size, tiers: s1.positions.map((p) => [p.kind, p.tier, p.load_id]),
                upper: [up.x, up.y], lower: [s1.x, s1.y], next: [layer.slots.get('S1-02').x],
                at_upper: m.slotAt(layer, up.x, up.y)?.id, states: [m.positionState(up), m.positionState(free.positions[0])],
                colour_upper: rgb(up.x, up.y), colour_free: rgb(free.x, free.y), colour_lower: rgb(s1.x - 0.8, s1.y)};
    }""", coil_yard_slot_map())
    assert out["slots"] == 175  # BAY1's slots, each with a lower and an upper tier
    assert out["tiers"] == [["lower", 1, "C-1"], ["upper", 2, "C-3"]]
    assert out["lower"][0] < out["upper"][0] < out["next"][0]  # between the two coils it rests on
    assert out["at_upper"] == "S1-01"
    assert out["states"] == ["occupied", "free"]
    occupied, free = (0x54, 0x6E, 0x7A), (0xEC, 0xEF, 0xF3)  # SLOT_COLOURS in slots.js
    assert tuple(out["colour_upper"]) == occupied and tuple(out["colour_lower"]) == occupied
    assert tuple(out["colour_free"]) == free
    page.context.close()
