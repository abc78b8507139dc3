"""Every main page of every role, in Chromium at 1280 and 390 px: axe-core
(vendored in tests/e2e/assets, nothing downloaded) finds no critical or
serious violation, each page has an h1, and at 390 px nothing is wider than
the screen (wide tables scroll inside their own box), and chart labels are
at least 11 px and inside their chart.

One browser context per role, one page load per URL: the phone width is the
same page resized, so the whole run stays short.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

AXE = Path(__file__).parent / "assets" / "axe.min.js"
SHOTS = os.getenv("E2E_SCREENSHOTS", "")
WIDTHS = (1280, 390)

# {class}, {deck}, ... are filled from the demo data below.
PAGES = {
    "anonymous": [
        "/accounts/login/",
        "/accounts/signup/",
        "/accounts/signup/confirm/{signup}/",
        "/accounts/signup/confirm/expired-link/",
        "/accounts/password_reset/",
        "/status/",
    ],
    "student": [
        "/dashboard/",
        "/dashboard/decks/",
        "/classes/",
        "/classes/{class}/",
        "/decks/",
        "/decks/{deck}/",
        "/study/?scope_type=classroom&scope_id={class}",
        "/study/sessions/{session}/",
        "/study/sessions/{test}/summary/",
        "/classes/{class}/progress/students/{student}/",
        "/join/",
        "/accounts/profile/",
    ],
    "teacher": [
        "/dashboard/",
        "/classes/",
        "/classes/{class}/",
        "/courses/{course}/",
        "/lessons/{lesson}/",
        "/decks/{deck}/",
        "/decks/{deck}/cards/new/",
        "/cards/{card}/edit/",
        "/classes/{class}/progress/",
        "/classes/{class}/gradebook/",
        "/classes/{class}/progress/students/{student}/",
        "/classes/{class}/scheduling/",
        "/decks/import/",
    ],
    "admin": [
        "/analytics/",
        "/analytics/funnel/",
        "/analytics/retention/",
        "/analytics/flags/",
        "/analytics/experiments/",
        "/analytics/feedback/",
        "/ops/",
        "/ops/performance/",
        "/ops/incidents/",
        "/ops/maintenance/",
        "/ops/maintenance/windows/",
        "/ops/backups/",
        "/ops/sla/",
    ],
}

# Pages that answer something other than 200 on purpose.
STATUS = {"/accounts/signup/confirm/expired-link/": 400}
# Pages reached by sending a form (filled by _sign_up), per role.
SUBMITTED = {"anonymous": ["/accounts/signup/"]}

CHECK = r"""
async () => {
  // WCAG 2.1 A and AA rules (the bar), not axe's best-practice extras; h1 is checked below.
  const result = await axe.run(document, {
    resultTypes: ['violations'],
    runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']},
  });
  const bad = result.violations.filter(v => v.impact === 'critical' || v.impact === 'serious');
  return {
    violations: bad.map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | ')}`),
    h1: document.querySelectorAll('h1').length,
    scrollWidth: document.documentElement.scrollWidth,
    width: window.innerWidth,
    // Chart labels: at least 11 px as drawn, and inside their chart.
    charts: Array.from(document.querySelectorAll('svg.chart')).flatMap(svg => {
      const viewBox = svg.viewBox.baseVal;
      if (!viewBox || !viewBox.width) return [];
      const box = svg.getBoundingClientRect();
      const scale = box.width / viewBox.width;
      return Array.from(svg.querySelectorAll('text')).flatMap(text => {
        const size = parseFloat(getComputedStyle(text).fontSize) * scale;
        const r = text.getBoundingClientRect();
        const name = text.textContent.slice(0, 30);
        const out = [];
        if (size < 10.95) out.push(`chart label "${name}" is ${size.toFixed(1)} px`);
        if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
          out.push(`chart label "${name}" is clipped`);
        return out;
      });
    }).slice(0, 5),
    // The outermost elements that stick out of the screen, to say what to fix.
    wide: Array.from(document.querySelectorAll('body *')).filter(e => {
      const box = e.getBoundingClientRect();
      if (box.right <= window.innerWidth + 1 || box.width === 0) return false;
      const parent = e.parentElement.getBoundingClientRect();
      return parent.right <= window.innerWidth + 1;
    }).slice(0, 4).map(e => e.tagName.toLowerCase() + (e.className && typeof e.className === 'string' ? '.' + e.className.trim().split(/\s+/).join('.') : '')),
  };
}
"""


def _demo_ids() -> dict[str, int]:
    from learning import study
    from learning.models import Card, Classroom, Deck
    from lms import signup
    from lms.demo import seed_demo
    from lms.models import User

    users = seed_demo()
    classroom = Classroom.objects.filter(teacher=users.teacher).order_by("id").first()
    deck = Deck.objects.filter(lesson__course__classroom=classroom, lesson__published=True).order_by("id").first()
    card = Card.objects.filter(deck=deck).order_by("id").first()
    test = study.session_start(student=users.student, scope_type="deck", scope_id=deck.pk, mode="test", size=2)
    for card_id in list(test.queue):
        study.session_answer(student=users.student, session_id=test.pk, card_id=card_id, answer="not it")
    session = study.session_start(student=users.student, scope_type="deck", scope_id=deck.pk, mode="cram")
    pending = signup.signup_request(
        username="newcomer", email="newcomer@example.com", password="demo-pass-123", role="student"
    )
    return {
        "signup": signup.signup_token(user=User.objects.get(pk=pending.user_id)),
        "class": classroom.pk,
        "course": deck.lesson.course_id,
        "lesson": deck.lesson_id,
        "deck": deck.pk,
        "card": card.pk,
        "student": users.student.pk,
        "session": session.pk,
        "test": test.pk,
    }


def _check_role(browser, base_url: str, role: str, ids: dict[str, int]) -> list[str]:
    # bypass_csp: axe is injected as a script the page itself would never allow.
    context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900}, bypass_csp=True)
    # In every document before its own scripts: no extra round trip per page.
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(15_000)
    problems: list[str] = []
    try:
        if role != "anonymous":
            page.goto(f"{base_url}/accounts/login/")
            page.fill("input[name=username]", role)
            page.fill("input[name=password]", "demo-pass-123")
            with page.expect_navigation():
                page.click("main button[type=submit]")
        for template in PAGES[role]:
            path = template.format(**ids)
            page.set_viewport_size({"width": WIDTHS[0], "height": 900})
            response = page.goto(f"{base_url}{path}", wait_until="domcontentloaded")
            expected = STATUS.get(template, 200)
            if response is None or response.status != expected:
                problems.append(f"{role} {path}: HTTP {response.status if response else '?'}, not {expected}")
                continue
            problems += _check_widths(page, role, path)
        for path in SUBMITTED.get(role, []):
            page.set_viewport_size({"width": WIDTHS[0], "height": 900})
            page.goto(f"{base_url}{path}", wait_until="domcontentloaded")
            _sign_up(page)
            problems += _check_widths(page, role, f"{path} (sent)")
    finally:
        context.close()
    return problems


def _sign_up(page) -> None:
    """The sign-up form, sent: the "check your email" page."""
    page.fill("#id_username", "another")
    page.fill("#id_email", "another@example.com")
    page.check("input[name=role][value=student]")
    page.fill("#id_password1", "demo-pass-123")
    page.fill("#id_password2", "demo-pass-123")
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.click("main button[type=submit]")
    page.get_by_role("heading", name="Check your email to finish signing up").wait_for()


def _check_widths(page, role: str, path: str) -> list[str]:
    problems: list[str] = []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        found = page.evaluate(CHECK)
        if SHOTS:
            name = path.strip("/").replace("/", "_").replace("?", "_").replace(" ", "_") or "home"
            page.screenshot(path=os.path.join(SHOTS, f"a11y-{role}-{name}-{width}.png"), full_page=True)
        where = f"{role} {path} @{width}"
        problems += [f"{where}: {violation}" for violation in found["violations"]]
        problems += [f"{where}: {chart}" for chart in found["charts"]]
        if not found["h1"]:
            problems.append(f"{where}: no h1")
        if width < 800 and found["scrollWidth"] > found["width"]:
            problems.append(f"{where}: page is {found['scrollWidth']} px wide ({', '.join(found['wide'])})")
    return problems


def test_every_main_page_of_every_role_is_accessible_and_fits_a_phone(browser, live_server, transactional_db):
    ids = _demo_ids()
    problems: list[str] = []
    for role in PAGES:
        problems += _check_role(browser, live_server.url, role, ids)
    assert not problems, "\n".join(problems)
