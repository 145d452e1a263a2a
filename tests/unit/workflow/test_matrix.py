"""Matrix expansion, on the examples of GitHub's "Using a matrix for your jobs"."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cairn.workflow import MatrixError, expand_matrix
from cairn.workflow.matrix import same_value


def test_cartesian_product_first_key_varies_slowest() -> None:
    combos = expand_matrix({"os": ["ubuntu-22.04", "ubuntu-20.04"], "version": [10, 12, 14]})
    assert combos == [
        {"os": "ubuntu-22.04", "version": 10},
        {"os": "ubuntu-22.04", "version": 12},
        {"os": "ubuntu-22.04", "version": 14},
        {"os": "ubuntu-20.04", "version": 10},
        {"os": "ubuntu-20.04", "version": 12},
        {"os": "ubuntu-20.04", "version": 14},
    ]


def test_documented_include_rules() -> None:
    combos = expand_matrix(
        {
            "fruit": ["apple", "pear"],
            "animal": ["cat", "dog"],
            "include": [
                {"color": "green"},
                {"color": "pink", "animal": "cat"},
                {"fruit": "apple", "shape": "circle"},
                {"fruit": "banana"},
                {"fruit": "banana", "animal": "cat"},
            ],
        }
    )
    assert combos == [
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"},
    ]


def test_documented_expanding_configurations() -> None:
    combos = expand_matrix(
        {
            "os": ["windows-latest", "ubuntu-latest"],
            "node": [14, 16],
            "include": [{"os": "windows-latest", "node": 16, "npm": 6}],
        }
    )
    assert len(combos) == 4
    assert combos[1] == {"os": "windows-latest", "node": 16, "npm": 6}
    assert all("npm" not in c for i, c in enumerate(combos) if i != 1)


def test_documented_adding_configurations() -> None:
    combos = expand_matrix(
        {
            "os": ["macos-latest", "windows-latest", "ubuntu-latest"],
            "version": [12, 14, 16],
            "include": [{"os": "windows-latest", "version": 17}],
        }
    )
    assert len(combos) == 10
    assert combos[-1] == {"os": "windows-latest", "version": 17}


def test_documented_include_only_matrix() -> None:
    combos = expand_matrix(
        {
            "include": [
                {"site": "production", "datacenter": "site-a"},
                {"site": "staging", "datacenter": "site-b"},
            ]
        }
    )
    assert combos == [
        {"site": "production", "datacenter": "site-a"},
        {"site": "staging", "datacenter": "site-b"},
    ]


def test_documented_exclude_with_partial_entries() -> None:
    combos = expand_matrix(
        {
            "os": ["macos-latest", "windows-latest"],
            "version": [12, 14, 16],
            "environment": ["staging", "production"],
            "exclude": [
                {"os": "macos-latest", "version": 12, "environment": "production"},
                {"os": "windows-latest", "version": 16},
            ],
        }
    )
    assert len(combos) == 9
    assert {"os": "macos-latest", "version": 12, "environment": "production"} not in combos
    assert not any(c["os"] == "windows-latest" and c["version"] == 16 for c in combos)


def test_exclude_is_applied_before_include() -> None:
    combos = expand_matrix(
        {
            "os": ["linux", "windows"],
            "exclude": [{"os": "windows"}],
            "include": [{"os": "windows", "experimental": True}],
        }
    )
    # the include entry cannot join the excluded combination: it is a new one
    assert combos == [{"os": "linux"}, {"os": "windows", "experimental": True}]


def test_values_may_be_objects_and_match_deeply() -> None:
    combos = expand_matrix(
        {
            "node": [{"version": 18, "lts": True}, {"version": 21, "lts": False}],
            "exclude": [{"node": {"version": 21, "lts": False}}],
        }
    )
    assert combos == [{"node": {"version": 18, "lts": True}}]


def test_booleans_and_numbers_are_different_values() -> None:
    assert not same_value(True, 1)
    assert not same_value(0, False)
    assert same_value(3, 3.0)
    assert not same_value("3", 3)
    combos = expand_matrix({"flag": [True, 1], "exclude": [{"flag": 1}]})
    assert combos == [{"flag": True}]


def test_the_256_combination_limit() -> None:
    assert len(expand_matrix({"a": list(range(16)), "b": list(range(16))})) == 256
    with pytest.raises(MatrixError, match="257 combinations; GitHub allows at most 256"):
        expand_matrix({"a": list(range(16)), "b": list(range(16)), "include": [{"a": 99}]})
    with pytest.raises(MatrixError, match="before 'exclude'"):
        expand_matrix({f"k{i}": list(range(10)) for i in range(8)})


@pytest.mark.parametrize(
    ("matrix", "message"),
    [
        ({}, "at least one dimension or an 'include'"),
        ({"os": []}, "'os' must have at least one value"),
        ({"os": "ubuntu"}, "'os' must be a list of values, not the string 'ubuntu'"),
        ({"os": "${{ fromJSON(x) }}"}, "unevaluated expression"),
        ({"os": ["a"], "include": {"os": "b"}}, "'include' must be a list of mappings"),
        ({"os": ["a"], "exclude": ["b"]}, "exclude[0] must be a mapping"),
        ({"os": ["a"], "exclude": [{"arch": "x64"}]}, "exclude key 'arch' does not match any key"),
        ({"os": ["a"], "exclude": [{"os": "a"}]}, "no combinations left"),
        ({"os": ["a"], "include": [{}]}, "include[0] must not be empty"),
        (["a"], "must be a mapping"),
    ],
)
def test_malformed_matrices(matrix: object, message: str) -> None:
    with pytest.raises(MatrixError, match=message.replace("(", r"\(").replace("[", r"\[")):
        expand_matrix(matrix)  # type: ignore[arg-type]


_values = st.one_of(st.integers(-3, 3), st.sampled_from(["a", "b", "c"]), st.booleans())
_dimensions = st.dictionaries(
    st.sampled_from(["os", "py", "arch"]),
    st.lists(_values, min_size=1, max_size=3, unique=True),
    min_size=1,
)


@settings(max_examples=60, deadline=None)
@given(dims=_dimensions, data=st.data())
def test_expansion_properties(dims: dict[str, list[object]], data: st.DataObject) -> None:
    keys = list(dims)
    exclude = data.draw(
        st.lists(st.fixed_dictionaries({k: st.sampled_from(dims[k]) for k in keys[:1]}), max_size=2)
    )
    include = data.draw(
        st.lists(
            st.fixed_dictionaries(
                {keys[0]: st.sampled_from([*dims[keys[0]], "new"]), "extra": st.integers(0, 9)}
            ),
            max_size=3,
        )
    )
    product = [dict(zip(keys, values, strict=True)) for values in itertools.product(*dims.values())]
    kept = [
        c
        for c in product
        if not any(all(same_value(c[k], v) for k, v in e.items()) for e in exclude)
    ]
    unmatched = [e for e in include if not any(same_value(c[keys[0]], e[keys[0]]) for c in kept)]
    expected_count = len(kept) + len(unmatched)
    try:
        combos = expand_matrix({**dims, "exclude": exclude, "include": include})
    except MatrixError as exc:
        assert expected_count == 0
        assert "no combinations" in str(exc)
        return
    assert len(combos) == expected_count
    # original values are never overwritten by include
    for original, combo in zip(kept, combos, strict=False):
        assert all(same_value(combo[k], original[k]) for k in keys)
    # every surviving original combination is excluded by no entry
    for combo in combos[: len(kept)]:
        assert not any(all(same_value(combo[k], v) for k, v in e.items()) for e in exclude)
