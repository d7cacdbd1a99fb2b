#!/usr/bin/env python3
"""A small exec bead store for gc (docs/exec-bead-store.md), to copy and adapt.

Beads live in one JSON file, $GC_BEADS_DIR/beads.json, rewritten under an exclusive lock
(flock), so concurrent calls — two agents claiming at once — cannot both win. It implements
create, get, update, claim, close, list, ready and export; every other op exits 2, which gc
reports as "the exec store script does not support <op>". `ready` is simplified: open,
unassigned-or-matching beads without an open `blocks` dependency (bd's full rules are in the
protocol document).

    beads:
      backend: exec
      command: python3 docs/examples/exec-store.py
"""

import fcntl
import json
import os
import sys
import uuid
from datetime import datetime, timezone


def now():
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Failure(Exception):
    """An op failure: `code` (the protocol's error code) and fields go to stdout as JSON."""

    def __init__(self, message, code=None, **fields):
        super().__init__(message)
        self.error = dict(code=code, **fields) if code else None


def not_found(beads, bead_id):
    if bead_id not in beads:
        raise Failure(f"no bead with id `{bead_id}`", "not_found", id=bead_id)
    return beads[bead_id]


def create(beads, req, _args):
    if not req.get("title", "").strip():
        raise Failure("a bead needs a title", "invalid")
    prefix = os.environ.get("GC_BEADS_PREFIX", "gc")
    bead_id = req.get("id") or f"{prefix}-{uuid.uuid4().hex[:6]}"
    t = now()
    bead = {"id": bead_id, "title": req["title"], "status": "open",
            "priority": req.get("priority", 2), "issue_type": req.get("issue_type", "task"),
            "created_at": t, "created_by": req["actor"], "updated_at": t}
    for key in ("description", "assignee", "labels", "metadata"):
        if req.get(key):
            bead[key] = req[key]
    beads[bead_id] = bead
    return bead


def update(beads, req, args):
    bead = not_found(beads, args[0])
    for key in ("title", "description", "notes", "status", "priority", "assignee"):
        if key in req:
            bead[key] = req[key]
    labels = set(bead.get("labels", [])) | set(req.get("add_labels", []))
    bead["labels"] = sorted(labels - set(req.get("remove_labels", [])))
    meta = bead.setdefault("metadata", {})
    for key, value in req.get("set_metadata", {}).items():
        if value is None:
            meta.pop(key, None)
        else:
            meta[key] = value
    if bead["status"] == "closed":
        bead.setdefault("closed_at", now())
    else:
        bead.pop("closed_at", None)
    bead["updated_at"] = now()
    return bead


def claim(beads, req, args):
    bead, actor = not_found(beads, args[0]), req["actor"]
    holder = bead.get("assignee", "")
    if holder and holder != actor:
        raise Failure(f"{bead['id']} already claimed by {holder}", "already_claimed",
                      id=bead["id"], by=holder)
    if bead["status"] == "in_progress" and holder == actor:
        return bead
    if bead["status"] != "open":
        raise Failure(f"{bead['id']} cannot be claimed: its status is {bead['status']}",
                      "not_claimable", id=bead["id"], status=bead["status"])
    bead.update(status="in_progress", assignee=actor, started_at=now(), updated_at=now())
    return bead


def close(beads, req, args):
    bead = not_found(beads, args[0])
    if bead["status"] != "closed":
        bead.update(status="closed", closed_at=now(), updated_at=now())
        if req.get("reason"):
            bead["close_reason"] = req["reason"]
    return bead


def ordered(beads):
    by_age = sorted(beads, key=lambda b: b["created_at"], reverse=True)
    return sorted(by_age, key=lambda b: b.get("priority", 2))


def list_(beads, req, _args):
    statuses = req.get("statuses") or None
    found = [b for b in beads.values()
             if (b["status"] in statuses if statuses else req.get("all") or b["status"] != "closed")
             and req.get("assignee") in (None, b.get("assignee"))
             and set(req.get("labels", [])) <= set(b.get("labels", []))]
    return ordered(found)[: req.get("limit")]


def ready(beads, req, _args):
    def blocked(b):
        return any(d["type"] == "blocks" and beads.get(d["depends_on_id"], {}).get("status") != "closed"
                   for d in b.get("dependencies", []))
    found = [b for b in beads.values()
             if b["status"] == "open" and not blocked(b)
             and (not req.get("unassigned") or not b.get("assignee"))
             and req.get("assignee") in (None, b.get("assignee"))
             and set(req.get("labels", [])) <= set(b.get("labels", []))]
    return ordered(found)[: req.get("limit")]


OPS = {"create": (create, True), "get": (lambda beads, _r, a: not_found(beads, a[0]), False),
       "update": (update, True), "claim": (claim, True), "close": (close, True),
       "list": (list_, False), "ready": (ready, False),
       "export": (lambda beads, _r, _a: sorted(beads.values(), key=lambda b: b["id"]), False)}


def main(argv):
    if len(argv) < 2 or argv[1] not in OPS:
        print(f"unknown op {argv[1:2]}", file=sys.stderr)
        return 2
    op, args = OPS[argv[1]], argv[2:]
    stdin = sys.stdin.read() if argv[1] not in ("get", "export") else ""
    req = json.loads(stdin) if stdin.strip() else {}
    path = os.path.join(os.environ["GC_BEADS_DIR"], "beads.json")
    with open(path, "a+") as store:
        fcntl.flock(store, fcntl.LOCK_EX)  # held until the file is closed
        store.seek(0)
        text = store.read()
        beads = json.loads(text) if text.strip() else {}
        try:
            answer = op[0](beads, req, args)
        except Failure as failure:
            if failure.error:
                print(json.dumps(failure.error))
            print(failure, file=sys.stderr)
            return 1
        if op[1]:  # the op changed something: rewrite the file, still under the lock
            store.seek(0)
            store.truncate()
            json.dump(beads, store)
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
