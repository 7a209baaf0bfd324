"""The example's `deploy` flow: idempotent webhook registration, dry-run."""

import urllib.parse

from helpers import (OUR_HOOK, PUBLIC_URL, SECRETS, example_args, register_webhook,
                     requests_of, step)


def deploy(run, progix, *more):
    return run("run", *example_args(progix), "--flow", "deploy",
               "--public-url", PUBLIC_URL, *more)


def hooks(progix):
    return progix.get("/_admin/webhooks")["webhooks"]


def ours(progix):
    return [h for h in hooks(progix) if h["url"] == OUR_HOOK]


def test_deploy_twice_registers_once(run, progix):
    r = deploy(run, progix)
    assert r.rc == 0, r
    got = hooks(progix)
    assert len(got) == 1, got
    assert got[0]["url"] == OUR_HOOK
    assert got[0]["events"] == ["account.created"]

    r = deploy(run, progix)
    assert r.rc == 0, r
    assert len(hooks(progix)) == 1
    posts = [q for q in requests_of(progix) if q["method"] == "POST"]
    assert len(posts) == 1, posts


def test_deploy_second_run_takes_the_found_branch(run, progix):
    assert deploy(run, progix).rc == 0
    r = deploy(run, progix, "--json")
    assert r.rc == 0, r
    t = r.json()
    exists = step(t, "exists")
    assert exists["branch"] == "found"
    assert exists["output"]["branch"] == "found"
    assert "webhook already registered" in r.stderr


def test_deploy_with_several_pages(run, progix):
    # page size 2: five others first, so ours lands on page 3
    for i in range(5):
        register_webhook(progix, "http://other.test/hook/%d" % i)
    r = deploy(run, progix)
    assert r.rc == 0, r
    assert len(ours(progix)) == 1
    assert len(hooks(progix)) == 6

    before = len(requests_of(progix))
    r = deploy(run, progix, "--json")
    assert r.rc == 0, r
    assert len(ours(progix)) == 1, hooks(progix)
    assert len(hooks(progix)) == 6
    new = requests_of(progix)[before:]
    # every page was read (6 hooks / 2 per page), nothing was created
    assert [q["method"] for q in new] == ["GET"] * 3, new
    cursors = [urllib.parse.parse_qs(q["query"]).get("cursor") for q in new]
    assert cursors[0] is None and all(cursors[1:]), cursors
    listed = step(r.json(), "list")["output"]
    assert len(listed) == 6


def test_deploy_finds_ours_on_a_later_page(run, progix):
    for i in range(3):
        register_webhook(progix, "http://other.test/hook/%d" % i)
    register_webhook(progix, OUR_HOOK)
    for i in range(3, 5):
        register_webhook(progix, "http://other.test/hook/%d" % i)
    before = len(requests_of(progix))
    r = deploy(run, progix)
    assert r.rc == 0, r
    assert len(ours(progix)) == 1, hooks(progix)
    assert [q["method"] for q in requests_of(progix)[before:]] == ["GET"] * 3


def test_deploy_other_instance_url_is_another_hook(run, progix):
    # a different public URL is a different webhook: registered anew
    assert deploy(run, progix).rc == 0
    r = run("run", *example_args(progix), "--flow", "deploy",
            "--public-url", "http://elsewhere.test")
    assert r.rc == 0, r
    assert sorted(h["url"] for h in hooks(progix)) == sorted(
        [OUR_HOOK, "http://elsewhere.test/hooks/progix-to-slack/account"])


# -- dry-run -----------------------------------------------------------------

def test_dry_run_sends_the_get_not_the_post(run, progix):
    r = deploy(run, progix, "--dry-run", "--json")
    assert r.rc == 0, r
    reqs = requests_of(progix)
    assert [(q["method"], q["path"]) for q in reqs] == [("GET", "/webhooks")], reqs
    assert hooks(progix) == []

    t = r.json()
    assert t["dry_run"] is True
    assert t["writes_sent"] == 0 and t["writes_skipped"] == 1
    create = step(t, "create")
    assert create["status"] == "dry-run"
    q = create["request"]
    assert q["method"] == "POST"
    assert q["url"] == progix.url + "/webhooks"
    assert q["body"] == {"url": OUR_HOOK, "events": ["account.created"]}
    auth = {k.lower(): v for k, v in q["headers"].items()}["authorization"]
    assert auth == "***"
    # the sample stands in for the output
    assert create["output"]["id"] == "wh_dry_run"
    assert create["output"]["url"] == OUR_HOOK
    for s in SECRETS:
        assert s not in r.stdout + r.stderr


def test_dry_run_text_shows_the_post(run, progix):
    r = deploy(run, progix, "--dry-run")
    assert r.rc == 0, r
    assert [q["method"] for q in requests_of(progix)] == ["GET"]
    out = r.stdout
    assert "POST %s/webhooks" % progix.url in out, out
    assert "Authorization: ***" in out, out
    assert OUR_HOOK in out and "account.created" in out
    for s in SECRETS:
        assert s not in out + r.stderr


def test_dry_run_when_registered_sends_only_the_get(run, progix):
    register_webhook(progix, OUR_HOOK)
    before = len(requests_of(progix))
    r = deploy(run, progix, "--dry-run", "--json")
    assert r.rc == 0, r
    assert [q["method"] for q in requests_of(progix)[before:]] == ["GET"]
    assert step(r.json(), "exists")["branch"] == "found"
    assert r.json()["writes_skipped"] == 0
