"""What every browser test does with a page: log in, wait for the live channels, take a screenshot."""

from __future__ import annotations

from typing import Any

from tests.web.service import Service
from tests.web.serving import SCREENSHOTS


def open_page(browser: Any, service: Service, user: str, lang: str = "en") -> Any:
    ctx = browser.new_context(viewport={"width": 1400, "height": 860}, locale=lang)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.errors = errors
    page.add_init_script(f"if (!localStorage.getItem('fleet.lang')) localStorage.setItem('fleet.lang', '{lang}')")
    page.goto(service.url)
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", service.password(user))
    page.click("#login-form button[type=submit]")
    try:
        page.wait_for_function("window.__fleet && window.__fleet.state.site && window.__fleet.state.machines.size > 0")
        page.wait_for_function("window.__fleet.state.stats.poseFrames > 3", timeout=10000)
    except Exception as exc:  # what the page got so far, to tell a slow server from a stuck page
        seen = page.evaluate("""() => ({fleet: Boolean(window.__fleet), site: Boolean(window.__fleet?.state.site),
            machines: window.__fleet?.state.machines.size, poseFrames: window.__fleet?.state.stats.poseFrames,
            body: document.body.className, loginError: document.getElementById('login-error').textContent})""")
        raise AssertionError(f"page not live 40 s after login as {user}: {seen}; console {console[-10:]}") from exc
    return page


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
