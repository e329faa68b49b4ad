"""A flat walk's items with the network file's blocks recovered (issue 16): the skips of residual
and squeeze-and-excitation blocks, read back from save:/from: and the joins."""

from __future__ import annotations

def _refs(items: list, counts: dict) -> dict:
    """How many from: items read each saved name (in blocks' branches too)."""
    for item in items:
        if "from" in item:
            counts[item["from"]] = counts.get(item["from"], 0) + 1
        for key, body in item.items():
            if isinstance(body, dict):
                for part in ("body", "shortcut"):
                    if isinstance(body.get(part), list):
                        _refs(body[part], counts)
                for branch in body.get("branches", []) or []:
                    _refs(branch, counts)
    return counts


def _join_reads(item: dict, kind: str) -> str | None:
    """The saved name a two-branch join reads beside the current tensor ([[], [from: NAME]])."""
    body = item.get(kind)
    if not isinstance(body, dict) or set(body) != {"branches"} or len(body["branches"]) != 2:
        return None
    a, b = body["branches"]
    other = b if a == [] else a if b == [] else None
    if other is None or len(other) != 1 or set(other[0]) != {"from"}:
        return None
    return other[0]["from"]


def blocks(items: list) -> list:
    """The flat walk's items with residual and squeeze-and-excitation blocks recovered, as a network
    file writes them: save X, body..., add [[], [from: X]] is residual {body, shortcut: []}; save X,
    body... (save M), from: X, shortcut..., add [[], [from: M]] is residual {body, shortcut}; save X,
    body..., multiply [[], [from: X]] is scale {body}. Only where the names are read nowhere else."""
    refs = _refs(items, {})
    out: list = []
    for item in items:
        kind = "add" if "add" in item else "multiply" if "multiply" in item else None
        name = _join_reads(item, kind) if kind else None
        start = next((k for k in range(len(out) - 1, -1, -1) if out[k].get("save") == name), None) if name else None
        if start is None or refs.get(name) != 1:
            out.append(item)
            continue
        tail = out[start + 1:]
        label = {"name": item["name"]} if "name" in item else {}
        if not tail or any("from" in t for t in tail):
            # the projection shortcut: body (its end saved as M), from: X, shortcut, then add reads M?
            out.append(item)
            continue
        if kind == "add":
            block = {"residual": {"body": tail, "shortcut": []}, **label}
        else:
            block = {"scale": {"body": tail}, **label}
        saved = out[start]
        if refs.get(saved.get("save")) == 1:
            saved.pop("save")
        del out[start + 1:]
        if "save" in item:
            block["save"] = item["save"]
        out.append(block)
    return _projections(out, refs)


def _projections(items: list, refs: dict) -> list:
    """save X, body (ending in save M), from: X, shortcut, add [[], [from: M]]: a residual block with
    a shortcut (ResNet's downsample)."""
    out: list = []
    for item in items:
        name = _join_reads(item, "add") if "add" in item else None
        if name is None or refs.get(name) != 1:
            out.append(item)
            continue
        end = next((k for k in range(len(out) - 1, -1, -1) if out[k].get("save") == name), None)
        back = next((k for k in range(len(out) - 1, end if end is not None else -1, -1) if "from" in out[k]), None)
        if end is None or back is None:
            out.append(item)
            continue
        x = out[back]["from"]
        start = next((k for k in range(end, -1, -1) if out[k].get("save") == x), None)
        body, shortcut = out[start + 1:end + 1] if start is not None else None, out[back + 1:]
        if start is None or refs.get(x) != 1 or any("from" in t for t in body + shortcut) or back != end + 1:
            out.append(item)
            continue
        body[-1].pop("save")
        block = {"residual": {"body": body, "shortcut": shortcut}}
        if "name" in item:
            block["name"] = item["name"]
        if "save" in item:
            block["save"] = item["save"]
        if refs.get(out[start].get("save")) == 1:
            out[start].pop("save")
        del out[start + 1:]
        out.append(block)
    return out
