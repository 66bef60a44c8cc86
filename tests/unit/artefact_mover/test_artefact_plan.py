"""The artefact mover's pure planning: layouts, self-move refusal, per-object decisions, build retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.artefact_mover.models import ArtefactMoverInput, Layout, Marker, Place, Retention, render
from functions.artefact_mover.plan import (
    BuildView,
    ObjectView,
    Transfer,
    build_values,
    builds_of,
    natural_key,
    plan_retention,
    plan_transfer,
    resolve_transfer,
    undeclared,
)
from shared.errors import InputError
from shared.inputs import parse_input

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
segment = st.text(alphabet="abcxyz019-_.", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
rel_key = st.lists(segment, min_size=1, max_size=3).map("/".join)


def params(**kw: Any) -> ArtefactMoverInput:
    return parse_input(kw, ArtefactMoverInput, env={})


def test_default_layout_names_build_and_release() -> None:
    t = resolve_transfer(params(bucket="artefacts", project="web", build="41", version="1.4.0"))
    assert t.source == Place("artefacts", "builds/web/41/")
    assert t.destination == Place("artefacts", "releases/web/1.4.0/")
    assert not t.delete_source
    assert resolve_transfer(
        params(operation="move", bucket="a-b", project="web", build="41", version="v")
    ).delete_source


def test_layouts_are_configuration() -> None:
    layout = {"builds": "ci/{project}/{branch}/{build}/", "releases": "dist/{branch}/{project}/{version}/"}
    p = params(
        bucket="b-1", release_bucket="rel-1", layout=layout, project="api", branch="main", build="7", version="2"
    )
    t = resolve_transfer(p)
    assert (t.source.uri, t.destination.uri) == ("s3://b-1/ci/api/main/7/", "s3://rel-1/dist/main/api/2/")


def test_a_marker_names_the_build_and_the_version_defaults_to_it() -> None:
    p = params(bucket="b-1", marker_key="builds/web/88/_BUILD_COMPLETE")
    t = resolve_transfer(p)
    assert (t.source.prefix, t.destination.prefix) == ("builds/web/88/", "releases/web/88/")
    assert resolve_transfer(p, marker_version="3.0.1").destination.prefix == "releases/web/3.0.1/"
    with pytest.raises(InputError, match="not inside a build"):
        resolve_transfer(params(bucket="b-1", marker_key="elsewhere/_BUILD_COMPLETE"))


def test_a_marker_below_the_root_of_its_build_starts_nothing() -> None:
    with pytest.raises(InputError, match="not at the root of its build"):
        resolve_transfer(params(bucket="b-1", marker_key="builds/web/88/assets/_BUILD_COMPLETE"))


@pytest.mark.parametrize(
    ("source", "destination"),
    [
        ("s3://artefacts/builds/web/1/", {"bucket": "artefacts", "prefix": "builds/web/1/"}),
        ("s3://Artefacts/builds/web/1", "arn:aws:s3:::artefacts/builds/web/1/"),
        ("artefacts/builds/web/1/", " S3://ARTEFACTS/builds/web/1/"),
        ("s3://artefacts/builds/", "s3://artefacts/builds/web/1/"),
        ("s3://artefacts/builds/web/1/", "s3://artefacts/"),
    ],
)
def test_moving_onto_itself_is_refused_however_it_is_spelled(source: Any, destination: Any) -> None:
    with pytest.raises(InputError, match="onto themselves"):
        resolve_transfer(params(operation="move", source=source, destination=destination))


def test_same_prefix_in_another_bucket_is_not_a_self_move() -> None:
    t = resolve_transfer(params(operation="move", source="s3://a-1/x/", destination="s3://a-2/x/"))
    assert (t.source.bucket, t.destination.bucket) == ("a-1", "a-2")


@pytest.mark.parametrize(
    "payload",
    [
        {"layout": {"releases": "builds/{project}/{version}/"}},
        {"layout": {"releases": "builds/{project}/releases/{version}/"}},
        {"destination": "s3://art-1/builds/web/stable/"},
        {"destination": "s3://art-1/builds/other/"},
        {"layout": {"builds": "ci/{project}/b/{branch}/{build}/"}, "destination": "s3://art-1/ci/api/"},
    ],
)
def test_a_release_where_retain_would_take_it_for_a_build_is_refused(payload: dict[str, Any]) -> None:
    """Under the builds layout of the builds bucket, a release would be archived or deleted by the next retain."""
    build = {"bucket": "art-1", "project": "web", "branch": "main", "build": "12", "version": "1.2"}
    with pytest.raises(InputError, match=r"inside layout\.builds"):
        params(operation="move", **build, **payload)
    elsewhere = {k: v.replace("art-1", "rel-1") if isinstance(v, str) else v for k, v in payload.items()}
    t = resolve_transfer(params(operation="move", **build, **elsewhere, release_bucket="rel-1"))
    assert t.destination.bucket == "rel-1"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("source", "s3://b-1//x/"),
        ("source", "s3://b-1/a/./x/"),
        ("source", "s3://b-1/a/../x/"),
        ("destination", {"bucket": "b-1", "prefix": "/x/"}),
        ("project", "a/b"),
        ("version", ".."),
        ("bucket", "No_Such!"),
        ("layout", {"builds": "builds/{project}/"}),
        ("layout", {"builds": "builds/x{project}/{build}/"}),
        ("layout", {"archive": "old/{version}/"}),
    ],
)
def test_ambiguous_or_invalid_input_is_refused_naming_the_field(field: str, value: Any) -> None:
    base: dict[str, Any] = {"source": "s3://b-1/s/", "destination": "s3://b-1/d/"}
    with pytest.raises(InputError, match=field):
        params(**(base | {field: value}))


def test_operations_need_their_places() -> None:
    with pytest.raises(InputError, match="promote needs source"):
        params()
    with pytest.raises(InputError, match="version is needed"):
        resolve_transfer(params(bucket="b-1", project="p", build="1"))
    with pytest.raises(InputError, match="accounts"):
        params(bucket="b-1", accounts=[{"account_id": "111111111111", "role": "r"}])


@given(project=segment, branch=segment, build=segment, rest=rel_key)
def test_rendered_build_prefixes_parse_back(project: str, branch: str, build: str, rest: str) -> None:
    layout = Layout(builds="ci/{project}/b/{branch}/{build}/")
    prefix = render(layout.builds, {"project": project, "branch": branch, "build": build})
    assert build_values(layout, prefix + rest) == {
        "prefix": prefix,
        "project": project,
        "branch": branch,
        "build": build,
    }


def _obj(key: str, size: int = 1, age_h: float = 100) -> ObjectView:
    return ObjectView(
        key=key, size=size, etag=f'"{abs(hash(key)) % 10**8:032d}"', last_modified=NOW - timedelta(hours=age_h)
    )


@settings(max_examples=150, deadline=None)  # time is for bench/, not for a loaded test machine
@given(
    rels=st.sets(rel_key, max_size=25),
    present=st.sets(rel_key, max_size=25),
    src=st.sampled_from(["b/1/", "a/", "x/y/z/"]),
    dst=st.sampled_from(["r/1/", "c/", "x/y/w/"]),
    same_bucket=st.booleans(),
)
def test_every_source_object_gets_one_decision_and_never_lands_on_itself(
    rels: set[str], present: set[str], src: str, dst: str, same_bucket: bool
) -> None:
    transfer = Transfer(Place("bkt-a", src), Place("bkt-a" if same_bucket else "bkt-b", dst), delete_source=True)
    sources = [_obj(src + r) for r in rels] + [_obj("outside/" + r) for r in rels]
    existing = {dst + r: _obj(dst + r) for r in present}

    decisions = plan_transfer(transfer, sources, existing, "release-manifest.json")

    assert [d.source_key for d in decisions] == sorted(src + r for r in rels)
    for d in decisions:
        assert d.dest_key == dst + d.source_key[len(src) :]
        assert not (same_bucket and d.dest_key == d.source_key)
        if d.dest_key == dst + "release-manifest.json":
            assert d.action == "skip"
        else:
            assert d.action == ("check" if d.dest_key in existing else "copy")
    assert decisions == plan_transfer(transfer, list(reversed(sources)), existing, "release-manifest.json")


def test_a_transfer_onto_itself_skips_every_object() -> None:
    transfer = Transfer(Place("bkt-a", "p/"), Place("bkt-a", "p/"), delete_source=True)
    decisions = plan_transfer(transfer, [_obj("p/a"), _obj("p/b")], {}, "m.json")
    assert {(d.action, d.reason) for d in decisions} == {("skip", "destination is the source")}


def test_builds_group_objects_and_ignore_strays() -> None:
    layout = Layout()
    objs = [_obj("builds/web/1/a", 3, 50), _obj("builds/web/1/b/c", 4, 10), _obj("builds/web/"), _obj("other/x")]
    (build,) = builds_of(objs, layout)
    assert (build.project, build.build, build.prefix, build.objects, build.bytes) == ("web", "1", "builds/web/1/", 2, 7)
    assert build.newest == NOW - timedelta(hours=10)


def test_build_ids_sort_naturally() -> None:
    assert sorted(["10", "9", "build-10", "build-9"], key=natural_key) == ["9", "10", "build-9", "build-10"]


build_st = st.builds(
    lambda project, branch, build, age: BuildView(
        project, branch, build, f"builds/{project}/{branch}/{build}/", NOW - timedelta(hours=age), 1, 1
    ),
    project=st.sampled_from(["web", "api"]),
    branch=st.sampled_from(["main", "dev"]),
    build=st.integers(1, 60).map(str),
    age=st.floats(0, 2000),
)


@settings(max_examples=200)
@given(
    builds=st.lists(build_st, max_size=40, unique_by=lambda b: b.prefix),
    keep=st.integers(1, 6),
    min_age=st.sampled_from([0, 24, 100]),
    action=st.sampled_from(["archive", "delete"]),
)
def test_retention_keeps_the_newest_of_each_line_and_is_stable(
    builds: list[BuildView], keep: int, min_age: float, action: str
) -> None:
    retention = Retention(keep_last=keep, min_age_hours=min_age, action=action)  # type: ignore[arg-type]
    decisions = plan_retention(builds, retention, NOW)

    assert sorted(d.build.prefix for d in decisions) == sorted(b.prefix for b in builds)
    for line in {(b.project, b.branch) for b in builds}:
        mine = [d for d in decisions if (d.build.project, d.build.branch) == line]
        newest = sorted(mine, key=lambda d: (d.build.newest, natural_key(d.build.build)), reverse=True)
        assert all(d.action == "keep" for d in newest[:keep])
        for d in mine:
            assert d.action in ("keep", action)
            if d.action != "keep":
                assert d.build.newest <= NOW - timedelta(hours=min_age)
                assert d.build not in [n.build for n in newest[:keep]]
    kept = [d.build for d in decisions if d.action == "keep"]
    assert all(d.action == "keep" for d in plan_retention(kept, retention, NOW))
    again = plan_retention(list(reversed(builds)), retention, NOW)
    assert sorted(again, key=lambda d: d.build.prefix) == sorted(decisions, key=lambda d: d.build.prefix)


def test_retention_reasons_and_project_selection() -> None:
    old = [BuildView("web", None, str(n), f"builds/web/{n}/", NOW - timedelta(days=30 - n), 1, 1) for n in range(1, 5)]
    other = BuildView("api", None, "1", "builds/api/1/", NOW - timedelta(days=90), 1, 1)
    decisions = plan_retention([*old, other], Retention(keep_last=2, projects=["web"]), NOW)
    got = {d.build.prefix: (d.action, d.reason) for d in decisions}
    assert got["builds/web/4/"] == ("keep", "one of the newest 2 of web")
    assert got["builds/web/1/"] == ("archive", "older than the newest 2 of web")
    assert got["builds/api/1/"] == ("keep", "project not selected")


names = st.sets(rel_key, max_size=8)


@settings(max_examples=200, deadline=None)
@given(there=names, listed=st.none() | names, count=st.none() | st.integers(min_value=0, max_value=10))
def test_a_build_is_complete_exactly_when_it_is_what_its_marker_declares(
    there: set[str], listed: set[str] | None, count: int | None
) -> None:
    prefix, marker_key = "builds/web/1/", "builds/web/1/_BUILD_COMPLETE"
    at = datetime(2025, 1, 1, tzinfo=UTC)
    objects = [ObjectView(prefix + k, 1, '"e"', at) for k in there] + [ObjectView(marker_key, 0, '"m"', at)]
    objects.append(ObjectView("builds/web/10/other", 1, '"e"', at))  # another build is not this one
    marker = Marker(files=sorted(listed) if listed is not None else None, file_count=count)

    why = undeclared(objects, prefix, marker_key, marker)

    complete = (listed is None or listed == there) and (count is None or count == len(there))
    assert (why is None) == complete
    if listed is not None and listed - there:
        assert why is not None
        assert "not there" in why


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        ({"file_count": "3"}, "file_count"),
        ({"file_count": -1}, "file_count"),
        ({"file_count": True}, "file_count"),
        ({"files": ["/abs"]}, "files"),
        ({"files": [""]}, "files"),
        ({"version": 3}, "version"),
        ({"version": "a/b"}, "version"),
    ],
)
def test_a_marker_declaring_nonsense_is_refused(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Marker.model_validate(doc)
    assert Marker.model_validate({"version": "1.2", "commit": "abc", "files": ["a/b.txt"]}).files == ["a/b.txt"]
