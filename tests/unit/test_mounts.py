from __future__ import annotations

import pytest
from docker.types import Mount
from hypothesis import given
from hypothesis import strategies as st

from dockyard.container.mounts import parse_mount_string, parse_mounts
from dockyard.errors import ContainerSpecError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/data", {"Target": "/data", "Type": "volume", "ReadOnly": False, "Source": None}),
        ("/srv/in:/in", {"Target": "/in", "Source": "/srv/in", "Type": "bind", "ReadOnly": False}),
        ("/srv/in:/in:ro", {"Target": "/in", "Source": "/srv/in", "Type": "bind", "ReadOnly": True}),
        ("/srv/in:/in:rw", {"Target": "/in", "Source": "/srv/in", "Type": "bind", "ReadOnly": False}),
        ("models:/models", {"Target": "/models", "Source": "models", "Type": "volume", "ReadOnly": False}),
        ("models:/models:ro", {"Target": "/models", "Source": "models", "Type": "volume", "ReadOnly": True}),
    ],
)
def test_docker_run_strings(text: str, expected: dict[str, object]) -> None:
    mount = parse_mount_string(text)
    assert {k: mount.to_engine().get(k) for k in expected} == expected


def test_bind_propagation_and_volume_nocopy() -> None:
    assert parse_mount_string("/a:/b:ro,rshared").to_engine()["BindOptions"] == {"Propagation": "rshared"}
    assert parse_mount_string("vol:/b:nocopy").to_engine()["VolumeOptions"] == {"NoCopy": True}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("data", "absolute path inside the container"),
        ("/a:relative", "must be absolute"),
        ("./data:/data", "must be absolute"),
        ("/a:/b:rx", "'rx' is not one of"),
        ("/a:/b:ro:extra", "more than three"),
        ("/a::/b", "empty part"),
        ("bad name!:/b", "neither an absolute host path nor a volume name"),
        ("vol:/b:rshared", "'rshared' is not one of"),
    ],
)
def test_bad_strings_name_the_item_and_the_accepted_forms(text: str, reason: str) -> None:
    with pytest.raises(ContainerSpecError) as info:
        parse_mounts([text])
    message = str(info.value)
    assert repr(text) in message
    assert reason in message
    assert "'/host:/ctr[:ro|rw]'" in message


def test_mount_objects_and_both_dict_spellings() -> None:
    mounts = parse_mounts(
        [
            Mount(target="/m", source="/srv", type="bind"),
            {"Target": "/api", "Source": "vol", "Type": "volume", "ReadOnly": True},
            {"target": "/arg", "source": "/srv", "type": "bind", "read_only": True},
        ]
    )
    assert [m.target for m in mounts] == ["/m", "/api", "/arg"]
    assert mounts[1].read_only is True and mounts[2].read_only is True
    assert mounts[2].type == "bind"


@pytest.mark.parametrize(
    "mount",
    [
        Mount(target="/b", source="/a", type="bind", read_only=True, propagation="rshared"),
        Mount(target="/v", source="vol", no_copy=True, labels={"k": "v"}, driver_config={"Name": "local"}),
        Mount(target="/t", source=None, type="tmpfs", tmpfs_size=1024, tmpfs_mode=0o1777),
        Mount(target="/anon", source=None),
    ],
)
def test_a_docker_mount_survives_the_docker_free_form_and_json(mount: Mount) -> None:
    [parsed] = parse_mounts([mount])
    assert parsed.to_engine() == dict(mount)
    assert Mount(**parsed.to_json()) == mount
    assert parse_mounts([parsed.to_json()]) == [parsed]


def test_options_of_another_mount_type_are_refused() -> None:
    with pytest.raises(ContainerSpecError, match="needs a bind mount"):
        parse_mounts([{"target": "/v", "source": "vol", "propagation": "rshared"}])
    with pytest.raises(ContainerSpecError, match="options of a tmpfs mount"):
        parse_mounts([{"target": "/v", "source": "/a", "type": "bind", "tmpfs_size": 1}])


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ({"source": "/a"}, "no 'target'"),
        ({"target": "/a", "sauce": "/b"}, "unknown key(s) 'sauce'"),
        ({"target": "rel", "source": "/b", "type": "bind"}, "must be an absolute path"),
        ({"target": "/a", "source": "vol", "type": "bind"}, "needs an absolute host path"),
        ({"target": "/a", "source": "/b", "type": "nfs"}, "the type 'nfs' is not one of"),
        (42, "a int is not a mount"),
    ],
)
def test_bad_items(item: object, reason: str) -> None:
    with pytest.raises(ContainerSpecError, match="Accepted forms") as info:
        parse_mounts([item])
    assert reason in str(info.value)


def test_a_single_string_instead_of_a_list_is_refused() -> None:
    with pytest.raises(ContainerSpecError, match="must be a list of mounts"):
        parse_mounts("/a:/b")  # type: ignore[arg-type]


def test_the_same_target_twice_is_refused() -> None:
    with pytest.raises(ContainerSpecError, match="'/b' is mounted twice"):
        parse_mounts(["/a:/b", "vol:/b"])


segment = st.text(alphabet="abcdefghij_-0123456789", min_size=1, max_size=8).filter(lambda s: s[0].isalnum())


@given(
    host=st.lists(segment, min_size=1, max_size=3),
    ctr=st.lists(segment, min_size=1, max_size=3),
    mode=st.sampled_from(["", ":ro", ":rw"]),
)
def test_any_absolute_bind_round_trips(host: list[str], ctr: list[str], mode: str) -> None:
    source, target = "/" + "/".join(host), "/" + "/".join(ctr)
    mount = parse_mount_string(f"{source}:{target}{mode}")
    assert (mount.source, mount.target, mount.read_only) == (source, target, mode == ":ro")
