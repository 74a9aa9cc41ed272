#!/usr/bin/env python3
"""Fails if a public item of the safer-ring crate has no example in its docs.

Reads rustdoc's JSON output (built by `.ci/run` with RUSTC_BOOTSTRAP=1 and
`-Z unstable-options --output-format json`) and walks every item reachable from the
crate root: modules, re-exports, types, their inherent methods, trait items. Trait impls
are skipped (their docs are the trait's). Prints each item without a fenced code block.
"""
import json
import sys


def main(path):
    doc = json.load(open(path))
    index = doc["index"]
    seen, items = set(), []

    def visit(item_id, parents):
        if item_id in seen:
            return
        seen.add(item_id)
        item = index.get(str(item_id))
        if item is None or item.get("crate_id", 0) != 0:
            return
        kind = next(iter(item["inner"]))
        inner = item["inner"][kind]
        name = item.get("name")
        here = parents + ([name] if name else [])
        if kind == "use":
            if inner.get("id") is not None:
                visit(inner["id"], parents)
            return
        if kind != "impl" and item.get("visibility") != "public":
            return
        if kind not in ("module", "impl"):
            span = item.get("span") or {}
            where = "%s:%s" % (span.get("filename"), (span.get("begin") or [0])[0])
            items.append(("::".join(here), kind, "```" in (item.get("docs") or ""), where))
        if kind == "module":
            for child in inner["items"]:
                visit(child, here)
        elif kind in ("struct", "enum", "trait", "union"):
            for child in inner.get("impls", []):
                visit(child, here)
            if kind == "trait":
                for child in inner["items"]:
                    visit(child, here)
        elif kind == "impl" and inner.get("trait") is None and inner.get("blanket_impl") is None:
            for child in inner["items"]:
                visit(child, parents)

    visit(doc["root"], [])
    missing = [i for i in items if not i[2]]
    for name, kind, _, where in missing:
        print(f"{where}: {kind} {name} has no example")
    print(f"{len(items)} public items, {len(items) - len(missing)} with an example")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
